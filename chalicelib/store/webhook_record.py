"""A webhook as the table keeps it and the contract shows it (sections 2 and 17), the attributes of
its two items (the webhook item, ``WH#<webhookID>``, and its owner's listing), and the listing as
the fan-out reads it (:class:`Listing`)."""

import hashlib
import json
from dataclasses import dataclass, field, replace

from chalicelib.catalog import ALL_TYPES, level_types
from chalicelib.store import table

OWNER_FIELD = {"event": "eventID", "company": "companyID"}
ERASURE_MARK = "erased:"  # an item attribute ``erased:<personID>``: when that person was erased (ms)


def takes(types, level, type_name):
    """Whether a webhook of ``level`` with ``types`` takes ``type_name``: named, or through ``*``
    (every type of its level, those the catalog gains later too)."""
    if types == (ALL_TYPES,):
        return type_name in level_types(level)
    return type_name in types


def effective_types(types, level):
    """The types a webhook takes, in catalog order: ``*`` stands for every type of its level."""
    return level_types(level) if types == (ALL_TYPES,) else types


@dataclass(frozen=True)
class Webhook:
    """A registered endpoint. ``level`` is ``event`` or ``company`` and ``owner_id`` that event's
    or company's ID. ``types`` are the catalog types it takes, in catalog order, or ``("*",)``.
    ``secrets`` are its signing secrets, newest first; the one before the newest still signs
    until ``previous_secret_until`` (Unix seconds), after a rotation. ``normal_url`` is the url in
    the one form that uniqueness compares. ``headers`` are the receiver's own, ``((name, value),
    ...)``; their values are secrets, kept in the webhook item only. ``rate_limit`` is attempts a
    second (None: no limit); ``filter`` maps ID fields to the IDs that get through (None:
    everything does). ``delivery`` is ``push`` (POSTed to ``url``) or ``pull`` (no url: its messages
    are read with webhook.poll; ``cursor_key`` signs its cursors). ``description`` is the owner's
    own words for it (``""``: none). ``template`` shapes its deliveries' bodies
    (chalicelib.templates, contract section 21), kept as given, or None.
    ``signature`` is how its deliveries are signed (section 19): ``hmac`` with ``whsec_`` secrets,
    or ``ed25519`` with ``whsk_`` private keys, whose ``public_keys`` (``whpk_``, newest first, one
    for each of ``secrets``) are public. ``auth`` is the OAuth 2.0 client that gets the access
    token its endpoint asks for (section 20), or None. All of these are kept in the webhook item
    only: the owner's listing, read by every fan-out, holds what a fan-out needs
    (:class:`Listing`). ``legacy_listing``: stored as the first rounds stored webhooks (one type,
    listed by type and url), until its next update."""

    webhook_id: str
    level: str
    owner_id: str
    types: tuple
    url: str | None
    normal_url: str | None
    date: str
    status: str
    secrets: tuple
    previous_secret_until: int = 0
    failing_since_ms: int | None = None  # when its current run of failures began
    disabled_reason: str | None = None  # why the service disabled it, if it did
    held_since_ms: int | None = None  # since when it is held to its share (chalicelib.delivery.admission)
    held_reason: str | None = None  # why: slow or failing, as its attempts showed
    held_attempt_ms: int | None = None  # how long its attempts took when it was marked
    headers: tuple = ()
    rate_limit: int | None = None
    filter: dict | None = None
    delivery: str = "push"
    cursor_key: str | None = None
    legacy_listing: bool = False
    template: dict | None = None
    signature: str = "hmac"
    public_keys: tuple = ()
    auth: "EndpointAuth | None" = None
    description: str = ""
    erased_ms: dict = field(default_factory=dict)  # personID: when an erasure of them was asked for (ms)

    def signing_secrets(self, now):
        """The secrets a delivery made at ``now`` is signed with, newest first."""
        if len(self.secrets) > 1 and now < self.previous_secret_until:
            return self.secrets[:2]
        return self.secrets[:1]

    def as_of(self, now):
        """The webhook as it stands at ``now``: a rotated-out secret or key whose overlap has
        ended is left out (whether or not its item has been cleaned yet)."""
        if now < self.previous_secret_until or (len(self.secrets) < 2 and len(self.public_keys) < 2):
            return self
        return replace(self, secrets=self.secrets[:1], public_keys=self.public_keys[:1], previous_secret_until=0)

    @property
    def owner_field(self):
        return OWNER_FIELD[self.level]

    @property
    def type(self):
        """The webhook's type when it takes exactly one, else None (section 17)."""
        return self.types[0] if len(self.types) == 1 and self.types[0] != ALL_TYPES else None

    def takes(self, type_name):
        return takes(self.types, self.level, type_name)

    def effective_types(self):
        return effective_types(self.types, self.level)

    @classmethod
    def from_item(cls, item):
        level = "company" if "companyID" in item else "event"
        return cls(
            webhook_id=item["webhookID"],
            level=level,
            owner_id=item[OWNER_FIELD[level]],
            # A webhook stored before section 17 has its one type, and is listed the old way.
            types=tuple(item["types"]) if "types" in item else (item["type"],),
            url=item.get("url"),
            normal_url=item.get("normalUrl", item.get("url")),
            date=item["date"],
            status=item["status"],
            secrets=tuple(item.get("secrets", ())),
            previous_secret_until=int(item.get("previousSecretUntil", 0)),
            failing_since_ms=None if item.get("failingSince") is None else int(item["failingSince"]),
            disabled_reason=item.get("disabledReason"),
            held_since_ms=_int_or_none(item.get("heldSince")),
            held_reason=item.get("heldReason"),
            held_attempt_ms=_int_or_none(item.get("heldAttemptMs")),
            # The webhook item keeps [name, value] pairs; a listing of the first rounds, the names only.
            headers=tuple((h, None) if isinstance(h, str) else (h[0], h[1]) for h in item.get("headers", ())),
            rate_limit=None if item.get("rateLimit") is None else int(item["rateLimit"]),
            filter=item.get("filter") or None,
            delivery=item.get("delivery", "push"),
            cursor_key=item.get("cursorKey"),
            legacy_listing="types" not in item,
            template=item.get("template"),
            signature=item.get("signature", "hmac"),
            public_keys=tuple(key for key in (item.get("publicKey"), item.get("previousPublicKey")) if key),
            auth=EndpointAuth.from_stored(item.get("auth")),
            description=item.get("description", ""),
            erased_ms={name[len(ERASURE_MARK):]: int(value) for name, value in item.items()
                       if name.startswith(ERASURE_MARK)},
        )

    def public(self):
        """The webhook object of the contract (sections 2 and 17): never the secret."""
        return {
            "webhookID": self.webhook_id,
            self.owner_field: self.owner_id,
            "type": self.type,
            "types": list(self.types),
            "url": self.url,
            "delivery": self.delivery,
            "date": self.date,
            "status": self.status,
            "headers": [name for name, _ in self.headers],
            "rateLimit": self.rate_limit,
            "filter": self.filter,
            "signature": self.signature,
            "publicKey": self.public_keys[0] if self.public_keys else None,
            "previousPublicKey": self.public_keys[1] if len(self.public_keys) > 1 else None,
            "auth": None if self.auth is None else self.auth.public(),
            "description": self.description,
        }

    def item_attributes(self):
        """The webhook item's attributes: the object, the normal url, the secrets, the headers'
        values, the template, the OAuth client's secret and the cursor key (and, while a
        rotated-out public key is shown, until when)."""
        overlap = self.previous_secret_until if len(self.public_keys) > 1 else None
        return table.serialize({**self.public(), "normalUrl": self.normal_url, "previousSecretUntil": overlap,
                                "secrets": list(self.secrets),
                                "headers": [[name, value] for name, value in self.headers],
                                "template": self.template, "auth": None if self.auth is None else self.auth.stored(),
                                "cursorKey": self.cursor_key})

    def listing_attributes(self):
        """The owner's listing item's attributes: a :class:`Listing`."""
        listed = {"webhookID": self.webhook_id, "types": ",".join(self.types), "status": self.status,
                  "delivery": "pull" if self.delivery == "pull" else None}
        if self.filter:
            listed["filterJson"] = json.dumps(self.filter, ensure_ascii=False, separators=(",", ":"))
        return table.serialize(listed)

    def listing_key(self):
        """The key of the owner's listing item (where the first rounds put it, for a webhook of then)."""
        if self.legacy_listing:
            return table.legacy_listing_key(self.level, self.owner_id, self.types[0], self.normal_url)
        return table.listing_key(self.level, self.owner_id, self.webhook_id)


@dataclass(frozen=True)
class Listing:
    """What the owner's listing holds of a live webhook: what a fan-out needs to choose it and
    nothing more (its url, headers and secrets stay in the webhook item), so that an owner's
    200 webhooks fit one Query page whatever their size. ``webhook.find`` reads the webhook items
    of the listings it finds."""

    webhook_id: str
    level: str
    owner_id: str
    types: tuple
    status: str
    filter: dict | None = None
    delivery: str = "push"

    def takes(self, type_name):
        return takes(self.types, self.level, type_name)

    @classmethod
    def from_item(cls, item, level, owner_id):
        """A listing item as :meth:`Webhook.listing_attributes` writes it, or as the first rounds
        wrote it (the whole webhook object, under its type and url)."""
        if item["sk"].startswith(table.LISTING_PREFIX):
            types = tuple(item["types"].split(","))
            filter = json.loads(item["filterJson"]) if "filterJson" in item else None
        else:
            types, filter = (item["type"],), item.get("filter") or None
        return cls(item["webhookID"], level, owner_id, types, item["status"], filter, item.get("delivery", "push"))


def _int_or_none(value):
    return None if value is None else int(value)


@dataclass(frozen=True)
class EndpointAuth:
    """The OAuth 2.0 client with which the service gets the access token that a webhook's
    endpoint asks for (contract, section 20): the client-credentials grant at ``token_url``.
    ``client_secret`` is kept in the webhook item only; ``scope`` is None when not asked for."""

    token_url: str
    client_id: str
    client_secret: str | None
    scope: str | None = None
    type: str = "oauth2"

    def public(self):
        """As the webhook object shows it: never the client secret."""
        return {"type": self.type, "tokenUrl": self.token_url, "clientID": self.client_id, "scope": self.scope}

    def stored(self):
        """As the webhook item keeps it."""
        return {**self.public(), "clientSecret": self.client_secret}

    def fingerprint(self):
        """A digest of everything a token request uses: a token got with other settings is not reused."""
        return hashlib.sha256(json.dumps(self.stored(), sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_stored(cls, value):
        if not value:
            return None
        return cls(token_url=value["tokenUrl"], client_id=value["clientID"], client_secret=value.get("clientSecret"),
                   scope=value.get("scope"), type=value.get("type", "oauth2"))

"""A webhook as the table keeps it and the contract shows it (section 2), and the attributes of
its two items: the webhook item (``WH#<webhookID>``) and its owner's listing."""

import hashlib
import json
from dataclasses import dataclass, field, replace

from chalicelib.store import table

OWNER_FIELD = {"event": "eventID", "company": "companyID"}
ERASURE_MARK = "erased:"  # an item attribute ``erased:<personID>``: when that person was erased (ms)


@dataclass(frozen=True)
class Webhook:
    """A registered endpoint. ``level`` is ``event`` or ``company`` and ``owner_id`` that event's
    or company's ID. ``secrets`` are its signing secrets, newest first; the one before the newest
    still signs until ``previous_secret_until`` (Unix seconds), after a rotation.
    ``normal_url`` is the url in the one form that uniqueness compares. ``headers`` are the
    receiver's own, ``((name, value), ...)``; their values are secrets, kept in the webhook item
    only (a webhook read from its owner's listing has the names, each with a None value).
    ``rate_limit`` is attempts a second (None: no limit); ``filter`` maps ID fields to the IDs
    that get through (None: everything does). ``description`` is the owner's own words for it
    (``""``: none). ``template`` shapes its deliveries' bodies
    (chalicelib.templates, contract section 21), kept as given, or None; like the headers'
    values it is kept in the webhook item only: the owner's listing, read by every fan-out,
    stays small.
    ``signature`` is how its deliveries are signed (section 19): ``hmac`` with ``whsec_`` secrets,
    or ``ed25519`` with ``whsk_`` private keys, whose ``public_keys`` (``whpk_``, newest first, one
    for each of ``secrets``) are public. ``auth`` is the OAuth 2.0 client that gets the access
    token its endpoint asks for (section 20), or None."""

    webhook_id: str
    level: str
    owner_id: str
    type: str
    url: str
    normal_url: str
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

    @classmethod
    def from_item(cls, item):
        level = "company" if "companyID" in item else "event"
        return cls(
            webhook_id=item["webhookID"],
            level=level,
            owner_id=item[OWNER_FIELD[level]],
            type=item["type"],
            url=item["url"],
            normal_url=item.get("normalUrl", item["url"]),
            date=item["date"],
            status=item["status"],
            secrets=tuple(item.get("secrets", ())),
            previous_secret_until=int(item.get("previousSecretUntil", 0)),
            failing_since_ms=None if item.get("failingSince") is None else int(item["failingSince"]),
            disabled_reason=item.get("disabledReason"),
            held_since_ms=_int_or_none(item.get("heldSince")),
            held_reason=item.get("heldReason"),
            held_attempt_ms=_int_or_none(item.get("heldAttemptMs")),
            # The webhook item keeps [name, value] pairs; a listing, the names only.
            headers=tuple((h, None) if isinstance(h, str) else (h[0], h[1]) for h in item.get("headers", ())),
            rate_limit=None if item.get("rateLimit") is None else int(item["rateLimit"]),
            filter=item.get("filter") or None,
            template=item.get("template"),
            signature=item.get("signature", "hmac"),
            public_keys=tuple(key for key in (item.get("publicKey"), item.get("previousPublicKey")) if key),
            auth=EndpointAuth.from_stored(item.get("auth")),
            description=item.get("description", ""),
            erased_ms={name[len(ERASURE_MARK):]: int(value) for name, value in item.items()
                       if name.startswith(ERASURE_MARK)},
        )

    def public(self):
        """The webhook object of the contract (section 2): never the secret."""
        return {
            "webhookID": self.webhook_id,
            self.owner_field: self.owner_id,
            "type": self.type,
            "url": self.url,
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

    def listing_attributes(self):
        """The owner's listing item's attributes: the webhook object and the normal url (and, while
        a rotated-out public key is shown, until when)."""
        overlap = self.previous_secret_until if len(self.public_keys) > 1 else None
        return table.serialize({**self.public(), "normalUrl": self.normal_url, "previousSecretUntil": overlap})

    def item_attributes(self):
        """The webhook item's attributes: its listing's, with the secrets, the headers' values and
        the template and the OAuth client's secret."""
        return {**self.listing_attributes(), **table.serialize({
            "secrets": list(self.secrets), "headers": [[name, value] for name, value in self.headers],
            "template": self.template, "auth": None if self.auth is None else self.auth.stored()})}

    def listing_key(self):
        """The key of the owner's listing item."""
        return table.listing_key(self.level, self.owner_id, self.type, self.normal_url)


def _int_or_none(value):
    return None if value is None else int(value)


@dataclass(frozen=True)
class EndpointAuth:
    """The OAuth 2.0 client with which the service gets the access token that a webhook's
    endpoint asks for (contract, section 20): the client-credentials grant at ``token_url``.
    ``client_secret`` is kept in the webhook item only (None in a webhook read from its owner's
    listing); ``scope`` is None when not asked for."""

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

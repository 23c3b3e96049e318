"""API tokens and what they may reach, stored as their SHA-256: a copy of the table holds no
usable token.

A revoked token's item is kept a day as a bare mark (its grant removed), then removed by the
table's TTL: so that botocore's retry of a revocation whose answer was lost finds its own mark and
answers as the first try did, where a deleted item would have said "no such token".
"""

import uuid
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.errors import Conflict
from chalicelib.store.table import error_code, get_item, reraise_unavailable, serialize, token_key

MAX_GRANTED = 100  # events plus companies a token may hold (contract, section 10); a device's, pull webhooks
REVOKED_KEPT_SECONDS = 86400


@dataclass(frozen=True)
class Grant:
    """What a token may reach: everything (admin), or the listed events and companies, or (a
    device's token) polling the listed pull webhooks and nothing else.

    A company grant reaches that company's company-level webhooks; event-level webhooks need
    their event granted (contract, section 11). A device's token is section 18's.
    """

    admin: bool
    events: frozenset = frozenset()
    companies: frozenset = frozenset()
    webhooks: frozenset = frozenset()

    def can_access(self, level, owner_id):
        if self.admin:
            return True
        return owner_id in (self.events if level == "event" else self.companies)

    @property
    def device(self):
        """A device's token: it may call webhook.poll on its webhooks, and nothing else."""
        return bool(self.webhooks)

    def may_call(self, method_name):
        return not self.device or method_name == "webhook.poll"

    def can_poll(self, webhook):
        return webhook.webhook_id in self.webhooks if self.device else self.can_access(webhook.level, webhook.owner_id)


class TokenStore:
    """Tokens by hash; handed its DynamoDB client and table."""

    def __init__(self, client, table_name):
        self._db = client
        self._table = table_name

    def put(self, token_hash, grant, date):
        """Store a new token (or one revoked before, given again: the local run's own); raise
        :class:`Conflict` if another grant holds it. A retry of this very write (its answer lost)
        finds the same grant, and succeeds."""
        item = serialize({"admin": grant.admin, "events": sorted(grant.events),
                          "companies": sorted(grant.companies) or None, "webhooks": sorted(grant.webhooks) or None,
                          "date": date})
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**token_key(token_hash), **item},
                ConditionExpression="attribute_not_exists(pk) OR attribute_exists(revokedAt)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            held = exc.response.get("Item", {})
            if {name: value for name, value in held.items() if name not in ("pk", "sk")} != item:
                raise Conflict("that token exists already", field="tokenID") from exc

    def get(self, token_hash):
        """The token's grant, or None for a token that does not exist (or was revoked)."""
        item = get_item(self._db, self._table, token_key(token_hash))
        if item is None or "revokedAt" in item:
            return None
        return Grant(admin=bool(item.get("admin")), events=frozenset(item.get("events", ())),
                     companies=frozenset(item.get("companies", ())), webhooks=frozenset(item.get("webhooks", ())))

    def revoke(self, token_hash, now):
        """Revoke a token at once; False if there was no such token (or it was revoked already)."""
        request_token = uuid.uuid4().hex
        try:
            self._db.update_item(
                TableName=self._table, Key=token_key(token_hash),
                UpdateExpression="SET revokedAt = :now, revokedBy = :by, expiresAt = :expires "
                                 "REMOVE admin, events, companies, webhooks",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(revokedAt) OR revokedBy = :by)",
                ExpressionAttributeValues=serialize({":now": int(now), ":by": request_token,
                                                     ":expires": int(now) + REVOKED_KEPT_SECONDS}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            reraise_unavailable(exc)
        return True

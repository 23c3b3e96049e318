"""API tokens and what they may reach, stored as their SHA-256: a copy of the table holds no
usable token."""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.store.table import get_item, reraise_unavailable, serialize, token_key

MAX_GRANTED = 100  # events plus companies a token may hold (contract, section 10)


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
        item = {"admin": grant.admin, "events": sorted(grant.events), "companies": sorted(grant.companies) or None,
                "webhooks": sorted(grant.webhooks) or None, "date": date}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**token_key(token_hash), **serialize(item)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            reraise_unavailable(exc)

    def get(self, token_hash):
        """The token's grant, or None for a token that does not exist (or was revoked)."""
        item = get_item(self._db, self._table, token_key(token_hash))
        if item is None:
            return None
        return Grant(admin=bool(item.get("admin")), events=frozenset(item.get("events", ())),
                     companies=frozenset(item.get("companies", ())), webhooks=frozenset(item.get("webhooks", ())))

    def delete(self, token_hash):
        """Delete a token; True if it existed."""
        try:
            answer = self._db.delete_item(TableName=self._table, Key=token_key(token_hash), ReturnValues="ALL_OLD")
        except ClientError as exc:
            reraise_unavailable(exc)
        return "Attributes" in answer

"""The ``WH#<id>`` / ``TOKEN`` item of a webhook whose endpoint asks for credentials (see
:mod:`chalicelib.delivery.credentials`): the access token every attempt to it shares, on every
instance, kept as the signing secrets are (in the table, never logged or answered); the lease
of the one attempt that is asking the token endpoint for one; and the last failure, which holds
the next token request back. Each change is one conditional write on the item's ``version``
or the lease's owner, so that racing attempts never both ask."""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.store.table import deserialize, error_code, get_item, reraise_unavailable, serialize

_KEEP_SECONDS = 86400  # the table's TTL deletes the item this long after the token expires or the failure


def token_key(webhook_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": "TOKEN"}}


@dataclass(frozen=True)
class TokenState:
    """The item as read. ``fingerprint`` names the client settings the token (or the failure)
    was got with; times are Unix milliseconds. ``version`` counts the writes (0: no item)."""

    version: int = 0
    fingerprint: str | None = None
    access_token: str | None = None
    expires_ms: int = 0  # when the token stops being used: its expires_in less a margin
    lease_owner: str | None = None
    lease_until_ms: int = 0
    failure: str | None = None  # what the last token request came to, when it failed
    next_request_ms: int = 0  # no token request before then, after a failure

    @classmethod
    def from_item(cls, item):
        if item is None:
            return cls()
        return cls(version=int(item.get("version", 0)), fingerprint=item.get("fingerprint"),
                   access_token=item.get("accessToken"), expires_ms=int(item.get("tokenExpiresAt", 0)),
                   lease_owner=item.get("leaseOwner"), lease_until_ms=int(item.get("leaseUntil", 0)),
                   failure=item.get("failure"), next_request_ms=int(item.get("nextRequestAt", 0)))

    def token_for(self, fingerprint, now_ms):
        """The access token, if it was got with these settings and is still to be used at ``now_ms``."""
        if self.access_token and self.fingerprint == fingerprint and now_ms < self.expires_ms:
            return self.access_token
        return None

    def failed_for(self, fingerprint, now_ms):
        """The last failure, while it holds the next token request back (with these settings)."""
        if self.failure and self.fingerprint == fingerprint and now_ms < self.next_request_ms:
            return self.failure
        return None

    def leased(self, now_ms):
        return self.lease_owner is not None and now_ms < self.lease_until_ms


class TokenItems:
    """The TOKEN items, handed the DynamoDB client and the table name."""

    def __init__(self, client, table_name):
        self._db = client
        self._table = table_name

    def read(self, webhook_id):
        """The webhook's :class:`TokenState` (read consistently)."""
        return TokenState.from_item(get_item(self._db, self._table, token_key(webhook_id)))

    def take_lease(self, webhook_id, read, owner, until_ms):
        """Become the one that asks for a token, until ``until_ms``; False if the item changed
        since ``read`` (someone else took the lease, stored a token or a failure meanwhile)."""
        values = {":owner": owner, ":until": until_ms, ":next": read.version + 1}
        if read.version == 0:
            condition = "attribute_not_exists(version)"
        else:
            condition, values[":version"] = "version = :version", read.version
        return self._write(webhook_id, "SET leaseOwner = :owner, leaseUntil = :until, version = :next", condition,
                           values, ours=lambda item: item.get("leaseOwner") == owner)

    def store(self, webhook_id, owner, fingerprint, access_token, expires_ms):
        """Keep the token got by the lease's ``owner``; False if its lease was taken over meanwhile."""
        return self._write(
            webhook_id,
            "SET accessToken = :token, tokenExpiresAt = :expires, fingerprint = :fingerprint, expiresAt = :ttl, "
            "version = version + :one REMOVE leaseOwner, leaseUntil, failure, nextRequestAt",
            "leaseOwner = :owner",
            {":token": access_token, ":expires": expires_ms, ":fingerprint": fingerprint, ":owner": owner,
             ":ttl": expires_ms // 1000 + _KEEP_SECONDS, ":one": 1},
            ours=lambda item: item.get("accessToken") == access_token)

    def fail(self, webhook_id, owner, fingerprint, failure, next_request_ms):
        """Keep the failure of the lease's ``owner``'s token request: no other before ``next_request_ms``.
        A token the item held is dropped (it was not to be used any more, or a 401 dropped it)."""
        return self._write(
            webhook_id,
            "SET failure = :failure, nextRequestAt = :next, fingerprint = :fingerprint, expiresAt = :ttl, "
            "version = version + :one REMOVE leaseOwner, leaseUntil, accessToken, tokenExpiresAt",
            "leaseOwner = :owner",
            {":failure": failure, ":next": next_request_ms, ":fingerprint": fingerprint, ":owner": owner,
             ":ttl": next_request_ms // 1000 + _KEEP_SECONDS, ":one": 1},
            ours=lambda item: item.get("failure") == failure and item.get("nextRequestAt") == next_request_ms)

    def release(self, webhook_id, owner):
        """End ``owner``'s lease without a token or a failure (its request broke off)."""
        return self._write(webhook_id, "REMOVE leaseOwner, leaseUntil SET version = version + :one",
                           "leaseOwner = :owner", {":owner": owner, ":one": 1})

    def drop(self, webhook_id, access_token):
        """Forget ``access_token`` (the endpoint refused it); nothing if another has replaced it."""
        return self._write(webhook_id, "REMOVE accessToken, tokenExpiresAt SET version = version + :one",
                           "accessToken = :token", {":token": access_token, ":one": 1})

    def _write(self, webhook_id, update, condition, values, ours=None):
        """One conditional UpdateItem; False when its condition failed. ``ours`` tells, from the
        item as it was then, whether this very write was made already: botocore sends a write
        again when its answer was lost, and its second try then meets its first's write, which
        is done, not a conflict (a lease taken by someone else, say)."""
        try:
            self._db.update_item(TableName=self._table, Key=token_key(webhook_id), UpdateExpression=update,
                                 ConditionExpression=condition, ExpressionAttributeValues=serialize(values),
                                 ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return ours is not None and ours(deserialize(exc.response.get("Item", {})))
            reraise_unavailable(exc)
        return True


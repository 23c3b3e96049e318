"""A webhook's own rate limit (contract, section 14): at most ``rateLimit`` attempts a second to
its endpoint, however many workers deliver, kept in the table.

An attempt takes a place in its second's counter, an item per webhook and second (Unix
seconds, by the worker's clock) written by one conditional UpdateItem: ``ADD`` one while the
count is below the limit. A window of ``t`` whole seconds or more touches at most ``t + 1``
such seconds, so at most ``(t + 1) × rateLimit`` attempts start in it. A full second holds the
message back until the next one begins: it goes back on the queue (the worker's admission hook,
chalicelib/delivery/hooks.py), uses no attempt, and keeps its group's order.

Only a rate-limited webhook pays: one write for each attempt, and one for each time a message
finds its second full (a refused conditional write is billed as a write too). The counters
expire by the table's TTL a minute later.
"""

from botocore.exceptions import ClientError

from chalicelib.delivery.hooks import Admission
from chalicelib.store.table import error_code, reraise_unavailable

_KEEP_SECONDS = 60


def counter_key(webhook_id, second):
    return {"pk": {"S": f"RATE#WH#{webhook_id}"}, "sk": {"S": f"SEC#{second}"}}


class WebhookRateLimits(Admission):
    """Admits a rate-limited webhook's attempts while its second has room; every other
    webhook's at once, with no request. Handed its DynamoDB client and table."""

    def __init__(self, client, table_name):
        self._db = client
        self._table = table_name

    def admit(self, webhook, now, batch=None):
        """None when the attempt may start now (its place is taken); else the seconds until the
        next second begins."""
        if not webhook.rate_limit:
            return None
        second = int(now)
        try:
            self._db.update_item(
                TableName=self._table,
                Key=counter_key(webhook.webhook_id, second),
                UpdateExpression="ADD attempts :one SET expiresAt = :expires",
                ConditionExpression="attribute_not_exists(attempts) OR attempts < :limit",
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(webhook.rate_limit)},
                                           ":expires": {"N": str(second + _KEEP_SECONDS)}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            return second + 1 - now
        return None

    def done(self, webhook, attempt, batch=None):
        """Nothing to give back: a place counts as an attempt started, whatever it came to."""

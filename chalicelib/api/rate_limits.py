"""Rate limits shared by every Lambda instance, kept in the table (contract, section 10).

Each limit is a GCRA (the generic cell rate algorithm, a token bucket kept as one number):
an item holds the "theoretical arrival time" ``tat`` of the next request, in microseconds. A
request is allowed when ``tat`` is at most ``burst - 1`` intervals ahead of now, and pushes it
one interval further. DynamoDB update expressions have no ``max``, so the two cases are two
conditional writes: an idle key (``tat`` in the past) restarts from now, a busy one moves on.
A request costs one UpdateItem, two when it finds the other case, and a refused one three.

``webhook.test``'s limit is "at most N a minute" to the letter, which a bucket (N at once, then
one every 60/N seconds) would exceed; it is a sliding window instead: the item keeps the times of
the latest N calls, read and written back conditionally (a GetItem and a PutItem a call, which
a test send, made by hand, can afford).

Each write carries a token of the request (``req``), and a write's condition refuses the
request's own token: when botocore retries a write whose answer was lost, the retry fails
its condition on the item its first try wrote, and the token there says the request was counted
(once) rather than refused or counted again.
"""

import math
import uuid

from botocore.exceptions import ClientError

from chalicelib.errors import RateLimited
from chalicelib.store.table import error_code, get_item, reraise_unavailable, serialize

_MICROS = 1_000_000
_KEEP_SECONDS = 3600  # an idle limit's item is deleted by the table's TTL this long after it is full again


class RateLimiter:
    """Limits by key; handed its DynamoDB client and table."""

    def __init__(self, client, table_name):
        self._db = client
        self._table = table_name

    def take(self, key, per_second, burst, now, what):
        """Count one request for ``key``; raise :class:`RateLimited` (with Retry-After) past the
        limit of ``per_second`` requests a second with bursts of ``burst``. ``what`` names the
        limit in the error message."""
        interval = _MICROS / per_second
        now_us = int(now * _MICROS)
        tolerance = int(interval * (burst - 1))
        step = math.ceil(interval)
        request = uuid.uuid4().hex
        for _ in range(2):  # a key can turn idle or busy between the two writes: look once more
            if self._update(key, "attribute_not_exists(tat) OR tat < :now", "SET tat = :next",
                            {":now": now_us, ":next": now_us + step}, now, request) is None:
                return
            failed = self._update(key, "tat BETWEEN :now AND :limit", "SET tat = tat + :step",
                                  {":now": now_us, ":limit": now_us + tolerance, ":step": step}, now, request)
            if failed is None:
                return
            if failed >= now_us:
                wait = (failed - now_us - tolerance) / _MICROS
                raise RateLimited(f"too many requests: {what}; try again later",
                                  headers={"Retry-After": str(max(1, math.ceil(wait)))})
        raise RateLimited(f"too many requests: {what}; try again later", headers={"Retry-After": "1"})

    def take_within(self, key, limit, window_seconds, now, what):
        """Count one request for ``key``; raise :class:`RateLimited` (with Retry-After) if
        ``limit`` were made in the last ``window_seconds`` already."""
        item_key = {"pk": {"S": f"RATE#{key}"}, "sk": {"S": "RATE"}}
        now_ms, window_ms = int(now * 1000), int(window_seconds * 1000)
        request = uuid.uuid4().hex
        for _ in range(3):  # another call may write between the read and the write: read again
            item = get_item(self._db, self._table, item_key) or {}
            times = sorted(int(t) for t in item.get("times", []) if int(t) > now_ms - window_ms)
            if len(times) >= limit:
                wait = (times[-limit] + window_ms - now_ms) / 1000
                raise RateLimited(f"too many requests: {what}; try again later",
                                  headers={"Retry-After": str(max(1, math.ceil(wait)))})
            version = int(item.get("version", 0))
            record = {"times": times + [now_ms], "version": version + 1, "req": request,
                      "expiresAt": int(now) + int(window_seconds) + _KEEP_SECONDS}
            try:
                self._db.put_item(
                    TableName=self._table, Item={**item_key, **serialize(record)},
                    ConditionExpression="attribute_not_exists(pk) OR version = :version",
                    ExpressionAttributeValues={":version": {"N": str(version)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    reraise_unavailable(exc)
                if exc.response.get("Item", {}).get("req", {}).get("S") == request:
                    return  # this very write, retried after its answer was lost: counted once
        raise RateLimited(f"too many requests: {what}; try again later", headers={"Retry-After": "1"})

    def _update(self, key, condition, update, values, now, request):
        """Apply one conditional update for ``request``; None when it was made (by this call, or by
        its first try whose answer was lost), else the ``tat`` that stopped it."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"RATE#{key}"}, "sk": {"S": "RATE"}},
                UpdateExpression=update + ", expiresAt = :expires, req = :req",
                ConditionExpression=f"({condition}) AND (attribute_not_exists(req) OR req <> :req)",
                ExpressionAttributeValues={
                    **{name: {"N": str(value)} for name, value in values.items()},
                    ":expires": {"N": str(int(now) + _KEEP_SECONDS)},
                    ":req": {"S": request},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            item = exc.response.get("Item") or {}
            if item.get("req", {}).get("S") == request:
                return None
            return int(item.get("tat", {}).get("N", "0"))
        return None

"""The ``WH#<id>`` / ``HOLD`` item of a webhook held to its share (see :mod:`chalicelib.delivery.fair_share`):
its lease slots ``b0``, ``b1``... (each the expiry of a batch's lease) and its ``tail`` of turns,
each changed by one conditional UpdateItem."""

import math
import random
import time

from botocore.exceptions import ClientError

from chalicelib.store.table import error_code, reraise_unavailable

BATCH_SIZE = 10  # messages a batch holds at most (the SQS event source's batch size)
_KEEP_SECONDS = 3600  # the HOLD item is deleted by the table's TTL this long after its last use


def hold_key(webhook_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": "HOLD"}}


class Lease:
    """A batch's lease: its slot, when it ends, how many of the batch's attempts use it, and
    when (monotonic) it was taken."""

    __slots__ = ("slot", "expiry_ms", "users", "made")

    def __init__(self, slot, expiry_ms, made):
        self.slot, self.expiry_ms, self.users, self.made = slot, expiry_ms, 0, made


class HoldItem:
    """The HOLD items, handed the DynamoDB client, the table name, a held webhook's share
    (``batches``) and how long a lease lasts."""

    def __init__(self, client, table_name, batches, lease_ms):
        self._db = client
        self._table = table_name
        self._batches = batches
        self._lease_ms = lease_ms

    def take(self, webhook_id, now_ms):
        """A lease in a free slot, or None when every slot is taken."""
        slots = list(range(self._batches))
        random.shuffle(slots)  # instances that race start at different slots
        tried = set()
        for _ in range(3):
            slot = next(s for s in slots if s not in tried)
            tried.add(slot)
            old = self._update(webhook_id, "SET #slot = :expiry, expiresAt = :keep",
                               "attribute_not_exists(#slot) OR #slot < :now",
                               {"#slot": f"b{slot}"}, {":expiry": now_ms + self._lease_ms, ":now": now_ms,
                                                       ":keep": now_ms // 1000 + _KEEP_SECONDS})
            if old is None:
                return Lease(slot, now_ms + self._lease_ms, time.monotonic())
            free = [s for s in slots if s not in tried and int(old.get(f"b{s}", {}).get("N", "0")) < now_ms]
            if not free:
                return None
            slots = free + [s for s in slots if s not in free]
        return None

    def renew(self, webhook_id, lease, now_ms):
        """Lengthen a lease the batch still uses (a subject's next message); None if it was lost."""
        expiry = now_ms + self._lease_ms
        old = self._update(webhook_id, "SET #slot = :expiry", "#slot = :held", {"#slot": f"b{lease.slot}"},
                           {":expiry": expiry, ":held": lease.expiry_ms})
        if old is not None:
            return None
        return Lease(lease.slot, expiry, lease.made)

    def release(self, webhook_id, lease):
        self._update(webhook_id, "REMOVE #slot", "#slot = :held", {"#slot": f"b{lease.slot}"},
                     {":held": lease.expiry_ms})

    def turn(self, webhook_id, attempt_ms, now_ms, count):
        """Seconds until ``count`` messages turned back now get their turn: the webhook's queue
        of turns moves on by their share of a batch's time (its attempts' time shared among its
        slots), so that the messages coming back in one second fill about one batch a slot."""
        step = max(1, int(attempt_ms) * count // (self._batches * BATCH_SIZE))
        keep = now_ms // 1000 + _KEEP_SECONDS
        for _ in range(3):
            answer = self._update(webhook_id, "SET tail = tail + :step, expiresAt = :keep", "tail >= :now", {},
                                  {":step": step, ":now": now_ms, ":keep": keep}, returned="UPDATED_NEW")
            if "tail" in answer:
                return _seconds(int(answer["tail"]["N"]) - now_ms)
            idle = self._update(webhook_id, "SET tail = :tail, expiresAt = :keep",
                                "attribute_not_exists(tail) OR tail < :now", {},
                                {":tail": now_ms + step, ":now": now_ms, ":keep": keep})
            if idle is None:
                return _seconds(step)
        return _seconds(step)

    def _update(self, webhook_id, expression, condition, names, values, returned=None):
        """One conditional UpdateItem of the HOLD item. With ``returned``, the attributes it
        returns ({} when the condition failed); else None when made, or the item as it was when
        the condition failed."""
        request = {"TableName": self._table, "Key": hold_key(webhook_id), "UpdateExpression": expression,
                   "ConditionExpression": condition,
                   "ExpressionAttributeValues": {name: {"N": str(value)} for name, value in values.items()},
                   "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if names:
            request["ExpressionAttributeNames"] = names
        if returned:
            request["ReturnValues"] = returned
        try:
            answer = self._db.update_item(**request)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            return {} if returned else (exc.response.get("Item") or {})
        return answer.get("Attributes", {}) if returned else None


def _seconds(ms):
    """Whole seconds (SQS counts whole seconds), at least one: a message sent back for less
    would be received again at once."""
    return max(1, math.ceil(ms / 1000))

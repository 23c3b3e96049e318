"""A pull webhook's log (contract, section 18): its messages at positions 1, 2, 3... in the order
they were dispatched to it, numbered with their ``sequence`` the first time a poll returns them;
it is also the webhook's delivery log. The items are listed in ``chalicelib/store/table.py``.

**Positions.** A fan-out puts a message one past the last entry it reads, with a conditional
PutItem (``attribute_not_exists``): when another writer took that position first, it reads the
last entry again and tries the next. So an entry exists at position ``p + 1`` only if one existed
at ``p`` before it was written: the positions that exist are always one unbroken run. A poll
reads the entries after its cursor in order, and one that a slower writer has not written yet
is past every entry the poll can see: it cannot be skipped. (If a read ever showed ``p + 1``
without ``p``, ``p`` was written before ``p + 1`` began, and a second read shows it: a poll
that sees a hole reads once more, and only then takes what is still missing as expired.) A
writer that dies before its PutItem leaves nothing, so nothing waits for it. Each PutItem carries
its writer's token (``putBy``), so botocore's retry of one whose answer was lost finds its own
entry and stops there, rather than putting the message again one further on.

**Numbers.** A message's ``sequence`` (per webhook and subject, section 13) is given when a poll
first returns it, in position order, so the numbers follow the order. The first poll to return
positions past ``returned`` notes the range in the ``PULL`` item (``pendingFrom``, ``pendingTo``),
gives the numbers from the subjects' ``SEQ#`` items, writes those items (each tagged with the
range, and keeping its state before it), then the range's ``POLLED#`` item (the numbers, and when:
the delivery log's one attempt), then moves ``returned``. Every step can be done again with the
same outcome, so a poll that finds a range pending, whether another poll is at it or died at it,
finishes it. A subject's ``SEQ#`` item keeps its latest message IDs: a message put twice (a
fan-out retried after a failure) is numbered once, and its second entry is not a message.
"""

import base64
import binascii
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.delivery.log import DeliveryRecord
from chalicelib.delivery.log_pages import QUERY_ITEMS, READ_ITEMS
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.errors import InvalidParameter, Unavailable
from chalicelib.ids import id_ms
from chalicelib.store.table import (
    POSITION_PREFIX,
    batch_get,
    deserialize,
    entry_key,
    error_code,
    first_return_key,
    get_item,
    late_key,
    position_sk,
    pull_state_key,
    reraise_unavailable,
    sequence_key,
    serialize,
)

DEDUP_KEPT = 8  # a subject's latest messageIDs kept: a message put again after as many others is not seen twice
LATE_AFTER_MS = 30_000  # a message put this long after it was dispatched is found by an index of its own
FIND_WINDOW_MS = 60_000  # how far past a message's time its entry is looked for, by position
_APPEND_TRIES = 60
_MAX_POSITION = 10**12 - 1


@dataclass(frozen=True)
class PullEntry:
    """One entry of a pull webhook's log: the message at ``position``, put at ``claimed_ms``.
    ``skipped``: dispatched while the webhook was disabled (not a message to return); ``erased``:
    about a person erased since (kept empty, so the positions stay one run)."""

    position: int
    message: QueuedMessage
    claimed_ms: int
    expires_at: int
    skipped: bool = False
    erased: bool = False

    @classmethod
    def from_item(cls, item):
        erased = bool(item.get("erased"))
        message = QueuedMessage.from_fields({**item, "subject": item.get("subject", "")},
                                            {} if erased else json.loads(item["dataJson"]), 0)
        return cls(int(item["sk"][len(POSITION_PREFIX):]), message, int(item["claimedAt"]), int(item["expiresAt"]),
                   item.get("status") == "skipped", erased)


@dataclass(frozen=True)
class PullState:
    """How far polls have returned the webhook's messages, and the first return in progress."""

    returned: int = 0
    pending: tuple | None = None  # (from, to)

    @classmethod
    def from_item(cls, item):
        if item is None:
            return cls()
        pending = (int(item["pendingFrom"]), int(item["pendingTo"])) if "pendingFrom" in item else None
        return cls(int(item.get("returned", 0)), pending)


class PullLog:
    """Pull webhooks' logs; handed the DynamoDB client and table."""

    def __init__(self, client, table_name, retention_days=30, clock=time.time):
        self._db = client
        self._table = table_name
        self._retention_seconds = retention_days * 86400
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=10, thread_name_prefix="pull")

    # Writing: the fan-out

    def append_all(self, messages, now, skipped=False):
        """Put each of ``messages`` (of different webhooks) at the end of its webhook's log, up to
        ten at once."""
        list(self._pool.map(lambda message: self.append(message, now, skipped), messages))

    def append(self, message, now, skipped=False):
        """Put ``message`` at the end of its webhook's log; its position. ``skipped``: the webhook
        is disabled (the entry is kept in its delivery log, and never returned).

        The entry carries a token of this call (``putBy``): when botocore sends a PutItem again
        because the first try's answer was lost, the retry finds that try's entry at the
        position, and the call takes it as its own rather than as another writer's (which would
        put the message a second time, one further on)."""
        token = uuid.uuid4().hex
        item = {**message.fields(), "claimedAt": int(now * 1000), "expiresAt": int(now) + self._retention_seconds,
                "status": "skipped" if skipped else None, "putBy": token}
        position = self._last_position(message.webhook_id, consistent=False) + 1
        for attempt in range(_APPEND_TRIES):
            try:
                self._db.put_item(TableName=self._table, Item={**entry_key(message.webhook_id, position),
                                                               **serialize(item)},
                                  ConditionExpression="attribute_not_exists(pk)",
                                  ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    reraise_unavailable(exc)
                if exc.response.get("Item", {}).get("putBy") != {"S": token}:
                    # Another writer took it, so it exists: the next one may be put.
                    position = self._next_try(message.webhook_id, position, attempt)
                    continue
            if now * 1000 - id_ms(message.message_id) > LATE_AFTER_MS:
                self._put(late_key(message.webhook_id, message.message_id),
                          {"position": position, "expiresAt": item["expiresAt"]})
            return position
        raise Unavailable("the webhook's log is busy; try again in a moment")

    def _next_try(self, webhook_id, position, attempt):
        """The position to try after another writer took ``position``: the next one, and every
        other try the end read again (strongly), after a short random pause, to catch up at once."""
        if attempt % 2:
            time.sleep(random.uniform(0, min(0.02, 0.001 * 2 ** attempt)))
            return max(position, self._last_position(webhook_id, consistent=True)) + 1
        return position + 1

    def _last_position(self, webhook_id, consistent):
        """The last entry's position, or, with none kept, the last that any poll returned."""
        answer = self._query(webhook_id, ascending=False, limit=1, consistent=consistent, keys_only=True)
        if answer["Items"]:
            return int(answer["Items"][0]["sk"]["S"][len(POSITION_PREFIX):])
        state = self.state(webhook_id)
        return max(state.returned, state.pending[1] if state.pending else 0)

    # Reading: the polls

    def state(self, webhook_id):
        return PullState.from_item(get_item(self._db, self._table, pull_state_key(webhook_id)))

    def after(self, webhook_id, position, limit, now):
        """Up to ``limit`` entries after ``position``, in order: ``(entries, last position read,
        whether more follow)``. Expired entries are read past, not returned."""
        for _ in range(2):
            answer = self._query(webhook_id, low=position + 1, limit=limit + 1)
            entries = [PullEntry.from_item(deserialize(item)) for item in answer["Items"]]
            positions = [position] + [entry.position for entry in entries]
            if all(b == a + 1 for a, b in zip(positions, positions[1:])):
                break
            # A hole: read again once (see the module's docstring); what is still missing then is gone.
        read = entries[:limit]
        last = read[-1].position if read else position
        return [entry for entry in read if entry.expires_at > now], last, len(entries) > limit

    def number(self, webhook_id, entries, erased, now):
        """The ``sequence`` of each of ``entries`` (0: not a message: skipped, erased, or a message
        put twice) and when it was first returned (ms), by position. A range pending is finished
        and the entries past ``returned`` are numbered now, as this poll first returns them.
        ``erased(message)``: whether a message is about a person erased since it was dispatched."""
        if not entries:
            return {}
        last = entries[-1].position
        state = self.state(webhook_id)
        for _ in range(5):
            if state.pending:
                self._finish(webhook_id, *state.pending, erased, now)
                state = PullState(state.pending[1])
            if last <= state.returned:
                return self.numbers(webhook_id, entries[0].position, last)
            start = state.returned + 1
            try:
                self._db.update_item(
                    TableName=self._table, Key=pull_state_key(webhook_id),
                    UpdateExpression="SET pendingFrom = :from, pendingTo = :to",
                    ConditionExpression="(attribute_not_exists(returned) OR returned = :returned) AND "
                                        "attribute_not_exists(pendingFrom)",
                    ExpressionAttributeValues=serialize({":from": start, ":to": last, ":returned": state.returned}))
                state = PullState(state.returned, (start, last))
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    reraise_unavailable(exc)
                state = self.state(webhook_id)  # another poll got there first: finish what it started
        raise Unavailable("the webhook's log is busy; try again in a moment")

    def _finish(self, webhook_id, start, end, erased, now):
        """Number the entries from ``start`` to ``end`` and move ``returned`` past them (see the
        module's docstring); done again, it does the same."""
        entries = [PullEntry.from_item(deserialize(item))
                   for item in self._query(webhook_id, low=start, high=end, limit=None)["Items"]]
        subjects = {e.message.subject for e in entries if not (e.skipped or e.erased)}
        found = {item["sk"]: item for item in batch_get(self._db, self._table,
                                                        [sequence_key(webhook_id, s) for s in subjects])}
        counters, before = {}, {}
        for subject in subjects:
            item = found.get(sequence_key(webhook_id, subject)["sk"]["S"])
            if item is None:
                before[subject] = (0, [])
            elif int(item.get("batch", -1)) == start:  # written by this very range already: from its state before
                before[subject] = (int(item["prevSequence"]), list(item.get("prevRecent", [])))
            else:
                before[subject] = (int(item["sequence"]), list(item.get("recent", [])))
            counters[subject] = (before[subject][0], list(before[subject][1]))
        at = {entry.position: entry for entry in entries}
        numbers = []
        for position in range(start, end + 1):  # 0 for a position that is not a message (or no longer kept)
            entry = at.get(position)
            if entry is None or entry.skipped or entry.erased or erased(entry.message) or \
                    entry.message.message_id in counters[entry.message.subject][1]:
                numbers.append(0)
                continue
            count, recent = counters[entry.message.subject]
            counters[entry.message.subject] = (count + 1, (recent + [entry.message.message_id])[-DEDUP_KEPT:])
            numbers.append(count + 1)
        list(self._pool.map(lambda s: self._put_counter(webhook_id, s, start, before[s], counters[s]),
                            [s for s in subjects if counters[s] != before[s]]))
        try:
            self._db.put_item(TableName=self._table, ConditionExpression="attribute_not_exists(pk)", Item={
                **first_return_key(webhook_id, start), **serialize({
                    "from": start, "to": end, "at": int(now * 1000), "expiresAt": int(now) + self._retention_seconds,
                    "numbers": ",".join(map(str, numbers))})})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)  # else finished by another poll: its numbers are these
        try:
            self._db.update_item(TableName=self._table, Key=pull_state_key(webhook_id),
                                 UpdateExpression="SET returned = :end REMOVE pendingFrom, pendingTo",
                                 ConditionExpression="pendingFrom = :start",
                                 ExpressionAttributeValues=serialize({":end": end, ":start": start}))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)

    def _put_counter(self, webhook_id, subject, start, before, after):
        """A subject's counter after the range from ``start``, keeping its state ``before`` it."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**sequence_key(webhook_id, subject), **serialize({
                    "sequence": after[0], "recent": after[1], "batch": start, "prevSequence": before[0],
                    "prevRecent": before[1]})},
                ConditionExpression="attribute_not_exists(#sequence) OR #batch = :start OR #sequence = :before",
                ExpressionAttributeNames={"#sequence": "sequence", "#batch": "batch"},
                ExpressionAttributeValues=serialize({":start": start, ":before": before[0]}))
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            raise Unavailable("the webhook's log is busy; try again in a moment") from exc

    def numbers(self, webhook_id, low, high):
        """``{position: (sequence, first returned ms)}`` for the returned positions from ``low`` to
        ``high``, from the first returns that cover them."""
        found = {}
        query = {"TableName": self._table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                 "ExpressionAttributeValues": {":pk": {"S": f"WH#{webhook_id}"}, ":low": {"S": "POLLED#"},
                                               ":high": {"S": f"POLLED#{high:012d}"}},
                 "ScanIndexForward": False, "ConsistentRead": True}
        while True:
            answer = self._call(self._db.query, **query)
            for item in (deserialize(i) for i in answer["Items"]):
                start, at = int(item["from"]), int(item["at"])
                for offset, number in enumerate(item["numbers"].split(",")):
                    if low <= start + offset <= high:
                        found.setdefault(start + offset, (int(number), at))
                if start <= low:
                    return found
            if "LastEvaluatedKey" not in answer:
                return found
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # The delivery log's views

    def records(self, webhook_id, entries, state=None):
        """``entries`` as the delivery log shows them (:class:`DeliveryRecord`): ``pending`` until a
        poll first returns one, then ``delivered`` with one attempt dated then (``statusCode``
        null); ``skipped`` as dispatched. A message put twice, and an erased one, are left out."""
        state = state or self.state(webhook_id)
        returned = [e.position for e in entries if e.position <= state.returned]
        numbers = self.numbers(webhook_id, min(returned), max(returned)) if returned else {}
        shown = []
        for entry in entries:
            if entry.erased:
                continue
            if entry.skipped:
                shown.append(DeliveryRecord(entry.message, "skipped", sk=position_sk(entry.position)))
                continue
            number, at = numbers.get(entry.position, (None, None))
            if number == 0:
                continue
            if number is None:
                shown.append(DeliveryRecord(entry.message, "pending", sk=position_sk(entry.position)))
                continue
            attempt = {"attempt": 1, "date": str(at // 1000), "statusCode": None, "durationMs": 0, "error": None,
                       "response": ""}
            shown.append(DeliveryRecord(entry.message, "delivered", attempts=(attempt,), attempt_count=1,
                                        sequence=number, sk=position_sk(entry.position)))
        return shown

    def page(self, webhook_id, now, status=None, limit=50, cursor=None, type=None, dates=None, max_items=READ_ITEMS):
        """A page of the webhook's delivery log, newest first, filtered as ``webhook.deliveries``
        filters: ``(records, the cursor of the next page, or None)``. As a push webhook's page
        (chalicelib.delivery.log_pages), it reads at most ``max_items`` entries (at least
        ``limit``), whatever the filters match; a page cut short by that bound goes on, with its
        cursor, from the last entry read."""
        records, below = self._page(webhook_id, now, status, limit, _page_position(cursor), type, dates,
                                    max(limit, max_items))
        return records, None if below is None else _page_cursor(below)

    def _page(self, webhook_id, now, status, limit, cursor, type, dates, budget):
        state = self.state(webhook_id)
        if status == "failed":  # a pull message is never failed
            return [], None
        low, high = 1, _MAX_POSITION if cursor is None else cursor - 1
        if status == "pending":
            low = state.returned + 1
        elif status == "delivered":
            high = min(high, state.returned)
        found = []
        while budget > 0:
            if high < low:
                return found, None
            answer = self._query(webhook_id, low=low, high=high, limit=min(budget, max(limit, QUERY_ITEMS)),
                                 ascending=False)
            entries = [PullEntry.from_item(deserialize(item)) for item in answer["Items"]]
            budget -= len(entries)
            kept = [entry for entry in entries if _shown(entry, now, status, type, dates)]
            for record in self.records(webhook_id, kept, state):
                found.append(record)
                if len(found) == limit:
                    position = int(record.sk[len(POSITION_PREFIX):])
                    return found, position if position > low else None
            if not entries or "LastEvaluatedKey" not in answer:
                return found, None
            high = entries[-1].position - 1
        return found, high + 1 if high >= low else None

    def get(self, webhook_id, message_id):
        """The message's :class:`DeliveryRecord` in the webhook's log, or None."""
        entry = self.find(webhook_id, message_id)
        records = self.records(webhook_id, [entry]) if entry is not None else []
        return records[0] if records else None

    def find(self, webhook_id, message_id):
        """The entry of ``message_id``: looked for from the first entry put at the message's time
        (positions are put in time order: a binary search), for a minute, and by the index of
        messages put late; None if it is not there."""
        at = id_ms(message_id)
        first, last = self._end(webhook_id, True), self._end(webhook_id, False)
        if first is None:
            return None
        low, high = first, last
        while low < high:  # the first position put at or after the message's time (less a second of clock skew)
            middle = (low + high) // 2
            item = get_item(self._db, self._table, entry_key(webhook_id, middle))
            if item is not None and int(item["claimedAt"]) >= at - 1000:
                high = middle
            else:
                low = middle + 1
        position = low
        while position <= last:
            answer = self._query(webhook_id, low=position, high=last, limit=100)
            for item in (deserialize(i) for i in answer["Items"]):
                if item["messageID"] == message_id:
                    return PullEntry.from_item(item)
                if int(item["claimedAt"]) > at + FIND_WINDOW_MS:
                    position = last + 1
                    break
                position = int(item["sk"][len(POSITION_PREFIX):]) + 1
            if "LastEvaluatedKey" not in answer:
                break
        index = get_item(self._db, self._table, late_key(webhook_id, message_id))
        if index is not None:
            item = get_item(self._db, self._table, entry_key(webhook_id, int(index["position"])))
            if item is not None and item["messageID"] == message_id:
                return PullEntry.from_item(item)
        return None

    def _end(self, webhook_id, first):
        items = self._query(webhook_id, ascending=first, limit=1, keys_only=True)["Items"]
        return int(items[0]["sk"]["S"][len(POSITION_PREFIX):]) if items else None

    # DynamoDB

    def _query(self, webhook_id, low=1, high=_MAX_POSITION, limit=None, ascending=True, consistent=True,
               keys_only=False):
        """One Query of the entries from ``low`` to ``high`` (all of them when ``limit`` is None)."""
        query = {"TableName": self._table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                 "ExpressionAttributeValues": {":pk": {"S": f"WH#{webhook_id}"}, ":low": {"S": position_sk(low)},
                                               ":high": {"S": position_sk(high)}},
                 "ScanIndexForward": ascending, "ConsistentRead": consistent}
        if keys_only:
            query["ProjectionExpression"] = "sk"
        if limit is not None:
            return self._call(self._db.query, **query, Limit=limit)
        items = []
        while True:
            answer = self._call(self._db.query, **query)
            items += answer["Items"]
            if "LastEvaluatedKey" not in answer:
                return {"Items": items}
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _put(self, key, attributes):
        self._call(self._db.put_item, TableName=self._table, Item={**key, **serialize(attributes)})

    @staticmethod
    def _call(operation, **request):
        try:
            return operation(**request)
        except ClientError as exc:
            reraise_unavailable(exc)


def _shown(entry, now, status, type, dates):
    """Whether ``webhook.deliveries``' filters keep ``entry`` (pending and delivered are told apart
    by position, before)."""
    if entry.expires_at <= now or (type is not None and entry.message.type != type):
        return False
    if status is not None and (status == "skipped") != entry.skipped:
        return False
    low, high = dates or (None, None)
    date = int(entry.message.date)
    return (low is None or date >= low) and (high is None or date <= high)


def _page_cursor(position):
    return base64.urlsafe_b64encode(position_sk(position).encode()).decode().rstrip("=")


def _page_position(cursor):
    """The position a cursor of :meth:`PullLog.page` stands for (None for no cursor)."""
    if cursor is None:
        return None
    refused = InvalidParameter("cursor is not a cursor this method gave", field="cursor")
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise refused from exc
    digits = sk[len(POSITION_PREFIX):]
    if not sk.startswith(POSITION_PREFIX) or len(digits) != 12 or not digits.isdigit():
        raise refused
    return int(digits)

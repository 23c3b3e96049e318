"""The delivery log: each message's state and attempts, one item per webhook and message.

Records are kept for the retention (DynamoDB's TTL removes them) and bounded (contract,
section 10): the latest ``MAX_KEPT_ATTEMPTS`` attempts, in a ring, and the total count.
"""

import json
import uuid
import secrets
import time
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.delivery import log_pages
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.delivery.sender import redacted
from chalicelib.errors import Conflict, Unavailable
from chalicelib.store.table import (
    batch_get,
    batch_put,
    error_code,
    get_item,
    is_transient,
    message_key,
    reraise_unavailable,
    sequence_key,
    serialize,
    webhook_key,
)
from chalicelib.store.webhook_record import Webhook

FINISHED = ("delivered", "failed", "skipped")
_FIRST_PAUSE_SECONDS, _LAST_PAUSE_SECONDS = 0.1, 2.0  # between tries of a record write while DynamoDB is down
STATUSES = ("pending",) + FINISHED
MAX_KEPT_ATTEMPTS = 50


@dataclass(frozen=True)
class FirstAttempt:
    """What a message's first numbered attempt puts in its record: the exact body (kept, so every
    later POST sends the same bytes), its ``sequence``, and the record read before it, if any
    (``earlier``: a skipped message reopened by a replay)."""

    body: str
    sequence: int | None  # None for a test send, which takes no number
    earlier: "DeliveryRecord | None" = None


@dataclass(frozen=True)
class RecordWrite:
    """The conditional write that keeps one attempt: a DynamoDB ``operation`` (``put_item`` or
    ``update_item``), its ``request`` and its ``token``. Plain JSON, so that a write DynamoDB
    would not take in time can be handed to the queue (chalicelib/delivery/queue.py) and made
    later."""

    operation: str
    request: dict
    token: str

    def to_json(self):
        return {"operation": self.operation, "request": self.request, "token": self.token}

    @classmethod
    def from_json(cls, fields):
        return cls(fields["operation"], fields["request"], fields["token"])


@dataclass(frozen=True)
class DeliveryRecord:
    """One message to one webhook as the log keeps it. ``status`` is None for a message that
    has no record yet; ``attempts`` are the latest kept, oldest first."""

    message: QueuedMessage
    status: str | None = None
    attempts: tuple = ()
    attempt_count: int = 0
    attempt_base: int = 0  # attempts made before the latest redelivery: the schedule restarts after them
    redeliveries: int = 0
    next_attempt_ms: int | None = None
    body: str | None = None  # the exact body, once the first attempt numbered it
    sequence: int | None = None
    request_headers: dict | None = None  # what the latest attempt sent
    sent_body: str | None = None  # the body it sent, when a template made it of ``body`` (section 21)
    sk: str = ""

    @classmethod
    def from_item(cls, item):
        message = QueuedMessage.from_fields(item, json.loads(item["dataJson"]), item.get("redeliveries", 0))
        attempts = sorted(item.get("attempts", []), key=lambda a: int(a["attempt"]))
        return cls(
            message=message,
            status=item.get("status"),
            attempts=tuple(attempts),
            attempt_count=int(item.get("attemptCount", 0)),
            attempt_base=int(item.get("attemptBase", 0)),
            redeliveries=int(item.get("redeliveries", 0)),
            next_attempt_ms=None if item.get("nextAttemptAt") is None else int(item["nextAttemptAt"]),
            body=item.get("body"),
            sequence=None if item.get("sequence") is None else int(item["sequence"]),
            request_headers=_headers_from(item.get("requestHeaders")),
            sent_body=item.get("sentBody"),
            sk=item["sk"],
        )


def _headers_text(headers):
    """The headers an attempt sent, kept as one JSON string: they are only ever shown whole, and
    one attribute costs DynamoDB (and the local emulator) less to write than a map of five. The
    receiver's own header values are secrets: they are never kept here, whoever hands them in."""
    return json.dumps(redacted(headers), separators=(",", ":"))


def _headers_from(stored):
    """The headers a record keeps: JSON text, or a map in records kept before (the local run keeps
    its data across versions)."""
    return json.loads(stored) if isinstance(stored, str) else stored


class DeliveryLog:
    """Each message's state and attempts; handed its DynamoDB client and table."""

    def __init__(self, client, table_name, retention_days=30, sleep=time.sleep):
        self._db = client
        self._sleep = sleep
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    def load(self, messages):
        """Everything a batch needs, in one BatchGetItem where possible: the webhooks, the
        messages' records, and the sequence counters of their webhook and subject.

        Returns ``(webhooks, records, counters)``: :class:`Webhook` by webhookID (removed ones
        too, with their status),
        :class:`DeliveryRecord` by (webhookID, messageID), and by (webhookID, subject) the last
        sequence given and the messageID it was given to: ``(number, message_id)``.
        """
        keys = {}
        for m in messages:
            keys[("WH", m.webhook_id)] = webhook_key(m.webhook_id)
            keys[("MSG", m.webhook_id, m.message_id)] = message_key(m.webhook_id, m.message_id)
            keys[("SEQ", m.webhook_id, m.subject)] = sequence_key(m.webhook_id, m.subject)
        subjects = {sequence_key(m.webhook_id, m.subject)["sk"]["S"]: m.subject for m in messages}
        webhooks, records, counters = {}, {}, {}
        for item in batch_get(self._db, self._table, list(keys.values())):
            if item["sk"] == "WH":
                webhooks[item["webhookID"]] = Webhook.from_item(item)
            elif item["sk"].startswith("MSG#"):
                records[(item["webhookID"], item["messageID"])] = DeliveryRecord.from_item(item)
            else:
                counters[(item["pk"][3:], subjects.get(item["sk"]))] = (int(item["sequence"]), item.get("messageID"))
        return webhooks, records, counters

    def claim_sequence(self, message, counter):
        """The ``sequence`` of ``message``'s first attempt, taken from its subject's counter
        (``counter``: ``(number, message_id)`` as :meth:`load` read it) before the message is sent.

        The counter keeps the messageID it was last given to, so a message sent again after a
        worker died (before or after its POST, before its record) gets the same number again:
        no number is used twice, and none is skipped. The write is conditional on the number
        read, so two workers can never give one number to two messages; when its condition fails,
        the counter as it was tells whether this message holds it already (botocore's retry of a
        write whose answer was lost, or another receipt of this very message).
        """
        number, holder = counter
        if holder == message.message_id:
            return number
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**sequence_key(message.webhook_id, message.subject),
                      **serialize({"sequence": number + 1, "messageID": message.message_id})},
                ConditionExpression="attribute_not_exists(#sequence) OR #sequence = :previous",
                ExpressionAttributeNames={"#sequence": "sequence"},
                ExpressionAttributeValues=serialize({":previous": number}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            # The counter moved meanwhile: only this very message may have moved it (SQS FIFO
            # gives a subject's messages out one at a time).
            held = exc.response.get("Item", {})
            if held.get("messageID", {}).get("S") == message.message_id:
                return int(held["sequence"]["N"])
            raise
        return number + 1

    def record_attempt(self, message, attempt, *, status, next_attempt_ms, now, headers, first=None, until=None,
                       sent_body=None):
        """Keep ``attempt`` (an attempt as the log keeps it, :meth:`Attempt.to_record`) and set the
        message's status: :meth:`record_write`, then :meth:`write` it (``until``: see there)."""
        return self.write(self.record_write(message, attempt, status=status, next_attempt_ms=next_attempt_ms, now=now,
                                            headers=headers, first=first, sent_body=sent_body), until)

    def record_write(self, message, attempt, *, status, next_attempt_ms, now, headers, first=None, sent_body=None):
        """The :class:`RecordWrite` that keeps ``attempt`` and sets the message's status.

        One conditional write per attempt, on the count of attempts recorded so far: a message
        that SQS hands out twice cannot record an attempt twice, nor turn a delivered message
        back to pending. ``first`` (a :class:`FirstAttempt`) is given at a message's first
        numbered attempt: the whole record is put then. A later attempt takes its slot in the
        ring of the latest ``MAX_KEPT_ATTEMPTS`` (a slot past the list's end appends).
        ``sent_body`` is the body the attempt sent when a webhook's template made it of the kept
        body (section 21); the record keeps the latest, in the same write.
        """
        number, token = attempt["attempt"], secrets.token_hex(8)
        values = {":delivered": "delivered"}
        if first is not None:
            earlier = first.earlier
            item = {
                **message.fields(),
                "status": status,
                "attempts": [attempt],
                "attemptCount": number,
                "attemptBase": earlier.attempt_base if earlier and earlier.attempt_base else None,
                "expiresAt": int(now) + self._retention_seconds,
                "sequence": first.sequence,
                "body": first.body,
                "nextAttemptAt": next_attempt_ms,
                "redeliveries": (earlier.redeliveries if earlier else message.redelivery) or None,
                "requestHeaders": _headers_text(headers),
                "sentBody": sent_body,
                "attemptToken": token,
            }
            return RecordWrite("put_item", {
                "TableName": self._table,
                "Item": {**message_key(message.webhook_id, message.message_id), **serialize(item)},
                "ConditionExpression": "attribute_not_exists(attemptCount) AND "
                                       "(attribute_not_exists(#status) OR #status <> :delivered)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }, token)
        values.update({
            ":status": status,
            ":attempt": attempt,
            ":number": number,
            ":previous": number - 1,
            ":expires": int(now) + self._retention_seconds,
            ":headers": _headers_text(headers),
            ":token": token,
        })
        expression = (
            f"SET #status = :status, attempts[{(number - 1) % MAX_KEPT_ATTEMPTS}] = :attempt,"
            " attemptCount = :number, expiresAt = :expires, requestHeaders = :headers, attemptToken = :token"
        )
        removes = []
        if next_attempt_ms is None:
            removes.append("nextAttemptAt")
        else:
            expression += ", nextAttemptAt = :next"
            values[":next"] = next_attempt_ms
        if sent_body is None:
            removes.append("sentBody")
        else:
            expression += ", sentBody = :sent"
            values[":sent"] = sent_body
        expression += (" REMOVE " + ", ".join(removes)) if removes else ""
        return RecordWrite("update_item", {
            "TableName": self._table,
            "Key": message_key(message.webhook_id, message.message_id),
            "UpdateExpression": expression,
            "ConditionExpression": "attemptCount = :previous AND #status <> :delivered",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }, token)

    def write(self, record, until=None):
        """Make the conditional write ``record`` (a :class:`RecordWrite`); False if someone else
        recorded that attempt first (another receipt of the same message), or the message is
        delivered.

        The write carries a token of its own: when its condition fails, the item as it was tells
        whether this very write was made already (botocore's retry of a write whose answer was
        lost, or a write handed to the queue and made since), which is done, not a conflict.
        While DynamoDB is unavailable (throttled, answering 5xx, or not answering) the same write
        is tried again, with growing pauses, until ``until`` (a ``time.monotonic()``; None: once),
        then :class:`Unavailable` is raised.
        """
        pause = _FIRST_PAUSE_SECONDS
        while True:
            try:
                getattr(self._db, record.operation)(**record.request)
                return True
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    return exc.response.get("Item", {}).get("attemptToken", {}).get("S") == record.token
                if not is_transient(exc):
                    raise
                failure = exc
            except BotoCoreError as exc:  # no answer: connection refused, reset or timed out
                failure = exc
            if until is None or time.monotonic() + pause > until:
                raise Unavailable("the delivery log is unavailable") from failure
            self._sleep(pause)
            pause = min(pause * 2, _LAST_PAUSE_SECONDS)

    def record_skipped(self, message, now):
        """Keep a message that was not sent because its webhook is disabled, to replay later."""
        values = {":skipped": "skipped", ":delivered": "delivered", ":expires": int(now) + self._retention_seconds}
        names = {"#status": "status"}
        update = ["#status = :skipped", "expiresAt = :expires"]
        for index, (name, value) in enumerate(message.fields().items()):
            names[f"#f{index}"] = name
            values[f":f{index}"] = value
            update.append(f"#f{index} = if_not_exists(#f{index}, :f{index})")
        try:
            self._db.update_item(
                TableName=self._table,
                Key=message_key(message.webhook_id, message.message_id),
                UpdateExpression="SET " + ", ".join(update) + " REMOVE nextAttemptAt",
                ConditionExpression="attribute_not_exists(#status) OR #status <> :delivered",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)

    def put_skipped(self, messages, now):
        """Record new messages for disabled webhooks as skipped."""
        batch_put(self._db, self._table, [
            {**message_key(m.webhook_id, m.message_id),
             **serialize({**m.fields(), "status": "skipped", "expiresAt": int(now) + self._retention_seconds})}
            for m in messages
        ])

    def get(self, webhook_id, message_id):
        """The message's :class:`DeliveryRecord`, or None."""
        item = get_item(self._db, self._table, message_key(webhook_id, message_id))
        return None if item is None else DeliveryRecord.from_item(item)

    def page(self, webhook_id, now, **filters):
        """A page of the webhook's messages, newest first, as ``(records, next cursor)``: see
        :func:`chalicelib.delivery.log_pages.page` for the filters."""
        items, cursor = log_pages.page(self._db, self._table, webhook_id, now, **filters)
        return [DeliveryRecord.from_item(item) for item in items], cursor

    def reopen(self, record):
        """Make a finished message pending again for its redelivery, which has already been
        queued as redelivery ``record.redeliveries + 1``; raise :class:`Conflict` when it is not
        finished, or was reopened by someone else meanwhile.

        Its attempts so far are kept; the retry schedule starts over from the next one. The
        write carries a token of this call (``reopenedBy``): botocore's retry of it, after an
        answer lost, finds its own token and is not taken for someone else's replay.
        """
        message = record.message
        by = uuid.uuid4().hex
        try:
            self._db.update_item(
                TableName=self._table,
                Key=message_key(message.webhook_id, message.message_id),
                UpdateExpression=(
                    "SET #status = :pending, attemptBase = if_not_exists(attemptCount, :zero), redeliveries = :next,"
                    " reopenedBy = :by REMOVE nextAttemptAt"
                ),
                ConditionExpression=(
                    "attribute_exists(pk) AND #status IN (:delivered, :failed, :skipped) AND "
                    + ("redeliveries = :current" if record.redeliveries else
                       "(attribute_not_exists(redeliveries) OR redeliveries = :current)")
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(
                    {":pending": "pending", ":zero": 0, ":next": record.redeliveries + 1,
                     ":current": record.redeliveries, ":delivered": "delivered", ":failed": "failed",
                     ":skipped": "skipped", ":by": by}
                ),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                if exc.response.get("Item", {}).get("reopenedBy", {}).get("S") == by:
                    return  # this very write, retried: reopened once
                raise Conflict("that message is being delivered already", field="messageID", code="message_pending") from exc
            reraise_unavailable(exc)

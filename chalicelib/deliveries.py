"""Messages on their way to webhooks: the queue that carries them and the log of attempts."""

import base64
import binascii
import hashlib
import json
import math
import threading
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, InvalidParameter, Unavailable
from chalicelib.ids import id_floor
from chalicelib.storage import deserialize, error_code, message_key, reraise_unavailable, serialize, webhook_key

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * 1024
MAX_VISIBILITY_SECONDS = 12 * 3600 - 60  # SQS's cap on one receive, with a margin
FINISHED = ("delivered", "failed", "skipped")


def person_hash(person_id):
    return hashlib.sha256(person_id.encode("utf-8")).hexdigest()[:40]


def sequence_key(webhook_id, person_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": f"SEQ#{person_hash(person_id)}"}}


@dataclass(frozen=True)
class QueuedMessage:
    """One message for one webhook, as it travels through the delivery queue.

    The body is made from these fields at the first attempt, when the message gets its
    sequence number, and kept in the delivery log: every retry sends the same bytes.
    """

    message_id: str
    webhook_id: str
    event_id: str
    type: str
    person_id: str
    date: str
    timestamp: int
    data: dict = field(default_factory=dict)
    redelivery: int = 0

    def _identity(self):
        return {
            "messageID": self.message_id,
            "webhookID": self.webhook_id,
            "eventID": self.event_id,
            "type": self.type,
            "personID": self.person_id,
            "date": self.date,
            "timestamp": self.timestamp,
        }

    def to_json(self):
        body = {**self._identity(), "data": self.data, "redelivery": self.redelivery}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text):
        fields = json.loads(text)
        return cls._from(fields, fields["data"], fields.get("redelivery", 0))

    @classmethod
    def from_record(cls, record):
        """The message a delivery log record keeps, to be queued again."""
        return cls._from(record, json.loads(record["dataJson"]), record.get("redeliveries", 0))

    @classmethod
    def _from(cls, fields, data, redelivery):
        return cls(
            message_id=fields["messageID"],
            webhook_id=fields["webhookID"],
            event_id=fields["eventID"],
            type=fields["type"],
            person_id=fields["personID"],
            date=fields["date"],
            timestamp=int(fields["timestamp"]),
            data=data,
            redelivery=int(redelivery),
        )

    @property
    def group_id(self):
        # Order is kept per webhook and person: a person's later message waits for the earlier
        # one, other people's messages do not. The person is hashed to fit SQS's 128 characters.
        return f"{self.webhook_id}.{person_hash(self.person_id)}"

    @property
    def deduplication_id(self):
        return f"{self.message_id}.{self.webhook_id}.{self.redelivery}"

    def fields(self):
        """The attributes a delivery log record keeps of its message."""
        return {**self._identity(), "dataJson": json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))}


class DeliveryQueue:
    """The SQS FIFO queue between the fan-out and the delivery worker."""

    def __init__(self, client, queue_url):
        self._sqs = client
        self._url = queue_url

    def send(self, messages):
        """Enqueue every message, 10 per SendMessageBatch; raise :class:`Unavailable` if SQS refuses.

        The error's ``unsent`` lists the messages that were not queued; the others were.
        """
        batches = list(_batches(messages))
        for index, batch in enumerate(batches):
            left = self._send_batch(batch)
            if left:
                error = Unavailable("the delivery queue is unavailable; try again in a moment")
                error.unsent = left + [message for later in batches[index + 1 :] for message in later]
                raise error

    def _send_batch(self, batch):
        """Send one batch, trying entries SQS refused twice more; return the messages not sent."""
        entries = {
            str(i): (message, {
                "Id": str(i),
                "MessageBody": message.to_json(),
                "MessageGroupId": message.group_id,
                "MessageDeduplicationId": message.deduplication_id,
            })
            for i, message in enumerate(batch)
        }
        for _ in range(3):
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=[e for _, e in entries.values()])
            except ClientError:
                break
            failed = {entry["Id"] for entry in answer.get("Failed", [])}
            entries = {key: value for key, value in entries.items() if key in failed}
            if not entries:
                break
        return [message for message, _ in entries.values()]

    def retry_later(self, hidden):
        """Hide received messages until they are due: ``hidden`` is [(receipt handle, seconds)].

        Seconds are rounded up (SQS counts whole seconds) and capped near SQS's 12 hours; a
        message due later than that is simply hidden again when it comes back early.
        """
        for start in range(0, len(hidden), SQS_BATCH_ENTRIES):
            entries = [
                {
                    "Id": str(i),
                    "ReceiptHandle": receipt,
                    "VisibilityTimeout": max(0, min(MAX_VISIBILITY_SECONDS, math.ceil(seconds))),
                }
                for i, (receipt, seconds) in enumerate(hidden[start : start + SQS_BATCH_ENTRIES])
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=self._url, Entries=entries)


def _batches(messages):
    batch, size = [], 0
    for message in messages:
        length = len(message.to_json().encode("utf-8")) + 200
        if batch and (len(batch) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(message)
        size += length
    if batch:
        yield batch


def _encode_cursor(sk):
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _decode_cursor(cursor):
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidParameter("cursor is not a cursor this method gave", field="cursor") from exc
    if not sk.startswith("MSG#msg_") or len(sk) > 64:
        raise InvalidParameter("cursor is not a cursor this method gave", field="cursor")
    return sk


class WritesTogether:
    """Writes handed in by several threads at about the same moment go out as one request.

    A thread that finds no write under way writes at once. Threads that hand in items
    meanwhile wait; when that write is done, the first of them writes everything that is
    waiting (up to ``max_items``), its own items first among them, and so on. So each thread
    makes at most one request, none waits for more than the write ahead of it, and each
    returns only when its own items are stored (or raises what their write raised). The
    deliveries of a batch finish at about the same time: their records take one or two
    requests instead of one each.
    """

    def __init__(self, write, max_items=25):
        self._write = write
        self._max_items = max_items
        self._lock = threading.Lock()
        self._waiting = []  # while this is not empty, some thread is writing
        self._writing = False

    def write(self, items):
        entry = _Handed(items)
        with self._lock:
            self._waiting.append(entry)
            leads, self._writing = not self._writing, True
        if not leads:
            entry.woken.wait()  # its items were written, or it is its turn to write
        if not entry.done:
            self._write_round()
        if entry.error is not None:
            raise entry.error

    def _write_round(self):
        with self._lock:
            taken, count = [], 0
            while self._waiting and (not taken or count + len(self._waiting[0].items) <= self._max_items):
                count += len(self._waiting[0].items)
                taken.append(self._waiting.pop(0))
        error = None
        try:
            self._write([item for entry in taken for item in entry.items])
        except BaseException as exc:  # noqa: BLE001 - raised in each writer whose items it carried
            error = exc
        with self._lock:
            for entry in taken:
                entry.error, entry.done = error, True
            following = self._waiting[0] if self._waiting else None
            self._writing = following is not None
        for entry in taken[1:] + ([following] if following else []):
            entry.woken.set()


class _Handed:
    """Items handed to :class:`WritesTogether`, and what became of them."""

    def __init__(self, items):
        self.items = items
        self.done = False
        self.error = None
        self.woken = threading.Event()


class DeliveryLog:
    """Each message's state and attempts, one item per webhook and message, kept for the retention."""

    def __init__(self, client, table_name, retention_days=30):
        self._db = client
        self._table = table_name
        self._retention_seconds = retention_days * 86400
        self._together = WritesTogether(self.write_items)

    def load(self, messages):
        """Everything a batch needs, in one BatchGetItem where possible: the webhooks, the
        messages' records, and the sequence counters of their webhook and person.

        Returns ``(webhooks, records, sequences)``, keyed by webhookID, by (webhookID, messageID)
        and by (webhookID, personID).
        """
        keys = {}
        for m in messages:
            keys[("WH", m.webhook_id)] = webhook_key(m.webhook_id)
            keys[("MSG", m.webhook_id, m.message_id)] = message_key(m.webhook_id, m.message_id)
            keys[("SEQ", m.webhook_id, m.person_id)] = sequence_key(m.webhook_id, m.person_id)
        wanted = list(keys.values())
        found = []
        while wanted:
            chunk, wanted = wanted[:100], wanted[100:]
            request = {self._table: {"Keys": chunk, "ConsistentRead": True}}
            for _ in range(5):
                try:
                    answer = self._db.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    reraise_unavailable(exc)
                found.extend(deserialize(item) for item in answer["Responses"].get(self._table, []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise Unavailable("the delivery log is unavailable")
        webhooks, records, sequences = {}, {}, {}
        by_sequence_key = {person_hash(m.person_id): m.person_id for m in messages}
        for item in found:
            if item["sk"] == "WH":
                webhooks[item["webhookID"]] = item
            elif item["sk"].startswith("MSG#"):
                records[(item["webhookID"], item["messageID"])] = item
            else:
                person = by_sequence_key.get(item["sk"][4:])
                sequences[(item["pk"][3:], person)] = int(item["sequence"])
        return webhooks, records, sequences

    def record_attempt(self, message, number, attempt, status, next_attempt_ms, now):
        """Append attempt ``number`` (a later attempt) and set the message's status; False if
        someone else did first.

        A conditional UpdateItem on the attempts recorded so far, so a message received twice
        cannot record an attempt twice, nor overwrite a delivered message.
        """
        values = {
            ":status": status,
            ":attempt": [attempt],
            ":empty": [],
            ":number": number,
            ":previous": number - 1,
            ":delivered": "delivered",
            ":expires": int(now) + self._retention_seconds,
        }
        expression = (
            "SET #status = :status, attempts = list_append(if_not_exists(attempts, :empty), :attempt),"
            " attemptCount = :number, expiresAt = :expires"
        )
        if next_attempt_ms is None:
            expression += " REMOVE nextAttemptAt"
        else:
            expression += ", nextAttemptAt = :next"
            values[":next"] = next_attempt_ms
        try:
            self._db.update_item(
                TableName=self._table,
                Key=message_key(message.webhook_id, message.message_id),
                UpdateExpression=expression,
                ConditionExpression="attemptCount = :previous AND #status <> :delivered",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(values),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def first_attempt_items(self, message, attempt, status, next_attempt_ms, now, sequence, body, record):
        """The items that record a message's first numbered attempt: its record (built on the
        ``record`` read at the start of the batch) and its person's sequence counter.

        They are written together, with :meth:`write_together`. Those two items have
        no other writer meanwhile: SQS FIFO gives a message group (one webhook and person)
        to one invocation at a time, and the function's timeout is shorter than the queue's
        visibility timeout. A conditional write per item would say the same at many times the
        requests.
        """
        item = {key: value for key, value in record.items() if key not in ("pk", "sk", "nextAttemptAt", "reopenedFrom")}
        item.update(message.fields())
        item.update(
            status=status,
            attempts=list(record.get("attempts", [])) + [attempt],
            attemptCount=int(record.get("attemptCount", 0)) + 1,
            expiresAt=int(now) + self._retention_seconds,
            sequence=sequence,
            body=body,
            nextAttemptAt=next_attempt_ms,
            redeliveries=record.get("redeliveries", message.redelivery) or None,
        )
        return [
            {**message_key(message.webhook_id, message.message_id), **serialize(item)},
            {**sequence_key(message.webhook_id, message.person_id), **serialize({"sequence": sequence})},
        ]

    def write_together(self, items):
        """Put ``items``, in one request with what other threads are writing at the same moment;
        return when they are stored."""
        self._together.write(items)

    def write_items(self, items):
        """Put items with BatchWriteItem, 25 a request; for a key given twice the last one wins."""
        latest = {}
        for item in items:
            latest[(item["pk"]["S"], item["sk"]["S"])] = item
        puts = [{"PutRequest": {"Item": item}} for item in latest.values()]
        for start in range(0, len(puts), 25):
            request = {self._table: puts[start : start + 25]}
            for _ in range(5):
                try:
                    answer = self._db.batch_write_item(RequestItems=request)
                except ClientError as exc:
                    reraise_unavailable(exc)
                request = answer.get("UnprocessedItems") or {}
                if not request:
                    break
            if request:
                raise Unavailable("the delivery log is unavailable")

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
                raise

    def put_skipped(self, messages, now):
        """Record new messages for disabled webhooks as skipped."""
        self.write_items([
            {**message_key(m.webhook_id, m.message_id),
             **serialize({**m.fields(), "status": "skipped", "expiresAt": int(now) + self._retention_seconds})}
            for m in messages
        ])

    def get(self, webhook_id, message_id):
        try:
            answer = self._db.get_item(
                TableName=self._table, Key=message_key(webhook_id, message_id), ConsistentRead=True
            )
        except ClientError as exc:
            reraise_unavailable(exc)
        return deserialize(answer["Item"]) if "Item" in answer else None

    def page(self, webhook_id, now, status=None, limit=50, cursor=None, since_ms=None, max_reads=10):
        """A page of the webhook's messages, newest first; returns ``(records, next cursor)``.

        Expired records (past the retention, not yet removed by DynamoDB's TTL) are left out.
        With ``since_ms``, only messages made at or after that time.
        """
        values = {":pk": {"S": f"WH#{webhook_id}"}, ":now": {"N": str(int(now))}}
        names = {"#expires": "expiresAt"}
        filters = ["#expires > :now"]
        if status is not None:
            filters.append("#status = :status")
            names["#status"] = "status"
            values[":status"] = {"S": status}
        if since_ms is not None:
            condition = "pk = :pk AND sk BETWEEN :low AND :high"
            values[":low"] = {"S": "MSG#" + id_floor("msg", since_ms)}
            values[":high"] = {"S": "MSG#msg_~"}
        else:
            condition = "pk = :pk AND begins_with(sk, :msg)"
            values[":msg"] = {"S": "MSG#"}
        query = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "FilterExpression": " AND ".join(filters),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        if cursor:
            query["ExclusiveStartKey"] = {"pk": values[":pk"], "sk": {"S": _decode_cursor(cursor)}}
        records = []
        for _ in range(max_reads):  # a filter can leave a read short: read on, a bounded number of times
            query["Limit"] = max(limit, 50)
            try:
                answer = self._db.query(**query)
            except ClientError as exc:
                reraise_unavailable(exc)
            items = answer["Items"]
            for index, item in enumerate(items):
                records.append(deserialize(item))
                if len(records) == limit:
                    more = index < len(items) - 1 or "LastEvaluatedKey" in answer
                    return records, _encode_cursor(records[-1]["sk"]) if more else None
            if "LastEvaluatedKey" not in answer:
                return records, None
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return records, _encode_cursor(query["ExclusiveStartKey"]["sk"]["S"])

    def reopen(self, webhook_id, message_id):
        """Make a finished message pending again, for a redelivery; return its record.

        Raise :class:`Conflict` when it is still pending. Its attempts so far are kept; the
        retry schedule starts over from the next one.
        """
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key=message_key(webhook_id, message_id),
                UpdateExpression=(
                    "SET reopenedFrom = #status, #status = :pending, attemptBase = if_not_exists(attemptCount, :zero),"
                    " redeliveries = if_not_exists(redeliveries, :zero) + :one REMOVE nextAttemptAt"
                ),
                ConditionExpression="attribute_exists(pk) AND #status IN (:delivered, :failed, :skipped)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(
                    {":pending": "pending", ":zero": 0, ":one": 1, ":delivered": "delivered", ":failed": "failed",
                     ":skipped": "skipped"}
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict("that message is still being delivered", field="messageID") from exc
            reraise_unavailable(exc)
        return deserialize(answer["Attributes"])

    def undo_reopen(self, message):
        """Give a reopened message back the status it had, when its redelivery could not be queued."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=message_key(message.webhook_id, message.message_id),
                UpdateExpression="SET #status = reopenedFrom REMOVE reopenedFrom",
                ConditionExpression="#status = :pending AND redeliveries = :redelivery AND attribute_exists(reopenedFrom)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize({":pending": "pending", ":redelivery": message.redelivery}),
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)

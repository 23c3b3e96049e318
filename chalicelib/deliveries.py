"""Messages on their way to webhooks: the queue that carries them and the log of attempts."""

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from chalicelib.errors import Unavailable
from chalicelib.storage import deserialize, error_code, message_key, reraise_unavailable, serialize, webhook_key

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * 1024
MAX_VISIBILITY_SECONDS = 12 * 3600 - 60  # SQS's cap on one receive, with a margin


@dataclass(frozen=True)
class QueuedMessage:
    """One message for one webhook, as it travels through the delivery queue.

    ``body`` is the exact text that is signed and sent, so that every retry sends the same bytes.
    """

    message_id: str
    webhook_id: str
    event_id: str
    type: str
    person_id: str
    date: str
    body: str

    def to_json(self):
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text):
        fields = json.loads(text)
        return cls(**{name: fields[name] for name in cls.__dataclass_fields__})

    @property
    def group_id(self):
        # Order is kept per webhook and person: a person's later message waits for the earlier
        # one, other people's messages do not. The person is hashed to fit SQS's 128 characters.
        person = hashlib.sha256(self.person_id.encode("utf-8")).hexdigest()[:40]
        return f"{self.webhook_id}.{person}"

    @property
    def deduplication_id(self):
        return f"{self.message_id}.{self.webhook_id}"


class DeliveryQueue:
    """The SQS FIFO queue between the fan-out and the delivery worker."""

    def __init__(self, client, queue_url):
        self._sqs = client
        self._url = queue_url

    def send(self, messages):
        """Enqueue every message, 10 per SendMessageBatch; raise :class:`Unavailable` if SQS refuses."""
        for batch in _batches(messages):
            entries = {
                str(i): {
                    "Id": str(i),
                    "MessageBody": message.to_json(),
                    "MessageGroupId": message.group_id,
                    "MessageDeduplicationId": message.deduplication_id,
                }
                for i, message in enumerate(batch)
            }
            for _ in range(3):  # entries that fail (throttling) are sent again, in their order
                try:
                    answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=list(entries.values()))
                except ClientError as exc:
                    raise Unavailable("the delivery queue is unavailable; try again in a moment") from exc
                failed = {entry["Id"] for entry in answer.get("Failed", [])}
                entries = {key: value for key, value in entries.items() if key in failed}
                if not entries:
                    break
            if entries:
                raise Unavailable("the delivery queue is unavailable; try again in a moment")

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


class DeliveryLog:
    """Each message's state and attempts, one item per webhook and message."""

    def __init__(self, client, table_name, retention_days=30):
        self._db = client
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    def load(self, webhook_ids, pairs):
        """Webhook items and message records for a batch, in one BatchGetItem where possible.

        Returns ``(webhooks, records)``: dicts keyed by webhookID and by (webhookID, messageID).
        """
        keys = [webhook_key(w) for w in dict.fromkeys(webhook_ids)]
        keys += [message_key(w, m) for w, m in dict.fromkeys(pairs)]
        webhooks, records = {}, {}
        while keys:
            chunk, keys = keys[:100], keys[100:]
            request = {self._table: {"Keys": chunk, "ConsistentRead": True}}
            for _ in range(5):
                try:
                    answer = self._db.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    reraise_unavailable(exc)
                for item in answer["Responses"].get(self._table, []):
                    item = deserialize(item)
                    if item["sk"] == "WH":
                        webhooks[item["webhookID"]] = item
                    else:
                        records[(item["webhookID"], item["messageID"])] = item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise Unavailable("the delivery log is unavailable")
        return webhooks, records

    def record_attempt(self, message, number, attempt, status, next_attempt_ms, now):
        """Append attempt ``number`` and set the message's status; False if someone else did first.

        The write is conditional on the attempts recorded so far, so a message received twice
        cannot record the same attempt twice, nor overwrite a delivered message.
        """
        values = {
            ":status": status,
            ":attempt": [attempt],
            ":empty": [],
            ":number": number,
            ":delivered": "delivered",
            ":messageID": message.message_id,
            ":webhookID": message.webhook_id,
            ":eventID": message.event_id,
            ":type": message.type,
            ":personID": message.person_id,
            ":date": message.date,
            ":body": message.body,
            ":expires": int(now) + self._retention_seconds,
        }
        update = (
            "SET #status = :status, attempts = list_append(if_not_exists(attempts, :empty), :attempt),"
            " attemptCount = :number, messageID = :messageID, webhookID = :webhookID, eventID = :eventID,"
            " #type = :type, personID = :personID, #date = :date, body = if_not_exists(body, :body),"
            " expiresAt = :expires"
        )
        if next_attempt_ms is None:
            update += " REMOVE nextAttemptAt"
        else:
            update += ", nextAttemptAt = :next"
            values[":next"] = next_attempt_ms
        if number == 1:
            condition = "attribute_not_exists(attemptCount)"
        else:
            condition = "attemptCount = :previous"
            values[":previous"] = number - 1
        condition = f"({condition}) AND (attribute_not_exists(#status) OR #status <> :delivered)"
        try:
            self._db.update_item(
                TableName=self._table,
                Key=message_key(message.webhook_id, message.message_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", "#type": "type", "#date": "date"},
                ExpressionAttributeValues=serialize(values),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, webhook_id, message_id):
        try:
            answer = self._db.get_item(
                TableName=self._table, Key=message_key(webhook_id, message_id), ConsistentRead=True
            )
        except ClientError as exc:
            reraise_unavailable(exc)
        return deserialize(answer["Item"]) if "Item" in answer else None

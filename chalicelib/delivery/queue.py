"""Messages on their way to webhooks, and the SQS FIFO queue that carries them."""

import functools
import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import Unavailable
from chalicelib.store.table import subject_hash

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * 1024
MAX_VISIBILITY_SECONDS = 12 * 3600 - 60  # SQS's cap on one receive, with a margin
BATCHES_AT_ONCE = 10  # SendMessageBatch requests of one fan-out in flight together


@dataclass(frozen=True)
class QueuedMessage:
    """One message for one webhook, as it travels through the delivery queue.

    The body is made from these fields at the first attempt, when the message gets its
    sequence number, and kept in the delivery log: every retry sends the same bytes.
    ``subject`` (``person:5521``, ``activity:98``...) is what order is kept per.
    """

    message_id: str
    webhook_id: str
    type: str
    subject: str
    date: str
    timestamp: int
    data: dict = field(default_factory=dict)
    redelivery: int = 0
    # A write of the delivery log handed over when DynamoDB would not take it in time (a
    # chalicelib.delivery.log.RecordWrite as JSON): such a message is not sent, its write is made.
    record: dict | None = None

    def _identity(self):
        return {
            "messageID": self.message_id,
            "webhookID": self.webhook_id,
            "type": self.type,
            "subject": self.subject,
            "date": self.date,
            "timestamp": self.timestamp,
        }

    def to_json(self):
        body = {**self._identity(), "data": self.data, "redelivery": self.redelivery}
        if self.record is not None:
            body["record"] = self.record
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text):
        fields = json.loads(text)
        message = cls.from_fields(fields, fields["data"], fields.get("redelivery", 0))
        return message if fields.get("record") is None else replace(message, record=fields["record"])

    @classmethod
    def from_fields(cls, fields, data, redelivery):
        """The message from its identity ``fields``: as queued, or as a delivery log record keeps
        them (its :meth:`fields`, to be queued again)."""
        return cls(
            message_id=fields["messageID"],
            webhook_id=fields["webhookID"],
            type=fields["type"],
            subject=fields["subject"],
            date=fields["date"],
            timestamp=int(fields["timestamp"]),
            data=data,
            redelivery=int(redelivery),
        )

    @property
    def group_id(self):
        # Order is kept per webhook and subject: a person's later message waits for the earlier
        # one, other people's messages do not. The subject is hashed to fit SQS's 128 characters.
        # A handed-over record write goes in a group of its own: the message it is about may
        # be the head of its group, waiting for its retry.
        return f"{self.webhook_id}.{subject_hash(self.subject)}" + (".record" if self.record else "")

    @property
    def deduplication_id(self):
        return f"{self.message_id}.{self.webhook_id}.{self.redelivery}" + (
            f".{self.record['token']}" if self.record else "")

    def fields(self):
        """The attributes a delivery log record keeps of its message."""
        return {**self._identity(), "dataJson": json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))}


class DeliveryQueue:
    """The SQS FIFO queue between the fan-out and the delivery worker."""

    def __init__(self, client, queue_url, batches_at_once=BATCHES_AT_ONCE, trace_header=lambda: None):
        self._sqs = client
        self._trace_header = trace_header  # the current X-Ray trace header, or None (chalicelib/tracing.py)
        self._url = queue_url
        self._batches_at_once = batches_at_once
        self._executor = None
        self._lock = threading.Lock()

    def send(self, messages):
        """Enqueue every message, 10 per SendMessageBatch, up to ``batches_at_once`` requests in
        flight together; raise :class:`Unavailable` if SQS refuses any.

        The error's ``unsent`` lists the messages that were not queued; the others were.
        """
        batches = list(_batches(messages))
        send = functools.partial(self._send_batch, trace_header=self._trace_header())
        if len(batches) <= 1 or self._batches_at_once == 1:
            left = [m for batch in batches for m in send(batch)]
        else:
            left = [m for unsent in self._pool().map(send, batches) for m in unsent]
        if left:
            error = Unavailable("the delivery queue is unavailable; try again in a moment")
            error.unsent = left
            raise error

    def _pool(self):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._batches_at_once, thread_name_prefix="enqueue")
            return self._executor

    def _send_batch(self, batch, trace_header=None):
        """Send one batch, trying entries SQS refused twice more; return the messages not sent.

        With a ``trace_header``, each message carries it (``AWSTraceHeader``): Lambda then links
        the trace of its delivery to the trace that queued it."""
        entries = {
            str(i): (message, {
                "Id": str(i),
                "MessageBody": message.to_json(),
                "MessageGroupId": message.group_id,
                "MessageDeduplicationId": message.deduplication_id,
                **({"MessageSystemAttributes": {"AWSTraceHeader": {"StringValue": trace_header, "DataType": "String"}}}
                   if trace_header else {}),
            })
            for i, message in enumerate(batch)
        }
        for _ in range(3):
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=[e for _, e in entries.values()])
            except (ClientError, BotoCoreError):
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

"""The delivery worker: delivers a batch of queued messages, records every attempt, schedules retries.

It is called with a batch of SQS records and answers which of them must come back (the Lambda
``batchItemFailures`` contract). A record is only ever reported for itself: one endpoint's
failure never makes another record of the batch be sent again.

Order: the queue is SQS FIFO, and a message group is one webhook and one subject (a person,
an activity, a speaker or the event). SQS hands a group's messages over in order and holds
the group while one of them is in flight, so a failing message keeps that subject's later
messages behind it while the others go ahead. (Standard queues with delays would be cheaper
but cannot keep order; a table of per-subject locks would cost a write per delivery.)

Retries do not keep a Lambda waiting: a failed message is hidden on the queue until its next
attempt is due (ChangeMessageVisibility), and its state (attempts, next attempt time) lives in
the delivery log, whose conditional writes also make a message that SQS hands out twice be
sent only once.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib import observability
from chalicelib.sender import send, signed_request
from chalicelib.delivery_log import FINISHED
from chalicelib.delivery_queue import QueuedMessage
from chalicelib.errors import NotFound
from chalicelib.occurrences import delivery_body
from chalicelib.settings import format_duration
from chalicelib.webhook_store import Webhook

log = observability.logger

MAX_RETRY_AFTER_SECONDS = 3600  # an endpoint may ask for a pause, up to an hour
_DUE_SLACK_MS = 50  # a visibility timeout is whole seconds; a message back a hair early is due
_RETRY_AFTER_ERROR_SECONDS = 30
# A replay is queued before its record is reopened (webhook.redeliver): a message that arrives
# first waits this long for the reopening, then is dropped as a replay that did not happen.
_REOPEN_WAIT_MS = 30_000
_REOPEN_POLL_SECONDS = 2
_REOPEN_READS, _REOPEN_READ_SECONDS = 3, 0.05  # reopening follows queueing within milliseconds


@dataclass
class _Received:
    record_id: str
    receipt_handle: str
    group_id: str
    sent_ms: int
    message: QueuedMessage | None  # None when the body could not be read


@dataclass
class _Batch:
    """What the worker read for one batch: webhook items, message records, sequence counters.

    Several groups of a batch may be one webhook's: ``lock_for`` serialises what they do to
    that webhook's item (its health and status), so two failing groups disable it once.
    """

    webhooks: dict
    records: dict
    sequences: dict
    deadline: float | None = None
    _locks: dict = field(default_factory=dict)

    def __post_init__(self):
        self._locks = {webhook_id: threading.Lock() for webhook_id in self.webhooks}

    def lock_for(self, webhook_id):
        return self._locks[webhook_id]


class DeliveryWorker:
    """Delivers a batch of queued messages; see the module docstring."""

    def __init__(self, webhooks, log_store, queue, policy, sender, settings, clock=time.time, sleep=time.sleep):
        self._webhooks = webhooks
        self._log = log_store
        self._queue = queue
        self._policy = policy
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._executor = None
        self._lock = threading.Lock()

    def handle(self, records, remaining_ms=None):
        """Deliver what is due in ``records`` (Lambda SQS record dicts); return the IDs to retry.

        Every record returned is back on the queue: one that failed stays hidden until it is due
        again, and the messages about the same subject behind it wait for it in the FIFO group.
        """
        try:
            received = [self._parse(record) for record in records]
            failed = [item.record_id for item in received if item.message is None]
            good = [item for item in received if item.message is not None]
            if not good:
                return failed
            batch = _Batch(*self._log.load([item.message for item in good]))
            if remaining_ms is not None:
                batch.deadline = time.monotonic() + remaining_ms / 1000.0
            groups = {}
            for item in good:  # SQS FIFO hands a group's messages over in order; keep that order
                groups.setdefault(item.group_id, []).append(item)
            jobs = [lambda g=group: self._deliver_group(g, batch) for group in groups.values()]
            results = [jobs[0]()] if len(jobs) == 1 else list(self._pool().map(lambda job: job(), jobs))
            later = [entry for group_later in results for entry in group_later]
            if later:
                self._queue.retry_later([(item.receipt_handle, delay) for item, delay in later])
            return failed + [item.record_id for item, _ in later]
        finally:
            observability.flush()

    def _pool(self):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=10, thread_name_prefix="deliver")
            return self._executor

    def _parse(self, record):
        attributes = record.get("attributes", {})
        try:
            message = QueuedMessage.from_json(record["body"])
        except (ValueError, KeyError, TypeError):
            log.error("unreadable delivery message left for the dead-letter queue", extra={"sqsMessageId": record.get("messageId")})
            message = None
        return _Received(
            record_id=record["messageId"],
            receipt_handle=record["receiptHandle"],
            group_id=attributes.get("MessageGroupId") or record["messageId"],
            sent_ms=int(attributes.get("SentTimestamp") or self._clock() * 1000),
            message=message,
        )

    def _deliver_group(self, group, batch):
        """Deliver one subject's messages in order; return [(item, seconds)] to put back."""
        for index, item in enumerate(group):
            if batch.deadline is not None and batch.deadline - time.monotonic() < self._settings.delivery_timeout_seconds + 2:
                # Not enough time left to wait for an endpoint: hand the rest back at once.
                return [(later, 0) for later in group[index:]]
            try:
                delay = self._deliver_one(item, batch)
            except Exception:  # noqa: BLE001 - one bad record must not lose the batch; it comes back
                log.exception("delivery failed unexpectedly; it will be retried",
                              extra={"messageID": item.message.message_id, "webhookID": item.message.webhook_id})
                delay = _RETRY_AFTER_ERROR_SECONDS
            if delay is not None:
                # The messages behind it about the same subject go back at once: SQS FIFO holds
                # them behind this one, which is in flight until it is due, so order is kept.
                return [(item, delay)] + [(later, 0) for later in group[index + 1 :]]
        return []

    def _deliver_one(self, item, batch):
        """None when the message is finished with (delivered, given up, or not to be sent);
        else the seconds until it is due again."""
        message = item.message
        webhook_item = batch.webhooks.get(message.webhook_id)
        if webhook_item is None or webhook_item["status"] == "removed":
            return None  # removed: nothing more is sent, queued messages included
        record = batch.records.get((message.webhook_id, message.message_id))
        if record is not None:
            if message.redelivery > record.redeliveries:
                record = self._reopened(item, record)
                if record is None:
                    return _REOPEN_POLL_SECONDS  # not yet: it comes back
                if message.redelivery > record.redeliveries:
                    log.warning("a replay whose record was never reopened is dropped",
                                extra={"messageID": message.message_id, "webhookID": message.webhook_id})
                    return None
            if record.status in FINISHED or record.redeliveries > message.redelivery:
                return None  # finished, or replaced by a redelivery: a message received twice is sent once
        with batch.lock_for(message.webhook_id):
            enabled = webhook_item["status"] == "enabled"
        if not enabled:
            self._log.record_skipped(message, self._clock())
            observability.count("Skipped")
            return None
        now_ms = int(self._clock() * 1000)
        due_ms = record.next_attempt_ms if record else None
        if due_ms is None and not (record and record.attempt_count):
            due_ms = item.sent_ms + self._settings.retry_schedule_ms[0]
        if due_ms is not None and due_ms > now_ms + _DUE_SLACK_MS:
            return (due_ms - now_ms) / 1000.0
        return self._attempt(item, webhook_item, record, batch)

    def _reopened(self, item, record):
        """The record of a replay that arrived before its record was reopened (the replay is
        queued first, then reopened: chalicelib.replays), read again a few times, as it is
        reopened a moment after; None to look again later, or the record as it stands once the
        replay is too old to wait for."""
        for _ in range(_REOPEN_READS):
            if self._clock() * 1000 - item.sent_ms >= _REOPEN_WAIT_MS:
                return record
            self._sleep(_REOPEN_READ_SECONDS)
            record = self._log.get(item.message.webhook_id, item.message.message_id) or record
            if record.redeliveries >= item.message.redelivery:
                return record
        return None

    def _attempt(self, item, webhook_item, record, batch):
        message = item.message
        now = self._clock()
        with batch.lock_for(message.webhook_id):
            webhook = Webhook.from_item(webhook_item)
            if webhook.signing_secrets(now) != webhook.secrets:  # a rotated-out secret whose overlap ended
                webhook = self._webhooks.forget_old_secret(webhook, now)
                webhook_item["secrets"] = list(webhook.secrets)  # once for the batch, not once a message
        number = (record.attempt_count if record else 0) + 1
        body, sequence = (record.body if record else None), None
        subject = (message.webhook_id, message.subject)
        if body is None:
            sequence = batch.sequences.get(subject, 0) + 1
            body = delivery_body(message.type, message.webhook_id, message.data, message.timestamp, sequence)
        request = signed_request(webhook, message.message_id, body, now)
        attempt = send(self._policy, self._sender, request)
        headers = request["headers"]
        schedule = self._settings.retry_schedule_ms
        attempts_this_round = number - (record.attempt_base if record else 0)
        if attempt.ok:
            status, delay = "delivered", None
        elif attempt.status_code == 410 or attempts_this_round >= len(schedule):
            status, delay = "failed", None
        else:
            status, delay = "pending", schedule[attempts_this_round] / 1000.0
            if attempt.retry_after is not None:
                delay = max(delay, min(attempt.retry_after, MAX_RETRY_AFTER_SECONDS))
        finished_ms = int(self._clock() * 1000)
        next_ms = None if delay is None else finished_ms + int(delay * 1000)
        try:
            if sequence is not None:
                # Recorded before going on, not at the end of the batch (a worker that dies
                # mid-batch must not send again what it had already delivered), in one request
                # with the records of the deliveries that finish at the same moment.
                self._log.write_together(self._log.first_attempt_items(
                    message, attempt.to_record(number, now), status, next_ms, now, sequence, body, record, headers))
                recorded = True
            else:
                recorded = self._log.record_attempt(message, number, attempt.to_record(number, now), status, next_ms,
                                                    now, headers)
        except Exception:
            if not attempt.ok:
                raise  # it comes back, and is tried again
            # The endpoint has it: sending it again because our own write failed would be wrong.
            log.exception("a delivered message's record could not be written; it is not sent again",
                          extra={"messageID": message.message_id, "webhookID": message.webhook_id})
            observability.count("RecordLost")
            recorded = True
        self._report(message, webhook, number, attempt, status, item.sent_ms, finished_ms)
        self._mind_health(webhook, webhook_item, attempt, finished_ms, batch)
        if not recorded:
            # Another receipt of this message recorded this attempt first; the log decides.
            state = self._log.get(message.webhook_id, message.message_id)
            if state is None or state.status in FINISHED:
                return None
            return max(0.0, ((state.next_attempt_ms or 0) - self._clock() * 1000) / 1000.0)
        if sequence is not None:
            batch.sequences[subject] = sequence
        return delay

    def _report(self, message, webhook, number, attempt, status, sent_ms, finished_ms):
        fields = {
            "webhookID": webhook.webhook_id,
            "messageID": message.message_id,
            "type": message.type,
            "attempt": number,
            "statusCode": attempt.status_code,
            "durationMs": attempt.duration_ms,
            "error": attempt.error,
            "outcome": status,
        }
        log.info("delivery attempt", extra=fields)
        observability.latency(attempt.duration_ms)
        if status == "delivered":
            observability.count("Delivered")
            observability.metrics.add_metric(name="DeliveryLatency", unit="Milliseconds",
                                             value=max(0, finished_ms - sent_ms))
        elif status == "failed":
            observability.count("Failed")
        else:
            observability.count("Retried")

    def _mind_health(self, webhook, webhook_item, attempt, now_ms, batch):
        """410 disables at once; failing without a success for too long disables too.

        Under the webhook's lock: the batch's other groups of the same webhook see what this
        one changed, and a webhook is disabled (and counted) once.
        """
        with batch.lock_for(webhook.webhook_id):
            failing_since = webhook_item.get("failingSince")
            try:
                if attempt.ok:
                    if failing_since is not None:
                        self._webhooks.clear_failing(webhook.webhook_id)
                        webhook_item.pop("failingSince", None)
                    return
                if attempt.status_code == 410:
                    self._disable(webhook, webhook_item, "the endpoint answered 410 Gone")
                elif failing_since is None:
                    self._webhooks.mark_failing(webhook.webhook_id, now_ms)
                    webhook_item["failingSince"] = now_ms
                elif now_ms - int(failing_since) >= self._settings.auto_disable_after_ms:
                    self._disable(webhook, webhook_item, "the endpoint accepted no delivery for "
                                  f"{format_duration(self._settings.auto_disable_after_ms)}")
            except NotFound:
                pass  # removed, or disabled by another invocation meanwhile

    def _disable(self, webhook, webhook_item, reason):
        if webhook_item.get("status") != "enabled":
            return
        self._webhooks.set_status(webhook, "disabled", only_from="enabled", reason=reason)
        webhook_item["status"] = "disabled"
        observability.count("Disabled")
        log.warning("webhook disabled", extra={"webhookID": webhook.webhook_id, "reason": reason})

"""The delivery worker: delivers a batch of queued messages, records every attempt, schedules retries.

It is called with a batch of SQS records and answers which of them must come back (the Lambda
``batchItemFailures`` contract). A record is only ever reported for itself: one endpoint's
failure never makes another record of the batch be sent again.

Order: the queue is SQS FIFO, and a message group is one webhook and one subject (a person,
an activity, a speaker or the event). SQS hands a group's messages over in order and holds
the group while one of them is in flight, so a failing message keeps that subject's later
messages behind it while the others go ahead. (Standard queues with delays would be cheaper
but cannot keep order; a table of per-subject locks would cost a write per delivery.)

A batch's groups run in turn on the invoking thread, and on more threads only while one is slow
(chalicelib.batch_runner): a thread per delivery would cost as much CPU as the POST itself.
The records of the batch's first attempts are written together, in one request, once no group
is left to start; but none waits much more than 0.1 s, and a group's next message waits for
its record, so that a worker that dies mid-batch does not send again what it had delivered.

Retries do not keep a Lambda waiting: a failed message is hidden on the queue until its next
attempt is due (ChangeMessageVisibility), and its state (attempts, next attempt time) lives in
the delivery log, whose conditional writes also make a message that SQS hands out twice be
sent only once.
"""

import gc
import time

from chalicelib import observability
from chalicelib.batch_runner import BatchRunner
from chalicelib.sender import send, signed_request
from chalicelib.delivery_batch import Batch, Received, Unwritten
from chalicelib.delivery_log import FINISHED
from chalicelib.delivery_queue import QueuedMessage
from chalicelib.endpoint_health import EndpointHealth
from chalicelib.erasure import erased_before
from chalicelib.notices import NoNotices
from chalicelib.occurrences import delivery_body
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
# A first attempt's record waits at most about this long to be written with the batch's others.
_RECORD_WAIT_SECONDS = 0.1


_settled = False


def _settle_the_heap():
    """After the process's first batch, what it holds (the modules, the AWS clients with the
    service models they have read, the settings) lasts as long as it does: it is frozen out of the
    garbage collector's way, once, so that a full collection no longer walks it every time
    (about 2 ms for every ten thousand objects; the app with its AWS clients holds some 70,000)."""
    global _settled
    if not _settled:
        _settled = True
        gc.freeze()


class DeliveryWorker:
    """Delivers a batch of queued messages; see the module docstring."""

    def __init__(self, webhooks, log_store, queue, policy, sender, settings, clock=time.time, sleep=time.sleep,
                 notices=None):
        self._webhooks = webhooks
        self._log = log_store
        self._queue = queue
        self._policy = policy
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._runner = BatchRunner(threads=10, gather_for=_RECORD_WAIT_SECONDS)
        self._notices = notices or NoNotices()
        self._health = EndpointHealth(webhooks, settings.auto_disable_after_ms, self._notices)

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
            batch = Batch(*self._log.load([item.message for item in good]))
            if remaining_ms is not None:
                batch.deadline = time.monotonic() + remaining_ms / 1000.0
            groups = {}
            for item in good:  # SQS FIFO hands a group's messages over in order; keep that order
                groups.setdefault(item.group_id, []).append(item)
            jobs = [lambda g=group: self._deliver_group(g, batch) for group in groups.values()]
            results = self._runner.run(jobs, after_each=lambda seconds: self._write_if_waited(batch, seconds),
                                       when_none_left=lambda: self._write_records(batch))
            self._write_records(batch)  # none are left, unless a thread could not write them
            later = [entry for group_later in results for entry in group_later]
            back = {item.record_id for item, _ in later}
            later += [(item, _RETRY_AFTER_ERROR_SECONDS) for item in good
                      if item.record_id in batch.unrecorded and item.record_id not in back]
            if later:
                self._queue.retry_later([(item.receipt_handle, delay) for item, delay in later])
            return failed + [item.record_id for item, _ in later]
        finally:
            observability.flush()
            _settle_the_heap()

    def _parse(self, record):
        attributes = record.get("attributes", {})
        try:
            message = QueuedMessage.from_json(record["body"])
        except (ValueError, KeyError, TypeError):
            log.error("unreadable delivery message left for the dead-letter queue", extra={"sqsMessageId": record.get("messageId")})
            message = None
        return Received(
            record_id=record["messageId"],
            receipt_handle=record["receiptHandle"],
            group_id=attributes.get("MessageGroupId") or record["messageId"],
            sent_ms=int(attributes.get("SentTimestamp") or self._clock() * 1000),
            message=message,
        )

    def _deliver_group(self, group, batch):
        """Deliver one subject's messages in order; return [(item, seconds)] to put back."""
        for index, item in enumerate(group):
            if index:
                # The message before it is recorded before this one goes: a worker that dies
                # mid-batch must not send again what it had already delivered.
                self._write_records(batch)
                batch.wait_until_stored(group[index - 1].record_id)  # another thread may be writing it
                if group[index - 1].record_id in batch.unrecorded:  # it failed and was not recorded
                    return [(later, 0) for later in group[index:]]
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
        if erased_before(webhook_item, message):
            return None  # about a person erased after it was dispatched: never sent (chalicelib.erasure)
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
        if sequence is not None:
            # Written with the batch's other first attempts, in one request: once no group of the
            # batch is left to start, before its subject's next message goes, or sooner after a
            # slow group (_write_if_waited).
            batch.hand_in(Unwritten(self._log.first_attempt_items(
                message, attempt.to_record(number, now), status, next_ms, now, sequence, body, record, headers),
                item, attempt.ok))
            recorded = True
        else:
            try:
                recorded = self._log.record_attempt(message, number, attempt.to_record(number, now), status,
                                                    next_ms, now, headers)
            except Exception:
                if not attempt.ok:
                    raise  # it comes back, and is tried again
                # The endpoint has it: sending it again because our own write failed would be wrong.
                log.exception("a delivered message's record could not be written; it is not sent again",
                              extra={"messageID": message.message_id, "webhookID": message.webhook_id})
                observability.count("RecordLost")
                recorded = True
        observability.report_attempt(message, number, attempt, status, item.sent_ms, finished_ms)
        self._health.mind(webhook, webhook_item, attempt, finished_ms, batch.lock_for(webhook.webhook_id))
        if status == "failed" and recorded:
            self._notices.message_failed(webhook, message, number, attempt)
        if not recorded:
            # Another receipt of this message recorded this attempt first; the log decides.
            state = self._log.get(message.webhook_id, message.message_id)
            if state is None or state.status in FINISHED:
                return None
            return max(0.0, ((state.next_attempt_ms or 0) - self._clock() * 1000) / 1000.0)
        if sequence is not None:
            batch.sequences[subject] = sequence
        return delay

    def _write_if_waited(self, batch, seconds):
        """After a group: its records wait for the batch's others unless this group was slow (the
        next may be too), or the oldest has waited long enough; so none waits much longer than
        _RECORD_WAIT_SECONDS, however the batch's groups go."""
        if seconds >= _RECORD_WAIT_SECONDS or batch.oldest_unwritten_seconds() >= _RECORD_WAIT_SECONDS:
            self._write_records(batch)

    def _write_records(self, batch):
        """Write the first-attempt records handed in so far, in one request (with whatever other
        threads are writing at that moment). If the write fails, a message that reached its
        endpoint is not sent again (``RecordLost``); one that did not comes back to be tried again."""
        taken = batch.take_unwritten()
        if not taken:
            return
        try:
            self._log.write_together([entry for record in taken for entry in record.items])
        except Exception:  # noqa: BLE001 - each message's fate is decided below
            log.exception("the records of a batch's deliveries could not be written",
                          extra={"messageIDs": [record.received.message.message_id for record in taken]})
            for record in taken:
                if record.ok:
                    observability.count("RecordLost")
                else:
                    batch.unrecorded.add(record.received.record_id)
        finally:
            for record in taken:
                record.stored.set()

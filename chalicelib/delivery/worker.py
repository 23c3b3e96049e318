"""The delivery worker: delivers a batch of queued messages, records every attempt, schedules retries.

One message, from the queue to its POST and its record:

1. ``handle`` gets a Lambda SQS batch, reads what the batch needs in one request
   (:meth:`DeliveryLog.load`: the webhooks, the messages' records, the sequence counters), and
   runs each message group on a thread of its own, the groups of the batch in parallel.
2. A group is one webhook and one subject (a person, an activity...): SQS FIFO hands its
   messages out in order and holds the group while one is in flight. ``_deliver_group`` runs
   them in order through Powertools' ``SqsFifoPartialProcessor(skip_group_on_error=True)``,
   which stops the group at its first message that must come back and reports it and the
   group's later messages as the Lambda FIFO partial-batch contract wants. (One processor per
   group, each on its thread: the processor runs a batch's records one after another, so a
   single one would make ten groups to a 200 ms endpoint take two seconds.)
3. ``_deliver`` decides, in ``_why_not_send`` (the one place that does), whether the message is
   still to be sent; waits until it is due; asks the **admission** hook; takes the message's
   ``sequence`` (:meth:`DeliveryLog.claim_sequence`, before the POST); POSTs it
   (chalicelib/delivery/sender.py, one deadline per attempt); and writes the attempt's record, one
   conditional write (:meth:`DeliveryLog.record_attempt`), before the group's next message goes.
4. A message that must come back raises :class:`ComeBackLater`: it is hidden until due
   (ChangeMessageVisibility), and the group's later messages are made visible at once, so SQS
   hands them out again behind it, in order.

Hooks (chalicelib/delivery/hooks.py, wired in chalicelib/services.py): ``admission.admit`` before
each attempt, ``admission.done`` after it; ``notices.message_failed`` when a message is given up;
``notices.webhook_disabled`` when its endpoint's health disables a webhook.

What a crash leaves (contract, section 13): a worker may die at any instant; what it held comes
back after the queue's visibility timeout, in order. A message sent again carries the same
webhook-id, body and sequence (the sequence counter remembers which message it was given to;
the record keeps the body). A message is POSTed again after a 2xx only when the worker died
between the answer and its record, a window one write wide.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Lock

from chalicelib import observability
from chalicelib.delivery.endpoint_health import EndpointHealth
from chalicelib.delivery.hooks import Admission, Notices
from chalicelib.delivery.log import FINISHED
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.delivery.sender import send, shaped_body, signed_request
from chalicelib.occurrences import delivery_body
from chalicelib.store.erasure import erased_before
from chalicelib.store.webhook_record import Webhook

log = observability.logger

MAX_RETRY_AFTER_SECONDS = 3600  # an endpoint may ask for a pause, up to an hour
_DUE_SLACK_MS = 50  # a visibility timeout is whole seconds; a message back a hair early is due
_RETRY_AFTER_ERROR_SECONDS = 30
# A replay is queued before its record is reopened (webhook.redeliver): a message that arrives
# first waits this long for the reopening, then is dropped as a replay that did not happen.
_REOPEN_WAIT_MS = 30_000
_REOPEN_POLL_SECONDS = 2
_REOPEN_READS, _REOPEN_READ_SECONDS = 3, 0.05  # reopening follows queueing within milliseconds


class ComeBackLater(Exception):
    """The message goes back on the queue, hidden for ``seconds``; its group's later ones too."""

    def __init__(self, seconds):
        super().__init__(f"back in {seconds:g}s")
        self.seconds = seconds


class Unreadable(Exception):
    """A message body that is not a delivery message: left for the dead-letter queue."""


@dataclass
class _Batch:
    """What the worker read for one batch. Several groups may be one webhook's: ``lock`` guards
    the webhook items they share (health, secrets), so that two failing groups disable it once."""

    messages: dict  # SQS messageId: QueuedMessage (None if unreadable)
    webhooks: dict
    records: dict
    counters: dict
    deadline: float | None
    lock: Lock = field(default_factory=Lock)


class DeliveryWorker:
    """Delivers a batch of queued messages; see the module docstring."""

    def __init__(self, webhooks, log_store, queue, policy, sender, settings, clock=time.time, sleep=time.sleep,
                 admission=None, notices=None):
        self._webhooks = webhooks
        self._log = log_store
        self._queue = queue
        self._policy = policy
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._admission = admission or Admission()
        self._notices = notices or Notices()
        self._health = EndpointHealth(webhooks, settings.auto_disable_after_ms, self._notices)

    def handle(self, records, remaining_ms=None):
        """Deliver what is due in ``records`` (Lambda SQS record dicts); return the IDs to retry.

        Every record returned is back on the queue: one that failed stays hidden until it is due
        again, and the messages about the same subject behind it wait for it in the FIFO group.
        """
        try:
            messages = {record["messageId"]: _parse(record) for record in records}
            readable = [m for m in messages.values() if m is not None]
            batch = _Batch(messages, *self._log.load(readable) if readable else ({}, {}, {}),
                           deadline=None if remaining_ms is None else time.monotonic() + remaining_ms / 1000.0)
            groups = {}
            for record in records:  # SQS FIFO hands a group's messages over in order; keep that order
                group = record.get("attributes", {}).get("MessageGroupId") or record["messageId"]
                groups.setdefault(group, []).append(record)
            if len(groups) == 1:
                results = [self._deliver_group(records, batch)]
            else:
                with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="deliver") as pool:
                    results = list(pool.map(lambda group: self._deliver_group(group, batch), groups.values()))
            back = [entry for result in results for entry in result]
            hidden = [(receipt, seconds) for _, receipt, seconds in back if seconds is not None]
            if hidden:
                self._queue.retry_later(hidden)
            return [record_id for record_id, _, _ in back]
        finally:
            observability.flush()

    def _deliver_group(self, records, batch):
        """Deliver one group's messages in order; return [(record ID, receipt, seconds hidden or
        None)] for those that come back: the first that failed, and every later one."""
        # Imported here, by the delivery function only: the API's cold start does not pay for it.
        from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
        from aws_lambda_powertools.utilities.batch.exceptions import SQSFifoMessageGroupCircuitBreakerError

        processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        processor.raise_on_entire_batch_failure = False  # a group that all comes back is normal
        with processor(records, lambda record: self._deliver(record, batch)):
            processor.process()
        back = []
        for record, (_, error, _) in zip(processor.fail_messages, processor.exceptions):
            if isinstance(error, ComeBackLater):
                seconds = error.seconds
            elif isinstance(error, SQSFifoMessageGroupCircuitBreakerError):
                seconds = 0  # behind a message that comes back: visible at once, SQS keeps it behind
            else:
                seconds = None  # unreadable: comes back after the queue's visibility timeout
            back.append((record.message_id, record.receipt_handle, seconds))
        return back

    def _deliver(self, sqs_record, batch):
        """Deliver one message, or raise :class:`ComeBackLater` when it must come back."""
        message = batch.messages[sqs_record.message_id]
        if message is None:
            raise Unreadable(sqs_record.message_id)
        try:
            self._deliver_message(message, sqs_record, batch)
        except (ComeBackLater, Unreadable):
            raise
        except Exception as exc:  # one bad message must not lose the batch; it comes back
            log.exception("delivery failed unexpectedly; it will be retried",
                          extra={"messageID": message.message_id, "webhookID": message.webhook_id})
            raise ComeBackLater(_RETRY_AFTER_ERROR_SECONDS) from exc

    def _deliver_message(self, message, sqs_record, batch):
        sent_ms = int(sqs_record.attributes.sent_timestamp or self._clock() * 1000)
        webhook_item = batch.webhooks.get(message.webhook_id)
        record = batch.records.get((message.webhook_id, message.message_id))
        if record is not None and message.redelivery > record.redeliveries:
            record = self._reopened(message, sent_ms, record)
            if message.redelivery > record.redeliveries:
                log.warning("a replay whose record was never reopened is dropped",
                            extra={"messageID": message.message_id, "webhookID": message.webhook_id})
                return
        why_not = self._why_not_send(message, webhook_item, record)
        if why_not == "disabled":
            self._log.record_skipped(message, self._clock())  # kept, to replay once it is enabled again
            observability.count("Skipped")
        if why_not is not None:
            return
        if batch.deadline is not None and batch.deadline - time.monotonic() < self._settings.delivery_timeout_seconds + 2:
            raise ComeBackLater(0)  # not enough time left to wait for an endpoint
        now_ms = int(self._clock() * 1000)
        due_ms = record.next_attempt_ms if record else None
        if due_ms is None and not (record and record.attempt_count):
            due_ms = sent_ms + self._settings.retry_schedule_ms[0]
        if due_ms is not None and due_ms > now_ms + _DUE_SLACK_MS:
            raise ComeBackLater((due_ms - now_ms) / 1000.0)
        webhook = self._current_webhook(webhook_item, batch)
        wait = self._admission.admit(webhook, self._clock(), batch)
        if wait is not None:
            raise ComeBackLater(wait)  # held back: no attempt used, no record written
        self._attempt(message, sent_ms, webhook, webhook_item, record, batch)

    def _why_not_send(self, message, webhook_item, record):
        """None when ``message`` is still to be sent; else why not: ``removed`` (its webhook is
        gone), ``erased`` (about a person forgotten since), ``finished`` (delivered, given up or skipped already, or replaced by a later
        replay: a message SQS hands out twice is sent once), ``disabled`` (kept as skipped)."""
        if webhook_item is None or webhook_item["status"] == "removed":
            return "removed"
        if erased_before(webhook_item, message):
            return "erased"  # about a person erased after it was dispatched (chalicelib.store.erasure)
        if record is not None and (record.status in FINISHED or record.redeliveries > message.redelivery):
            return "finished"
        if webhook_item["status"] != "enabled":
            return "disabled"
        return None

    def _reopened(self, message, sent_ms, record):
        """The record of a replay that arrived before its record was reopened (the replay is
        queued first, then reopened: chalicelib.dispatch.replays), read again a few times, as it is
        reopened a moment after. Raises :class:`ComeBackLater` to look again later; once the
        replay is too old to wait for, the record as it stands."""
        for _ in range(_REOPEN_READS):
            if self._clock() * 1000 - sent_ms >= _REOPEN_WAIT_MS:
                return record
            self._sleep(_REOPEN_READ_SECONDS)
            record = self._log.get(message.webhook_id, message.message_id) or record
            if record.redeliveries >= message.redelivery:
                return record
        raise ComeBackLater(_REOPEN_POLL_SECONDS)

    def _current_webhook(self, webhook_item, batch):
        """The webhook, its secrets as they sign now: a rotated-out secret whose overlap ended is
        deleted, once for the batch."""
        now = self._clock()
        with batch.lock:
            webhook = Webhook.from_item(webhook_item)
            if webhook.signing_secrets(now) != webhook.secrets:
                webhook = self._webhooks.forget_old_secret(webhook, now)
                webhook_item["secrets"] = list(webhook.secrets)
        return webhook

    def _attempt(self, message, sent_ms, webhook, webhook_item, record, batch):
        """POST the message once and record the attempt; raise :class:`ComeBackLater` unless the
        message is finished with."""
        now = self._clock()
        number = (record.attempt_count if record else 0) + 1
        first = None
        try:
            if record is None or record.body is None:
                subject = (message.webhook_id, message.subject)
                sequence = self._log.claim_sequence(message, batch.counters.get(subject, (0, None)))
                batch.counters[subject] = (sequence, message.message_id)
                first = (delivery_body(message.type, message.webhook_id, message.data, message.timestamp, sequence),
                         sequence, record)
            request = signed_request(webhook, message.message_id, first[0] if first else record.body, now)
        except Exception:
            self._admission.done(webhook, None, batch)  # admitted, but not attempted: what it held goes back
            raise
        attempt = send(self._policy, self._sender, request)
        self._attempt_over(webhook, attempt, batch)
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
        attempt_record = attempt.to_record(number, now)
        try:
            recorded = self._log.record_attempt(message, number, attempt_record, status, next_ms, now,
                                                request["headers"], first, sent_body=shaped_body(request))
        except Exception:
            if not attempt.ok:
                raise  # it comes back, and is tried again
            # The endpoint has it: sending it again because our own write failed would be wrong.
            log.exception("a delivered message's record could not be written; it is not sent again",
                          extra={"messageID": message.message_id, "webhookID": message.webhook_id})
            observability.count("RecordLost")
            recorded = True
        observability.report_attempt(message, number, attempt, status, sent_ms, finished_ms)
        with batch.lock:
            self._health.after_attempt(webhook, webhook_item, attempt, finished_ms)
        if not recorded:
            # Another receipt of this message recorded this attempt first, or delivered it: the log decides.
            state = self._log.get(message.webhook_id, message.message_id)
            if state is None or state.status in FINISHED:
                return
            raise ComeBackLater(max(0.0, ((state.next_attempt_ms or 0) - self._clock() * 1000) / 1000.0))
        if status == "failed":
            self._notices.message_failed(webhook, message, {**attempt_record, "attempts": number})
        if delay is not None:
            raise ComeBackLater(delay)

    def _attempt_over(self, webhook, attempt, batch):
        """Tell the admission hook that an attempt is over. What it keeps (leases, marks, rates)
        must never stand between an endpoint's answer and the attempt's record: if it fails,
        the record is written all the same, or a delivered message would be POSTed again."""
        try:
            self._admission.done(webhook, attempt, batch)
        except Exception:
            log.exception("the admission hook failed after an attempt; the attempt is recorded all the same",
                          extra={"webhookID": webhook.webhook_id})


def _parse(record):
    try:
        return QueuedMessage.from_json(record["body"])
    except (ValueError, KeyError, TypeError):
        log.error("unreadable delivery message left for the dead-letter queue",
                  extra={"sqsMessageId": record.get("messageId")})
        return None

"""The delivery worker: delivers a batch of queued messages, records every attempt, schedules retries.

One message, from the queue to its POST and its record:

1. ``handle`` gets a Lambda SQS batch, reads what the batch needs in one request
   (:meth:`DeliveryLog.load`: the webhooks, the messages' records, the sequence counters), opens
   the batch's admission (chalicelib/delivery/admission.py) and runs each message group on a
   thread of its own, the groups of the batch in parallel.
2. A group is one webhook and one subject (a person, an activity...): SQS FIFO hands its
   messages out in order and holds the group while one is in flight. ``_deliver_group`` runs
   them in order through Powertools' ``SqsFifoPartialProcessor(skip_group_on_error=True)``,
   which stops the group at its first message that must come back and reports it and the
   group's later messages as the Lambda FIFO partial-batch contract wants. (One processor per
   group, each on its thread: the processor runs a batch's records one after another, so a
   single one would make ten groups to a 200 ms endpoint take two seconds.)
3. ``_deliver`` decides, in ``_why_not_send`` (the one place that does), whether the message is
   still to be sent; waits until it is due; asks admission; takes the message's ``sequence``
   (:meth:`DeliveryLog.claim_sequence`, before the POST); POSTs it (``_request`` builds and
   signs it; chalicelib/delivery/sender.py sends it, one deadline per attempt) under admission's
   watch; and writes the attempt's record, one conditional write
   (:meth:`DeliveryLog.record_attempt`), before the group's next message goes.
4. A message that must come back raises :class:`ComeBackLater`: it is hidden until due
   (ChangeMessageVisibility), and the group's later messages are made visible at once, so SQS
   hands them out again behind it, in order.

``handle`` returns a :class:`BatchOutcome`: the messages that come back, and what happened that
organizers are told of (messages given up, webhooks disabled); its caller tells them.

What a crash leaves (contract, section 13): a worker may die at any instant; what it held comes
back after the queue's visibility timeout, in order. A message sent again carries the same
webhook-id, body and sequence (the sequence counter remembers which message it was given to;
the record keeps the body). A message is POSTed again after a 2xx only when the worker died
between the answer and its record, a window one write wide.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from threading import Lock

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import observability
from chalicelib.delivery.admission import BatchAdmission
from chalicelib.delivery.endpoint_health import EndpointHealth
from chalicelib.delivery.log import FINISHED, FirstAttempt, RecordWrite
from chalicelib.delivery.outcomes import BatchOutcome, MessageGivenUp
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.delivery.sender import send, shaped_body, signed_request
from chalicelib.errors import Unavailable
from chalicelib.occurrences import delivery_body
from chalicelib.store.erasure import erased_before

logger = observability.logger

MAX_RETRY_AFTER_SECONDS = 3600  # an endpoint may ask for a pause, up to an hour
_DUE_SLACK_MS = 50  # a visibility timeout is whole seconds; a message back a hair early is due
_RETRY_AFTER_ERROR_SECONDS = 30
# A replay is queued before its record is reopened (webhook.redeliver): a message that arrives
# first waits this long for the reopening, then is dropped as a replay that did not happen.
_REOPEN_WAIT_MS = 30_000
_REOPEN_POLL_SECONDS = 2
_REOPEN_READS, _REOPEN_READ_SECONDS = 3, 0.05  # reopening follows queueing within milliseconds
_RECORD_PATIENCE_SECONDS = 30  # a record write waits this long for DynamoDB outside Lambda (tests, tools)
_HANDED_OVER_AGAIN_SECONDS = 5  # a handed-over record write that DynamoDB still refuses is tried again then


class ComeBackLater(Exception):
    """The message goes back on the queue, hidden for ``seconds``; its group's later ones too."""

    def __init__(self, seconds):
        super().__init__(f"back in {seconds:g}s")
        self.seconds = seconds


class Unreadable(Exception):
    """A message body that is not a delivery message: left for the dead-letter queue."""


@dataclass(frozen=True)
class _Back:
    """A message that comes back: hidden for ``seconds`` (0: visible at once, behind the one
    before it in its group; None: after the queue's visibility timeout)."""

    message_id: str
    receipt_handle: str
    seconds: float | None


@dataclass
class _Batch:
    """What the worker read for one batch, and what it came to. Several groups may be one
    webhook's: ``lock`` guards what they share (the webhooks as the batch sees them now, the
    events), so that two failing groups disable a webhook once."""

    messages: dict  # SQS messageId: QueuedMessage (None if unreadable)
    webhooks: dict  # webhookID: Webhook
    records: dict  # (webhookID, messageID): DeliveryRecord
    counters: dict  # (webhookID, subject): (last sequence, messageID it went to)
    deadline: float | None  # time.monotonic() when the invocation ends
    admit: BatchAdmission
    events: list = field(default_factory=list)
    hidden: dict = field(default_factory=dict)  # SQS messageId: seconds it comes back in (None: unreadable)
    lock: Lock = field(default_factory=Lock)


class DeliveryWorker:
    """Delivers a batch of queued messages; see the module docstring."""

    def __init__(self, webhooks, delivery_log, queue, policy, sender, settings, admission, clock=time.time,
                 sleep=time.sleep):
        self._webhooks = webhooks
        self._delivery_log = delivery_log
        self._queue = queue
        self._policy = policy
        self._sender = sender
        self._settings = settings
        self._admission = admission
        self._clock = clock
        self._sleep = sleep
        self._health = EndpointHealth(webhooks, settings.auto_disable_after_ms)

    def handle(self, records, remaining_ms=None):
        """Deliver what is due in ``records`` (Lambda SQS record dicts); a :class:`BatchOutcome`.

        Every record in its ``retry`` is back on the queue: one that failed stays hidden until it
        is due again, and the messages about the same subject behind it wait for it in the FIFO
        group.
        """
        try:
            messages = {record["messageId"]: _parse(record) for record in records}
            readable = [m for m in messages.values() if m is not None]
            webhooks, log_records, counters = self._delivery_log.load(readable) if readable else ({}, {}, {})
            deadline = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000.0
            groups = {}
            for record in records:  # SQS FIFO hands a group's messages over in order; keep that order
                group = record.get("attributes", {}).get("MessageGroupId") or record["messageId"]
                groups.setdefault(group, []).append(record)
            with self._admission.batch(webhooks[m.webhook_id] for m in readable if m.webhook_id in webhooks) as admit:
                batch = _Batch(messages, webhooks, log_records, counters, deadline, admit)
                with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="deliver") as pool:
                    back = [b for group in pool.map(lambda g: self._deliver_group(g, batch), groups.values())
                            for b in group]
            hidden = [(b.receipt_handle, b.seconds) for b in back if b.seconds is not None]
            if hidden:
                self._queue.retry_later(hidden)
            return BatchOutcome(retry=[b.message_id for b in back], events=batch.events)
        finally:
            observability.flush()

    def _deliver_group(self, records, batch):
        """Deliver one group's messages in order; the ones that come back (:class:`_Back`): the
        first that must, and every later one (the processor skips them: visible again at once,
        SQS keeps them behind it)."""
        # Imported here, by the delivery function only: the API's cold start does not pay for it.
        from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor

        processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        processor.raise_on_entire_batch_failure = False  # a group that all comes back is normal
        with processor(records, lambda record: self._deliver(record, batch)):
            processor.process()
        return [_Back(record.message_id, record.receipt_handle, batch.hidden.get(record.message_id, 0))
                for record in processor.fail_messages]

    def _deliver(self, sqs_record, batch):
        """Deliver one message; when it must come back, note for how long in ``batch.hidden`` and
        raise, so the processor stops its group."""
        message = batch.messages[sqs_record.message_id]
        try:
            if message is None:
                raise Unreadable(sqs_record.message_id)
            self._deliver_message(message, sqs_record, batch)
        except ComeBackLater as exc:
            batch.hidden[sqs_record.message_id] = exc.seconds
            raise
        except Unreadable:
            batch.hidden[sqs_record.message_id] = None  # after the queue's visibility timeout: the dead-letter queue
            raise
        except Exception as exc:  # one bad message must not lose the batch; it comes back
            logger.exception("delivery failed unexpectedly; it will be retried",
                             extra={"messageID": message.message_id, "webhookID": message.webhook_id})
            batch.hidden[sqs_record.message_id] = _RETRY_AFTER_ERROR_SECONDS
            raise ComeBackLater(_RETRY_AFTER_ERROR_SECONDS) from exc

    def _deliver_message(self, message, sqs_record, batch):
        if message.record is not None:
            return self._write_handed_over(message, batch)
        sent_ms = int(sqs_record.attributes.sent_timestamp or self._clock() * 1000)
        record = batch.records.get((message.webhook_id, message.message_id))
        if record is not None and message.redelivery > record.redeliveries:
            record = self._reopened(message, sent_ms, record)
            if message.redelivery > record.redeliveries:
                logger.warning("a replay whose record was never reopened is dropped",
                               extra={"messageID": message.message_id, "webhookID": message.webhook_id})
                return
        why_not = self._why_not_send(message, batch.webhooks.get(message.webhook_id), record)
        if why_not == "disabled":
            self._delivery_log.record_skipped(message, self._clock())  # kept, to replay once it is enabled again
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
        webhook = self._signing_now(message.webhook_id, batch)
        wait = batch.admit.hold_back(webhook, self._clock())
        if wait is not None:
            raise ComeBackLater(wait)  # held back: no attempt used, no record written
        self._attempt(message, sent_ms, webhook, record, batch)

    def _why_not_send(self, message, webhook, record):
        """None when ``message`` is still to be sent; else why not: ``removed`` (its webhook is
        gone), ``erased`` (about a person forgotten since), ``finished`` (delivered, given up or
        skipped already, or replaced by a later replay: a message SQS hands out twice is sent
        once), ``disabled`` (kept as skipped)."""
        if webhook is None or webhook.status == "removed":
            return "removed"
        if erased_before(webhook, message):
            return "erased"  # about a person erased after it was dispatched (chalicelib.store.erasure)
        if record is not None and (record.status in FINISHED or record.redeliveries > message.redelivery):
            return "finished"
        if webhook.status != "enabled":
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
            record = self._delivery_log.get(message.webhook_id, message.message_id) or record
            if record.redeliveries >= message.redelivery:
                return record
        raise ComeBackLater(_REOPEN_POLL_SECONDS)

    def _signing_now(self, webhook_id, batch):
        """The webhook, its secrets as they sign now: a rotated-out secret whose overlap ended is
        deleted, once for the batch."""
        now = self._clock()
        with batch.lock:
            webhook = batch.webhooks[webhook_id]
            if webhook.signing_secrets(now) != webhook.secrets:
                batch.webhooks[webhook_id] = webhook = self._webhooks.forget_old_secret(webhook, now)
        return webhook

    def _first_attempt(self, message, record, batch):
        """The body and sequence of the message's first numbered attempt, the sequence taken
        from its subject's counter now, before the POST."""
        subject = (message.webhook_id, message.subject)
        sequence = self._delivery_log.claim_sequence(message, batch.counters.get(subject, (0, None)))
        batch.counters[subject] = (sequence, message.message_id)
        body = delivery_body(message.type, message.webhook_id, message.data, message.timestamp, sequence)
        return FirstAttempt(body, sequence, earlier=record)

    @staticmethod
    def _request(webhook, message, body, now):
        """The request an attempt sends: the exact body, signed (chalicelib/delivery/sender.py)."""
        return signed_request(webhook, message.message_id, body, now)

    def _attempt(self, message, sent_ms, webhook, record, batch):
        """POST the message once and record the attempt; raise :class:`ComeBackLater` unless the
        message is finished with."""
        now = self._clock()
        number = (record.attempt_count if record else 0) + 1
        first = self._first_attempt(message, record, batch) if record is None or record.body is None else None
        request = self._request(webhook, message, first.body if first else record.body, now)
        attempt = batch.admit.attempt(webhook, lambda: send(self._policy, self._sender, request))
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
        attempt_record = attempt.to_record(number, now)
        recorded = self._keep(message, batch, self._delivery_log.record_write(
            message, attempt_record, status=status, now=now, headers=request["headers"], first=first,
            next_attempt_ms=None if delay is None else finished_ms + int(delay * 1000),
            sent_body=shaped_body(request)))
        observability.report_attempt(message, number, attempt, status, sent_ms, finished_ms)
        with batch.lock:
            try:
                batch.webhooks[webhook.webhook_id], disabled = self._health.after_attempt(
                    batch.webhooks[webhook.webhook_id], attempt, finished_ms)
            except (Unavailable, ClientError, BotoCoreError):  # the next attempt notes it again
                logger.warning("the endpoint's health could not be noted", extra={"webhookID": webhook.webhook_id})
                disabled = None
            if disabled is not None:
                batch.events.append(disabled)
        if not recorded:
            # Another receipt of this message recorded this attempt first, or delivered it: the log decides.
            state = self._delivery_log.get(message.webhook_id, message.message_id)
            if state is None or state.status in FINISHED:
                return
            raise ComeBackLater(max(0.0, ((state.next_attempt_ms or 0) - self._clock() * 1000) / 1000.0))
        if status == "failed":
            with batch.lock:
                batch.events.append(MessageGivenUp(webhook, message, attempt_record, number))
        if delay is not None:
            raise ComeBackLater(delay)


    def _keep(self, message, batch, write):
        """Write an attempt's record (a :class:`RecordWrite`), waiting for DynamoDB while the
        invocation allows; past that, hand the write to the queue, for a later invocation to make
        (the message itself is not sent again for it). As :meth:`DeliveryLog.write`: False when
        another receipt of the message recorded this attempt first."""
        try:
            return self._delivery_log.write(write, until=self._record_until(batch))
        except Exception:  # noqa: BLE001 - whatever failed, the attempt was made: its record must not be lost
            logger.exception("an attempt's record could not be written in time; it is handed to the queue",
                             extra={"messageID": message.message_id, "webhookID": message.webhook_id})
        try:
            self._queue.send([replace(message, record=write.to_json())])
            observability.count("RecordHandedOver")
        except Exception:  # noqa: BLE001 - see the log line
            logger.exception("an attempt's record could be neither written nor handed to the queue: it is lost",
                             extra={"messageID": message.message_id, "webhookID": message.webhook_id})
            observability.count("RecordLost")
        return True

    def _write_handed_over(self, message, batch):
        """Make a record write handed to the queue (see :meth:`_keep`); come back later while
        DynamoDB is still unavailable."""
        try:
            self._delivery_log.write(RecordWrite.from_json(message.record), until=self._record_until(batch))
        except Unavailable as exc:
            raise ComeBackLater(_HANDED_OVER_AGAIN_SECONDS) from exc
        observability.count("RecordWrittenLate")

    @staticmethod
    def _record_until(batch):
        """Until when a record write waits for DynamoDB: the invocation's end, less a second."""
        if batch.deadline is None:
            return time.monotonic() + _RECORD_PATIENCE_SECONDS
        return batch.deadline - 1.0

def _parse(record):
    try:
        return QueuedMessage.from_json(record["body"])
    except (ValueError, KeyError, TypeError):
        logger.error("unreadable delivery message left for the dead-letter queue",
                     extra={"sqsMessageId": record.get("messageId")})
        return None

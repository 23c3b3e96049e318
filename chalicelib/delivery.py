"""The delivery worker: signs and POSTs queued messages, records every attempt, schedules retries.

It is called with a batch of SQS records and answers which of them must come back (the Lambda
``batchItemFailures`` contract). A record is only ever reported for itself: one endpoint's
failure never makes another record of the batch be sent again.

Retries do not keep a Lambda waiting: a failed message is hidden on the queue until its next
attempt is due (ChangeMessageVisibility), and its state (attempts, next attempt time) lives in
the delivery log, which also makes a message that SQS hands out twice be sent only once.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import urllib3

from chalicelib.deliveries import QueuedMessage
from chalicelib.destinations import UnsafeDestination
from chalicelib.errors import NotFound
from chalicelib.signing import signature_header
from chalicelib.storage import Webhook

logger = logging.getLogger(__name__)

USER_AGENT = "InEvent-Webhooks/1.0"
MAX_RESPONSE_BYTES = 2048
_DUE_SLACK_MS = 50  # a visibility timeout is whole seconds; a message back a hair early is due
_RETRY_AFTER_ERROR_SECONDS = 30


def signed_request(webhook, message_id, body, timestamp):
    """The request a delivery makes: method, url, headers and the exact body, signed."""
    return {
        "method": "POST",
        "url": webhook.url,
        "headers": {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp)),
            "webhook-signature": signature_header(webhook.secrets, message_id, timestamp, body),
        },
        "body": body,
    }


@dataclass(frozen=True)
class Attempt:
    """What one POST came to. ``status_code`` is None when no HTTP answer came back."""

    status_code: object
    duration_ms: int
    error: object
    response: str

    @property
    def ok(self):
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_record(self, number, date):
        return {
            "attempt": number,
            "date": str(int(date)),
            "statusCode": self.status_code,
            "durationMs": self.duration_ms,
            "error": self.error,
            "response": self.response,
        }


class HttpSender:
    """POSTs over pooled connections, to the checked address, with no redirects and no retries."""

    def __init__(self, timeout_seconds, pool_manager=None):
        self._timeout = urllib3.Timeout(total=timeout_seconds)
        self._timeout_seconds = timeout_seconds
        self._pools = pool_manager or urllib3.PoolManager(num_pools=256, maxsize=10, retries=False)

    def post(self, target, headers, body):
        """POST ``body`` (bytes) to ``target``; an :class:`Attempt` whatever happens."""
        started = time.monotonic()
        tls = {"server_hostname": target.host, "assert_hostname": target.host} if target.scheme == "https" else None
        pool = self._pools.connection_from_host(target.address, target.port, target.scheme, pool_kwargs=tls)
        try:
            answer = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "host": target.host_header},
                redirect=False,
                retries=False,
                timeout=self._timeout,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                text = answer.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
            finally:
                # Reuse the connection only when the whole answer was read; never drain a big one.
                if answer.length_remaining == 0:
                    answer.release_conn()
                else:
                    answer.close()
        except urllib3.exceptions.HTTPError as exc:
            return Attempt(None, _elapsed_ms(started), self._describe(exc), "")
        error = None
        if 300 <= answer.status < 400:
            error = f"the endpoint answered {answer.status}, a redirect, and redirects are not followed"
        elif not 200 <= answer.status < 300:
            error = f"the endpoint answered {answer.status}"
        return Attempt(answer.status, _elapsed_ms(started), error, text)

    def _describe(self, exc):
        # NewConnectionError is a kind of timeout in urllib3 2: test it first.
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return "could not connect to the endpoint"
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            return f"the endpoint did not answer within {self._timeout_seconds:g}s"
        if isinstance(exc, urllib3.exceptions.SSLError):
            return "TLS handshake with the endpoint failed"
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            return "the endpoint closed the connection without a valid HTTP answer"
        return "the request to the endpoint failed"


def _elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)


@dataclass
class _Received:
    record_id: str
    receipt_handle: str
    group_id: str
    sent_ms: int
    message: object  # a QueuedMessage, or None when the body could not be read


class DeliveryWorker:
    """Delivers a batch of queued messages; see the module docstring."""

    def __init__(self, webhooks, log, queue, policy, sender, settings, clock=time.time):
        self._webhooks = webhooks
        self._log = log
        self._queue = queue
        self._policy = policy
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._executor = None
        self._lock = threading.Lock()

    def handle(self, records, remaining_ms=None):
        """Deliver what is due in ``records`` (Lambda SQS record dicts); return the IDs to retry.

        Every record returned is back on the queue: one that failed stays hidden until it is due
        again, and the messages about the same person behind it wait for it in the FIFO group.
        """
        received = [self._parse(record) for record in records]
        failed = [item.record_id for item in received if item.message is None]
        good = [item for item in received if item.message is not None]
        if not good:
            return failed
        webhooks, states = self._log.load(
            [item.message.webhook_id for item in good],
            [(item.message.webhook_id, item.message.message_id) for item in good],
        )
        groups = {}
        for item in good:  # SQS FIFO hands a group's messages over in order; keep that order
            groups.setdefault(item.group_id, []).append(item)
        deadline = None if remaining_ms is None else time.monotonic() + remaining_ms / 1000.0
        work = [lambda g=group: self._deliver_group(g, webhooks, states, deadline) for group in groups.values()]
        if len(work) == 1:
            results = [work[0]()]
        else:
            results = list(self._pool().map(lambda job: job(), work))
        later = [entry for group_later in results for entry in group_later]
        if later:
            self._queue.retry_later([(item.receipt_handle, delay) for item, delay in later])
        return failed + [item.record_id for item, _ in later]

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
            logger.error("unreadable delivery message %s left for the dead-letter queue", record.get("messageId"))
            message = None
        return _Received(
            record_id=record["messageId"],
            receipt_handle=record["receiptHandle"],
            group_id=attributes.get("MessageGroupId") or record["messageId"],
            sent_ms=int(attributes.get("SentTimestamp") or self._clock() * 1000),
            message=message,
        )

    def _deliver_group(self, group, webhooks, states, deadline):
        """Deliver one person's messages in order; return [(item, seconds)] to hide until due."""
        for index, item in enumerate(group):
            if deadline is not None and deadline - time.monotonic() < self._settings.delivery_timeout_seconds + 2:
                # Not enough time left to wait for an endpoint: hand the rest back at once.
                return [(later, 0) for later in group[index:]]
            try:
                delay = self._deliver_one(item, webhooks, states)
            except Exception:  # noqa: BLE001 - one bad record must not lose the batch; it comes back
                logger.exception("delivery of %s failed unexpectedly; it will be retried", item.message.message_id)
                delay = _RETRY_AFTER_ERROR_SECONDS
            if delay is not None:
                # The messages behind it about the same person go back at once: SQS FIFO holds
                # them behind this one, which is in flight until it is due, so order is kept.
                return [(item, delay)] + [(later, 0) for later in group[index + 1 :]]
        return []

    def _deliver_one(self, item, webhooks, states):
        """None when the message is finished with (delivered, given up, or not to be sent);
        else the seconds until it is due again."""
        message = item.message
        webhook_item = webhooks.get(message.webhook_id)
        if webhook_item is None or webhook_item["status"] == "removed":
            return None  # removed: nothing more is sent, queued messages included
        state = states.get((message.webhook_id, message.message_id)) or {}
        if state.get("status") in ("delivered", "failed"):
            return None  # already finished: a message received twice is not sent twice
        if webhook_item["status"] != "enabled":
            return None
        now_ms = int(self._clock() * 1000)
        due_ms = state.get("nextAttemptAt")
        if due_ms is None and not state.get("attemptCount"):
            due_ms = item.sent_ms + self._settings.retry_schedule_ms[0]
        if due_ms is not None and int(due_ms) > now_ms + _DUE_SLACK_MS:
            return (int(due_ms) - now_ms) / 1000.0
        return self._attempt(item, Webhook.from_item(webhook_item), int(state.get("attemptCount", 0)) + 1)

    def _attempt(self, item, webhook, number):
        message = item.message
        now = self._clock()
        try:
            target = self._policy.check(webhook.url)
        except UnsafeDestination as exc:
            attempt = Attempt(None, 0, f"not sent: {exc.message}", "")
        else:
            request = signed_request(webhook, message.message_id, message.body, now)
            attempt = self._sender.post(target, request["headers"], message.body.encode("utf-8"))
        schedule = self._settings.retry_schedule_ms
        gone = attempt.status_code == 410
        if attempt.ok:
            status, next_ms = "delivered", None
        elif gone or number >= len(schedule):
            status, next_ms = "failed", None
        else:
            status, next_ms = "pending", int(self._clock() * 1000) + schedule[number]
        logger.info(
            "attempt %s of %s to %s: %s",
            number,
            message.message_id,
            webhook.webhook_id,
            attempt.status_code if attempt.status_code is not None else attempt.error,
        )
        recorded = self._log.record_attempt(message, number, attempt.to_record(number, now), status, next_ms, now)
        if gone:
            try:
                self._webhooks.set_status(webhook, "disabled")
            except NotFound:
                pass  # removed meanwhile: nothing left to disable
        if not recorded:
            # Another receipt of this message recorded this attempt first; the log decides.
            state = self._log.get(message.webhook_id, message.message_id) or {}
            if state.get("status") in ("delivered", "failed"):
                return None
            return max(0.0, (int(state.get("nextAttemptAt") or 0) - self._clock() * 1000) / 1000.0)
        if status == "pending":
            return schedule[number] / 1000.0
        return None

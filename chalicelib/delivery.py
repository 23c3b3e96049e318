"""The delivery worker: signs and POSTs queued messages, records every attempt, schedules retries.

It is called with a batch of SQS records and answers which of them must come back (the Lambda
``batchItemFailures`` contract). A record is only ever reported for itself: one endpoint's
failure never makes another record of the batch be sent again.

Order: the queue is SQS FIFO, and a message group is one webhook and one person. SQS hands a
group's messages over in order and holds the group while one of them is in flight, so a
failing message keeps that person's later messages behind it while other people's go ahead.
(Standard queues with delays would be cheaper but cannot keep order; a table of per-person
locks would cost a write per delivery.)

Retries do not keep a Lambda waiting: a failed message is hidden on the queue until its next
attempt is due (ChangeMessageVisibility), and its state (attempts, next attempt time) lives in
the delivery log, whose conditional writes also make a message that SQS hands out twice be
sent only once.
"""

import codecs
import email.utils
import heapq
import itertools
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

# urllib3 is pinned in requirements.txt, so the functions carry their own copy rather than the
# Lambda runtime's (whatever version its botocore last needed, 1.26 in some runtimes): the
# deadline below relies on how urllib3 2 makes connections (the socket is there before the TLS
# handshake), and the tests prove the deadline and the undecoded reads on that version only.
import urllib3

from chalicelib import observability
from chalicelib.deliveries import FINISHED, QueuedMessage
from chalicelib.destinations import LookupTimedOut, UnsafeDestination
from chalicelib.errors import NotFound
from chalicelib.events import delivery_body
from chalicelib.signing import signature_header
from chalicelib.storage import Webhook

log = observability.logger

USER_AGENT = "InEvent-Webhooks/1.0"
MAX_RESPONSE_BYTES = 2048
MAX_RETRY_AFTER_SECONDS = 3600  # an endpoint may ask for a pause, up to an hour
_DUE_SLACK_MS = 50  # a visibility timeout is whole seconds; a message back a hair early is due
_RETRY_AFTER_ERROR_SECONDS = 30
_LOOK_AGAIN_SECONDS = 0.05  # how soon the watchdog looks again for a socket still connecting


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
            "webhook-signature": signature_header(webhook.signing_secrets(timestamp), message_id, timestamp, body),
        },
        "body": body,
    }


def send(policy, sender, webhook, message_id, body, now):
    """One signed POST of ``body`` to the webhook, to the address its URL resolves to now, if
    that address may be reached; an :class:`Attempt` whatever happens, within the sender's
    timeout (plus a little) from the name lookup to the last byte read."""
    started = time.monotonic()
    try:
        target = policy.check(webhook.url, timeout=sender.timeout_seconds)
    except UnsafeDestination as exc:
        return Attempt(None, _elapsed_ms(started), f"not sent: {exc.message}", "")
    except LookupTimedOut:
        error = f"{late(sender.timeout_seconds)}: looking up its name took longer"
        return Attempt(None, _elapsed_ms(started), error, "")
    request = signed_request(webhook, message_id, body, now)
    return sender.post(target, request["headers"], body.encode("utf-8"), started=started)


def late(timeout_seconds):
    """What a failed attempt says when it ran out of time."""
    return f"the endpoint did not answer within {timeout_seconds:g}s"


@dataclass(frozen=True)
class Attempt:
    """What one POST came to. ``status_code`` is None when no HTTP answer came back."""

    status_code: object
    duration_ms: int
    error: object
    response: str
    retry_after: object = None  # seconds an endpoint asked us to wait (429 or 503), if any

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


def parse_retry_after(value, now):
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0, int(when.timestamp() - now))


class HttpSender:
    """POSTs over pooled connections, to the checked address, with no redirects and no retries,
    each attempt ending at one deadline."""

    def __init__(self, timeout_seconds, pool_manager=None, clock=time.time):
        self.timeout_seconds = timeout_seconds
        self._pools = pool_manager or urllib3.PoolManager(num_pools=256, maxsize=10, retries=False)
        self._pools.pool_classes_by_scheme = _WATCHED_POOLS  # connections that keep to a deadline
        self._clock = clock

    def post(self, target, headers, body, started=None):
        """POST ``body`` (bytes) to ``target``; an :class:`Attempt` whatever happens, within the
        timeout from ``started`` (a ``time.monotonic()``; now if not given) plus a little."""
        started = time.monotonic() if started is None else started
        deadline = _Deadline(started + self.timeout_seconds)
        tls = {"server_hostname": target.host, "assert_hostname": target.host} if target.scheme == "https" else None
        pool = self._pools.connection_from_host(target.address, target.port, target.scheme, pool_kwargs=tls)
        answer = None
        try:
            with deadline:
                left = deadline.left()
                answer = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    # The answer is kept as sent: no compression is asked for (and none inflated).
                    headers={**headers, "host": target.host_header, "accept-encoding": "identity"},
                    redirect=False,
                    retries=False,
                    timeout=urllib3.Timeout(connect=left, read=left),
                    preload_content=False,
                    decode_content=False,
                    assert_same_host=False,
                )
                text = _bounded_text(answer.read(MAX_RESPONSE_BYTES, decode_content=False))
        except urllib3.exceptions.HTTPError as exc:
            # Whatever broke when the watchdog shut the socket down, the attempt was late.
            error = late(self.timeout_seconds) if deadline.expired else self._describe(exc)
            return Attempt(None, _elapsed_ms(started), error, "")
        finally:
            if answer is not None:
                # Reuse the connection only when the whole answer was read in time; never drain a big one.
                if answer.length_remaining == 0 and not deadline.expired:
                    answer.release_conn()
                else:
                    answer.close()
        if deadline.expired:
            return Attempt(None, _elapsed_ms(started), late(self.timeout_seconds), "")
        error = retry_after = None
        if 300 <= answer.status < 400:
            error = f"the endpoint answered {answer.status}, a redirect, and redirects are not followed"
        elif not 200 <= answer.status < 300:
            error = f"the endpoint answered {answer.status}"
            if answer.status in (429, 503):
                retry_after = parse_retry_after(answer.headers.get("retry-after"), self._clock())
        return Attempt(answer.status, _elapsed_ms(started), error, text, retry_after)

    def _describe(self, exc):
        # NewConnectionError is a kind of timeout in urllib3 2: test it first.
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return "could not connect to the endpoint"
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            return late(self.timeout_seconds)
        if isinstance(exc, urllib3.exceptions.SSLError):
            return "TLS handshake with the endpoint failed"
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            return "the endpoint closed the connection without a valid HTTP answer"
        return "the request to the endpoint failed"


def _bounded_text(data):
    """``data``, the first bytes of an answer, as text of at most MAX_RESPONSE_BYTES in UTF-8.

    A character cut at the end is left out rather than replaced; each invalid byte becomes
    U+FFFD, three bytes in UTF-8, so the text is trimmed again, on a character boundary."""
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)
    return text.encode("utf-8")[:MAX_RESPONSE_BYTES].decode("utf-8", "ignore")


class _Deadline:
    """The moment one attempt must be over, and the connection it is using meanwhile.

    Socket timeouts bound each read, not the attempt: an endpoint that drips its answer, or sends
    ``100 Continue`` for ever, never trips them. So while an attempt runs (``with deadline:``) the
    connections it uses report to it (see :class:`_Watched`), and at the deadline the
    watchdog shuts the connection's socket down, which ends whatever was waiting on it at once.
    """

    _current = threading.local()  # the deadline of the attempt running on this thread

    def __init__(self, at):
        self.at = at
        self.expired = False
        self._connection = None
        self._over = False
        self._lock = threading.Lock()

    def left(self):
        """Seconds left, never quite none: a socket timeout of 0 would make it non-blocking."""
        return max(0.01, self.at - time.monotonic())

    def __enter__(self):
        _Deadline._current.deadline = self
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *exc):
        _Deadline._current.deadline = None
        with self._lock:
            self._over = True

    @classmethod
    def note(cls, connection):
        """Tell the deadline of the attempt running on this thread, if any, that it uses ``connection``."""
        deadline = getattr(cls._current, "deadline", None)
        if deadline is not None:
            with deadline._lock:
                deadline._connection = connection

    def expire(self):
        """Shut the attempt's socket down if it is still running; True to be called again soon
        (its connection has no socket yet)."""
        with self._lock:
            if self._over:
                return False
            self.expired = True
            sock = self._connection.sock if self._connection is not None else None
            if sock is None:
                return True
            try:
                # The plain socket's shutdown, also for TLS: it must not touch the TLS state that
                # the attempt's thread may be using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile
            return False


class _Watchdog:
    """One thread that expires every deadline when it comes (see :class:`_Deadline`)."""

    def __init__(self):
        self._due = []  # a heap of (when, number, deadline)
        self._numbers = itertools.count()
        self._changed = threading.Condition()
        self._thread = None

    def watch(self, deadline):
        with self._changed:
            heapq.heappush(self._due, (deadline.at, next(self._numbers), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            if self._due[0][2] is deadline:
                self._changed.notify()

    def _run(self):
        with self._changed:
            while True:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, deadline = heapq.heappop(self._due)
                if deadline.expire():
                    heapq.heappush(self._due, (time.monotonic() + _LOOK_AGAIN_SECONDS, next(self._numbers), deadline))


_WATCHDOG = _Watchdog()


class _Watched:
    """Makes a connection report to the deadline of the attempt using it (TLS connects before the
    request is sent, plain HTTP while sending it)."""

    def connect(self):
        _Deadline.note(self)
        super().connect()

    def request(self, *args, **kwargs):
        _Deadline.note(self)
        super().request(*args, **kwargs)


class _WatchedConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


def _elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)


@dataclass
class _Received:
    record_id: str
    receipt_handle: str
    group_id: str
    sent_ms: int
    message: object  # a QueuedMessage, or None when the body could not be read


@dataclass
class _Batch:
    """What the worker read for one batch: webhook items, message records, sequence counters."""

    webhooks: dict
    records: dict
    sequences: dict
    deadline: object = None


class DeliveryWorker:
    """Delivers a batch of queued messages; see the module docstring."""

    def __init__(self, webhooks, log_store, queue, policy, sender, settings, clock=time.time):
        self._webhooks = webhooks
        self._log = log_store
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
        """Deliver one person's messages in order; return [(item, seconds)] to put back."""
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
                # The messages behind it about the same person go back at once: SQS FIFO holds
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
        record = batch.records.get((message.webhook_id, message.message_id)) or {}
        status = record.get("status")
        if status in FINISHED or int(record.get("redeliveries", 0)) > message.redelivery:
            return None  # finished, or replaced by a redelivery: a message received twice is sent once
        if webhook_item["status"] != "enabled":
            self._log.record_skipped(message, self._clock())
            observability.count("Skipped")
            return None
        now_ms = int(self._clock() * 1000)
        due_ms = record.get("nextAttemptAt")
        if due_ms is None and not record.get("attemptCount"):
            due_ms = item.sent_ms + self._settings.retry_schedule_ms[0]
        if due_ms is not None and int(due_ms) > now_ms + _DUE_SLACK_MS:
            return (int(due_ms) - now_ms) / 1000.0
        return self._attempt(item, webhook_item, record, batch)

    def _attempt(self, item, webhook_item, record, batch):
        message = item.message
        webhook = Webhook.from_item(webhook_item)
        number = int(record.get("attemptCount", 0)) + 1
        body, numbered = record.get("body"), None
        person = (message.webhook_id, message.person_id)
        if body is None:
            sequence = batch.sequences.get(person, 0) + 1
            body = delivery_body(message.type, message.webhook_id, message.data, message.timestamp, sequence)
            numbered = (sequence, body)
        now = self._clock()
        attempt = send(self._policy, self._sender, webhook, message.message_id, body, now)
        schedule = self._settings.retry_schedule_ms
        attempts_this_round = number - int(record.get("attemptBase", 0))
        gone = attempt.status_code == 410
        if attempt.ok:
            status, delay = "delivered", None
        elif gone or attempts_this_round >= len(schedule):
            status, delay = "failed", None
        else:
            status, delay = "pending", schedule[attempts_this_round] / 1000.0
            if attempt.retry_after is not None:
                delay = max(delay, min(attempt.retry_after, MAX_RETRY_AFTER_SECONDS))
        finished_ms = int(self._clock() * 1000)
        next_ms = None if delay is None else finished_ms + int(delay * 1000)
        if numbered is not None:
            # Recorded before going on, not at the end of the batch (a worker that dies mid-batch
            # must not send again what it had already delivered), in one request with the
            # records of the deliveries that finish at the same moment.
            self._log.write_together(self._log.first_attempt_items(
                message, attempt.to_record(number, now), status, next_ms, now, numbered[0], numbered[1], record))
            recorded = True
        else:
            recorded = self._log.record_attempt(message, number, attempt.to_record(number, now), status, next_ms,
                                                now)
        self._report(message, webhook, number, attempt, status, item.sent_ms, finished_ms)
        self._mind_health(webhook, webhook_item, attempt, finished_ms)
        if not recorded:
            # Another receipt of this message recorded this attempt first; the log decides.
            state = self._log.get(message.webhook_id, message.message_id) or {}
            if state.get("status") in FINISHED:
                return None
            return max(0.0, (int(state.get("nextAttemptAt") or 0) - self._clock() * 1000) / 1000.0)
        if numbered is not None:
            batch.sequences[person] = numbered[0]
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

    def _mind_health(self, webhook, webhook_item, attempt, now_ms):
        """410 disables at once; failing without a success for too long disables too."""
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
                self._disable(webhook, webhook_item, "the endpoint has not accepted a delivery for too long")
        except NotFound:
            pass  # removed meanwhile: nothing left to disable

    def _disable(self, webhook, webhook_item, reason):
        if webhook_item.get("status") != "enabled":
            return
        self._webhooks.set_status(webhook, "disabled")
        webhook_item["status"] = "disabled"
        observability.count("Disabled")
        log.warning("webhook disabled", extra={"webhookID": webhook.webhook_id, "reason": reason})

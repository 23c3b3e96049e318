"""Sending one delivery: the signed request, the HTTP attempt, and what it came to."""

import codecs
import email.utils
import heapq
import itertools
import socket
import threading
import time
from dataclasses import dataclass

# urllib3 is pinned in requirements.txt, so the functions carry their own copy rather than the
# Lambda runtime's (whatever version its botocore last needed, 1.26 in some runtimes): the
# deadline below relies on how urllib3 2 makes connections (the socket is there before the TLS
# handshake), and the tests prove the deadline and the undecoded reads on that version only.
import urllib3

from chalicelib.destinations import LookupTimedOut, UnsafeDestination
from chalicelib.signing import signature_header

USER_AGENT = "InEvent-Webhooks/1.0"
MAX_RESPONSE_BYTES = 2048
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

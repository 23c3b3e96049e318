"""Sending one delivery: the signed request, the HTTP attempt, and what it came to."""

import codecs
import email.utils
import http.client
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

# urllib3 is pinned in requirements.txt, so the functions carry their own copy rather than the
# Lambda runtime's (whatever version its botocore last needed, 1.26 in some runtimes): the
# deadline (chalicelib/delivery/deadlines.py) relies on how urllib3 2 makes connections (the socket is there before the TLS
# handshake), and the tests prove the deadline and the undecoded reads on that version only.
import urllib3

from chalicelib.delivery.credentials import AuthFailed
from chalicelib.delivery.deadlines import WATCHED_POOLS, Deadline
from chalicelib.delivery.destinations import LookupTimedOut, UnsafeDestination
from chalicelib.delivery.signing import signature_header
from chalicelib.observability import leave_queries_out_of_http_logs, logger as log

USER_AGENT = "InEvent-Webhooks/1.0"
MAX_RESPONSE_BYTES = 2048


REDACTED = "[redacted]"
# The headers the service sets itself; any other a request carries is the receiver's own, a secret.
SERVICE_HEADERS = frozenset({"content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"})


def signed_request(webhook, message_id, body, timestamp):
    """The request a delivery makes: method, url, headers (the receiver's own after the service's)
    and the exact body, signed. Every path that signs (deliveries, test sends, the request
    example) calls it.

    ``body`` is section 4's JSON text. A webhook with a template (section 21) is sent the body
    its template makes of it, with the template's content type, signed over those bytes; when
    the template cannot make it (too large, too much work, invalid JSON), the request carries
    ``error``, why, and an empty body, and :func:`send` sends nothing. For a webhook with
    ``auth`` (section 20) the request also holds ``auth``, ``(webhookID, EndpointAuth)``, and an
    Authorization header whose access token :func:`send` puts in as it sends (shown as
    ``[redacted]`` wherever a request is shown)."""
    content_type, error = "application/json", None
    if webhook.template is not None:
        body, content_type, error = _shaped(webhook.template, body)
    request = {
        "method": "POST",
        "url": webhook.url,
        "headers": {
            "content-type": content_type,
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp)),
            "webhook-signature": signature_header(webhook.signing_secrets(timestamp), message_id, timestamp, body),
            **dict(webhook.headers),
        },
        "body": body,
    }
    if webhook.template is not None:
        request["shaped"] = True
    if error is not None:
        request["error"] = error
    if webhook.auth is not None:
        request["headers"]["authorization"] = REDACTED
        request["auth"] = (webhook.webhook_id, webhook.auth)
    return request


def _shaped(template, body):
    """``(body, content type, None)`` as ``template`` makes them of ``body``, or ``("", its
    content type, why)`` when it cannot."""
    # Imported here, by a templated webhook's first delivery: no function's cold start pays for it.
    from chalicelib.templates.webhook_template import TemplateFailed, shaped

    try:
        return (*shaped(template, body), None)
    except TemplateFailed as exc:
        return "", template.get("contentType", "application/json"), f"not sent: {exc}"


def shaped_body(request):
    """The body ``request`` sends when a template made it (the delivery log keeps it beside the
    section-4 body it was made from), else None."""
    return request["body"] if request.get("shaped") else None


def redacted(headers):
    """``headers`` as they may be kept or shown: the receiver's own values are secrets (section 14)."""
    return {name: value if name in SERVICE_HEADERS else REDACTED for name, value in headers.items()}


def send(policy, sender, request):
    """One POST of ``request`` (a :func:`signed_request`) to the address its URL resolves to now,
    if that address may be reached; an :class:`Attempt` whatever happens, within the sender's
    timeout (plus a little) from the name lookup to the last byte read. For a webhook with
    ``auth``, the access token is got first (:mod:`chalicelib.delivery.credentials`), within the
    same deadline; an attempt without one fails with an error that begins ``auth:``."""
    started = time.monotonic()
    if request.get("error"):
        return Attempt(None, 0, request["error"], "")
    headers, auth, token = request["headers"], request.get("auth"), None
    if auth is not None:
        try:
            if sender.credentials is None:
                raise AuthFailed("this sender cannot get access tokens")
            token = sender.credentials.bearer(*auth, policy, sender, started)
        except AuthFailed as exc:
            return Attempt(None, _elapsed_ms(started), str(exc), "")
        headers = {**headers, "authorization": f"Bearer {token}"}
    try:
        target = policy.check(request["url"], timeout=max(0.01, started + sender.timeout_seconds - time.monotonic()))
    except LookupTimedOut:  # before UnsafeDestination, of which it is one: here the endpoint was late
        error = f"{late(sender.timeout_seconds)}: looking up its name took longer"
        return Attempt(None, _elapsed_ms(started), error, "")
    except UnsafeDestination as exc:
        return Attempt(None, _elapsed_ms(started), f"not sent: {exc.message}", "")
    attempt = sender.post(target, headers, request["body"].encode("utf-8"), started=started)
    if token is not None and attempt.status_code == 401:
        try:
            sender.credentials.drop(auth[0], token)  # the next attempt gets a new one
        except Exception:  # noqa: BLE001 - the attempt is over and recorded all the same; the token expires anyway
            log.exception("a refused access token could not be dropped", extra={"webhookID": auth[0]})
    return attempt


def late(timeout_seconds, who="the endpoint"):
    """What a failed attempt says when it ran out of time."""
    return f"{who} did not answer within {timeout_seconds:g}s"


@dataclass(frozen=True)
class Attempt:
    """What one POST came to. ``status_code`` is None when no HTTP answer came back."""

    status_code: int | None
    duration_ms: int
    error: str | None
    response: str
    retry_after: int | None = None  # seconds an endpoint asked us to wait (429 or 503), if any

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
    each attempt ending at one deadline. ``credentials`` (a
    :class:`chalicelib.delivery.credentials.AccessTokens`) gets the access tokens of endpoints
    that ask for them."""

    user_agent = USER_AGENT

    def __init__(self, timeout_seconds, pool_manager=None, clock=time.time, credentials=None):
        self.timeout_seconds = timeout_seconds
        self.credentials = credentials
        self._pools = pool_manager or urllib3.PoolManager(num_pools=256, maxsize=10, retries=False)
        self._pools.pool_classes_by_scheme = WATCHED_POOLS  # connections that keep to a deadline
        self._clock = clock
        leave_queries_out_of_http_logs()  # urllib3 logs the URLs it sends to

    def post(self, target, headers, body, started=None):
        """POST ``body`` (bytes) to ``target``; an :class:`Attempt` whatever happens, within the
        timeout from ``started`` (a ``time.monotonic()``; now if not given) plus a little."""
        started = time.monotonic() if started is None else started
        reply = self.exchange(target, headers, body, started, MAX_RESPONSE_BYTES)
        if reply.error is not None:
            return Attempt(None, _elapsed_ms(started), reply.error, "")
        error = retry_after = None
        if 300 <= reply.status < 400:
            error = f"the endpoint answered {reply.status}, a redirect, and redirects are not followed"
        elif not 200 <= reply.status < 300:
            error = f"the endpoint answered {reply.status}"
            if reply.status in (429, 503):
                retry_after = parse_retry_after(reply.headers.get("retry-after"), self._clock())
        return Attempt(reply.status, _elapsed_ms(started), error, _bounded_text(reply.data), retry_after)

    def exchange(self, target, headers, body, started, read_limit, who="the endpoint"):
        """POST ``body`` (bytes) to ``target`` and read at most ``read_limit`` bytes of the answer,
        as sent, all within the timeout from ``started`` (a ``time.monotonic()``): a
        :class:`Reply`, whose ``error`` (about ``who``) says why no answer came, if none did."""
        deadline = Deadline(started + self.timeout_seconds)
        tls = {"server_hostname": target.host, "assert_hostname": target.host} if target.scheme == "https" else None
        pool = self._pools.connection_from_host(target.address, target.port, target.scheme, pool_kwargs=tls)
        answer = None
        try:
            with deadline:
                while True:
                    left = deadline.left()
                    try:
                        answer = pool.urlopen(
                            "POST",
                            target.path,
                            body=body,
                            # The answer is kept as sent: no compression is asked for (and none inflated).
                            # A receiver's own Accept-Encoding (allowed by section 14) gives way to ours.
                            headers={**{k: v for k, v in headers.items() if k.lower() != "accept-encoding"},
                                     "host": target.host_header, "accept-encoding": "identity"},
                            redirect=False,
                            retries=False,
                            timeout=urllib3.Timeout(connect=left, read=left),
                            preload_content=False,
                            decode_content=False,
                            assert_same_host=False,
                        )
                        break
                    except urllib3.exceptions.ProtocolError as exc:
                        # A kept-alive connection the endpoint had closed: the request was not
                        # received. Send it again, on another connection (urllib3 dropped this
                        # one), within the same deadline; each stale one is dropped, so it ends.
                        if not (deadline.reused and not deadline.expired and _closed_before_answering(exc)):
                            raise
                data = answer.read(read_limit, decode_content=False)
        except urllib3.exceptions.HTTPError as exc:
            # Whatever broke when the deadline shut the socket down, the attempt was late.
            return Reply(error=late(self.timeout_seconds, who) if deadline.expired else self._describe(exc, who))
        finally:
            if answer is not None:
                # Reuse the connection only when the whole answer was read in time; never drain a big one.
                if answer.length_remaining == 0 and not deadline.expired:
                    answer.release_conn()
                else:
                    answer.close()
        if deadline.expired:
            return Reply(error=late(self.timeout_seconds, who))
        return Reply(answer.status, answer.headers, data)

    def _describe(self, exc, who):
        # NewConnectionError is a kind of timeout in urllib3 2: test it first.
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return f"could not connect to {who}"
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            return late(self.timeout_seconds, who)
        if isinstance(exc, urllib3.exceptions.SSLError):
            return f"TLS handshake with {who} failed"
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            return f"{who} closed the connection without a valid HTTP answer"
        return f"the request to {who} failed"


@dataclass(frozen=True)
class Reply:
    """What :meth:`HttpSender.exchange` got: the status, the headers and the first bytes of the
    answer, or the ``error`` that says why no answer came."""

    status: int | None = None
    headers: Mapping = field(default_factory=dict)
    data: bytes = b""
    error: str | None = None


def _closed_before_answering(exc):
    """Whether urllib3's ``exc`` says the connection was closed or reset before any byte of an answer."""
    return any(isinstance(cause, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
               for cause in exc.args)


def _bounded_text(data):
    """``data``, the first bytes of an answer, as text of at most MAX_RESPONSE_BYTES in UTF-8.

    A character cut at the end is left out rather than replaced; each invalid byte becomes
    U+FFFD, three bytes in UTF-8, so the text is trimmed again, on a character boundary."""
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)
    return text.encode("utf-8")[:MAX_RESPONSE_BYTES].decode("utf-8", "ignore")


def _elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)

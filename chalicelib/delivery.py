"""Sending one delivery: the signed request, the HTTP attempt, and what it came to."""

import email.utils
import time
from dataclasses import dataclass

import urllib3

from chalicelib.destinations import UnsafeDestination
from chalicelib.signing import signature_header

USER_AGENT = "InEvent-Webhooks/1.0"
MAX_RESPONSE_BYTES = 2048


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
    that address may be reached; an :class:`Attempt` whatever happens."""
    try:
        target = policy.check(webhook.url)
    except UnsafeDestination as exc:
        return Attempt(None, 0, f"not sent: {exc.message}", "")
    request = signed_request(webhook, message_id, body, now)
    return sender.post(target, request["headers"], body.encode("utf-8"))


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
    """POSTs over pooled connections, to the checked address, with no redirects and no retries."""

    def __init__(self, timeout_seconds, pool_manager=None, clock=time.time):
        self._timeout = urllib3.Timeout(total=timeout_seconds)
        self._timeout_seconds = timeout_seconds
        self._pools = pool_manager or urllib3.PoolManager(num_pools=256, maxsize=10, retries=False)
        self._clock = clock

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
            return f"the endpoint did not answer within {self._timeout_seconds:g}s"
        if isinstance(exc, urllib3.exceptions.SSLError):
            return "TLS handshake with the endpoint failed"
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            return "the endpoint closed the connection without a valid HTTP answer"
        return "the request to the endpoint failed"


def _elapsed_ms(started):
    return int((time.monotonic() - started) * 1000)

"""Hostile endpoints: an attempt ends at its one deadline however slowly an endpoint answers, and
what is kept of an answer is what was sent, bounded (contract, 10)."""

import gzip
import ipaddress
import socket
import socketserver
import ssl
import threading
import time

import pytest
import urllib3

from chalicelib.delivery.destinations import DestinationPolicy
from chalicelib.delivery.sender import HttpSender, send, signed_request
from chalicelib.services import get_services
from tests.helpers import stored_message
from tests.service.helpers import FakeDNS
from tests.service.helpers import certificate_for, webhook

TIMEOUT = 1  # DELIVERY_TIMEOUT_SECONDS in these tests
BOUND = TIMEOUT + 1.5  # the contract allows one second more; half a second more for a busy machine
DRIP = 0.5  # seconds between two bytes of a dripping answer
LATE = f"did not answer within {TIMEOUT}s"


def dripped(data):
    return [(DRIP, data[i : i + 1]) for i in range(len(data))]


# Each would take 20 s or more to answer in full (or to break http.client's limits).
SLOW = {
    "status line": lambda: dripped(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
    "headers": lambda: [(0, b"HTTP/1.1 200 OK\r\n")] + dripped(b"x-slow: %s\r\ncontent-length: 0\r\n\r\n" % (b"." * 24)),
    "body": lambda: [(0, b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n")] + dripped(b"." * 40),
    # Each interim answer comes quickly, so no single read ever waits long.
    "endless 100 Continue": lambda: ((0.01, b"HTTP/1.1 100 Continue\r\n\r\n") for _ in range(3000)),
    # http.client gives up after 100 header lines, 20 s in; each line comes well within the timeout.
    "thousands of header lines": lambda: [(0, b"HTTP/1.1 200 OK\r\n")] + [(0.2, b"x-%d: v\r\n" % n) for n in range(5000)],
}


def answer(body, *headers):
    head = b"".join(h + b"\r\n" for h in (b"HTTP/1.1 200 OK", b"content-length: %d" % len(body), *headers))
    return lambda: [(0, head + b"\r\n" + body)]


class RawEndpoint:
    """A TCP server on loopback that reads each request and answers it from ``script``: a
    function giving (pause, bytes) pairs, each sent after its pause, until the client hangs up."""

    def __init__(self, script):
        self.requests = []  # the headers of each request, names in lower case
        self.stopped = threading.Event()
        endpoint = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                endpoint.requests.append(read_request(self.request))
                for pause, chunk in script():
                    if endpoint.stopped.wait(pause):
                        return
                    try:
                        self.request.sendall(chunk)
                    except OSError:
                        return  # the client hung up

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/in"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


def read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return headers


def attempt_of(api, worker, hook, how):
    """Make one attempt at ``hook``, by ``webhook.test`` or by a dispatched message and the
    worker; return what the API says of it, the message (None for a test send) and the seconds."""
    if how == "webhook.test":
        started = time.monotonic()
        status, attempt = api.call("webhook.test", webhookID=hook["webhookID"])
        elapsed = time.monotonic() - started
        assert status == 200, attempt
        return attempt, None, elapsed
    message_id = api.dispatch()["messageID"]
    started = time.monotonic()
    assert worker.run(until=lambda: (stored_message(hook["webhookID"], message_id) or {}).get("attempts"), timeout=60)
    elapsed = time.monotonic() - started
    status, log = api.call("webhook.deliveries", http="GET", webhookID=hook["webhookID"])
    assert status == 200, log
    (message,) = [m for m in log["data"] if m["messageID"] == message_id]
    return message["attempts"][-1], message, elapsed


def assert_late(attempt, message, elapsed):
    """A failed attempt that says it timed out, that ended in time, and that waits for its retry."""
    assert elapsed <= BOUND, elapsed
    assert attempt["statusCode"] is None and LATE in attempt["error"], attempt
    assert attempt["durationMs"] <= (TIMEOUT + 1) * 1000
    if message is not None:
        assert len(message["attempts"]) == 1
        assert message["status"] == "pending" and int(message["nextAttemptDate"]) >= time.time() + 3000


HOW = ["webhook.test", "worker"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("shape", sorted(SLOW))
def test_an_endpoint_answering_slowly_fails_the_attempt_at_the_deadline(api, worker, settings, shape, how):
    settings(DELIVERY_TIMEOUT_SECONDS=str(TIMEOUT), RETRY_SCHEDULE="0s,1h")
    with RawEndpoint(SLOW[shape]) as endpoint:
        hook = api.create(endpoint.url)
        attempt, message, elapsed = attempt_of(api, worker, hook, how)
    assert len(endpoint.requests) == 1
    assert_late(attempt, message, elapsed)


def test_an_https_endpoint_dripping_its_answer_fails_the_attempt_at_the_deadline(tmp_path):
    cert, key = certificate_for("hooks.example.test", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve():
            with context.wrap_socket(listener.accept()[0], server_side=True) as conn:
                read_request(conn)
                for pause, chunk in SLOW["status line"]():
                    time.sleep(pause)
                    try:
                        conn.sendall(chunk)
                    except OSError:
                        return

        threading.Thread(target=serve, daemon=True).start()
        dns = FakeDNS(**{"hooks.example.test": ["127.0.0.1"]})
        policy = DestinationPolicy([ipaddress.ip_network("127.0.0.0/8")], resolver=dns)
        sender = HttpSender(TIMEOUT, pool_manager=urllib3.PoolManager(ca_certs=str(cert), retries=False))
        url = f"https://hooks.example.test:{listener.getsockname()[1]}/in"
        started = time.monotonic()
        attempt = send(policy, sender, signed_request(webhook(url), "msg_1", "{}", time.time()))
    assert time.monotonic() - started <= BOUND
    assert attempt.status_code is None and LATE in attempt.error


class SlowDNS:
    """Resolves every name to loopback, in five seconds once ``slow`` is set."""

    def __init__(self):
        self.slow = False
        self.released = threading.Event()

    def __call__(self, host, port, family=0, type=0, *rest):
        if self.slow:
            self.released.wait(5)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


@pytest.mark.parametrize("how", HOW)
def test_a_name_lookup_slower_than_the_deadline_is_given_up(api, worker, settings, how):
    settings(DELIVERY_TIMEOUT_SECONDS=str(TIMEOUT), RETRY_SCHEDULE="0s,1h")
    services = get_services()
    dns = SlowDNS()
    services.__dict__["policy"] = DestinationPolicy(services.settings.allow_networks, resolver=dns)
    try:
        with RawEndpoint(answer(b"ok")) as endpoint:
            hook = api.create(f"http://hooks.example.test:{endpoint.port}/in")
            dns.slow = True
            attempt, message, elapsed = attempt_of(api, worker, hook, how)
    finally:
        dns.released.set()
    assert endpoint.requests == []
    assert_late(attempt, message, elapsed)


def test_a_slow_endpoint_does_not_hold_up_the_others_of_its_batch(api, receiver, worker, settings):
    timeout = 3
    settings(DELIVERY_TIMEOUT_SECONDS=str(timeout), RETRY_SCHEDULE="0s,1h")
    handler, batches = worker.poller._handler, []

    def counting(event, context):
        batches.append(len(event["Records"]))
        return handler(event, context)

    worker.poller._handler = counting
    with RawEndpoint(SLOW["body"]) as slow:
        slow_hook = api.create(slow.url)
        fast_hook = api.create(receiver.url)
        message_id = api.dispatch()["messageID"]  # one event, two webhooks: two messages
        started, started_at = time.monotonic(), time.time()
        assert worker.run(until=lambda: all((stored_message(h["webhookID"], message_id) or {}).get("attempts")
                                            for h in (slow_hook, fast_hook)), timeout=60)
        elapsed = time.monotonic() - started
    assert batches == [2]
    (fast,) = receiver.successes()
    assert fast.answered_at - started_at < 1.5  # while the slow one was still dripping
    assert stored_message(fast_hook["webhookID"], message_id)["status"] == "delivered"
    (slow_attempt,) = stored_message(slow_hook["webhookID"], message_id)["attempts"]
    assert slow_attempt["statusCode"] is None and f"did not answer within {timeout}s" in slow_attempt["error"]
    assert elapsed <= timeout + 1.5


def bounded(text):
    return len(text.encode("utf-8")) <= 2048


@pytest.mark.parametrize("how", HOW)
def test_an_answer_of_invalid_utf8_is_kept_to_2_kib_of_utf8(api, worker, settings, how):
    settings(RETRY_SCHEDULE="0s,1h")
    with RawEndpoint(answer(b"\xff" * 4096)) as endpoint:
        hook = api.create(endpoint.url)
        attempt, _, _ = attempt_of(api, worker, hook, how)
    assert attempt["statusCode"] == 200 and bounded(attempt["response"])
    assert set(attempt["response"]) == {"\ufffd"} and len(attempt["response"]) >= 2048 // 3


@pytest.mark.parametrize("how", HOW)
def test_an_answer_cut_inside_a_character_keeps_the_whole_characters_before_it(api, worker, settings, how):
    settings(RETRY_SCHEDULE="0s,1h")
    with RawEndpoint(answer(("a" + "é" * 2000).encode("utf-8"))) as endpoint:
        hook = api.create(endpoint.url)
        attempt, _, _ = attempt_of(api, worker, hook, how)
    assert attempt["response"] == "a" + "é" * 1023  # 2047 bytes: the 2048th began an "é"


# 50 MB of zeros, gzipped twice: 248 bytes.
BOMB = gzip.compress(gzip.compress(b"\0" * 50_000_000, 9), 9)


@pytest.mark.parametrize("how", HOW)
def test_a_compressed_answer_is_neither_asked_for_nor_inflated(api, worker, settings, how):
    settings(RETRY_SCHEDULE="0s,1h")
    with RawEndpoint(answer(BOMB, b"content-encoding: gzip, gzip")) as endpoint:
        hook = api.create(endpoint.url)
        attempt, _, _ = attempt_of(api, worker, hook, how)
    assert endpoint.requests[0]["accept-encoding"] == "identity"
    assert attempt["statusCode"] == 200 and bounded(attempt["response"])
    assert attempt["response"] == BOMB.decode("utf-8", "replace")  # as sent

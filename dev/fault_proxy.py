"""A proxy in front of the local moto servers that fails as AWS itself fails.

AWS's incident reports are made of a few kinds of fault, and this proxy makes each of them, by a
seeded fault model, on the requests that pass through it:

- **errors**: a share of the DynamoDB writes and SQS sends is answered ``500`` (DynamoDB's
  ``InternalServerError``, SQS's ``InternalError``) or throttled (DynamoDB's
  ``ProvisionedThroughputExceededException``, SQS's ``RequestThrottled``), in AWS's own JSON
  error shapes, so that botocore sees them (and retries them) as it would AWS's. The request
  is not forwarded: nothing was written.
- **lost answers**: a share is forwarded, and then its answer is dropped (the connection is
  closed without a byte of it): the write happened, and the caller cannot know. Botocore retries
  it, as it would a connection that AWS's side closed.
- **slow answers**: a share is forwarded, and its answer held back ``delay_seconds`` (1.5 s).
- **brownouts**: for ``brownout_seconds``, DynamoDB answers ``500`` to everything, reads too
  (scheduled in the model, seconds after the proxy starts, or begun at once with
  :meth:`Faults.brownout`).

Each kind is switched by its share (0: off); the draws come from one ``random.Random(seed)``.
Tests also ask for one fault on the next requests of one action (:meth:`Faults.inject`), to
show a particular path: "the answer of the next ``TransactWriteItems`` is lost".

From a test, on loopback ports::

    with FaultProxy("http://127.0.0.1:5000", FaultModel(drops=1.0, actions={"PutItem"})) as proxy:
        boto3.client("dynamodb", endpoint_url=proxy.url, ...)
        proxy.faults.counts          # Counter of what was done: {"drop": 3, "forwarded": 12, ...}

Several proxies may share one :class:`Faults` (one for the DynamoDB moto server, one for SQS's,
as ``make faults`` does), so that one seeded stream of draws and one set of counts covers both.

    python -m dev.fault_proxy --upstream http://127.0.0.1:5000 [--port 0] [--server-errors 0.025] ...

runs one on its own and prints its URL.
"""

import argparse
import http.client
import http.server
import json
import random
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass

# What "writes and sends" are: the requests that change what DynamoDB or SQS holds.
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
SQS_SENDS = frozenset({"SendMessage", "SendMessageBatch"})
WRITES_AND_SENDS = DYNAMODB_WRITES | SQS_SENDS

FAULTS = ("server_error", "throttle", "drop", "delay")  # what a draw or an injection can give
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                         "te", "trailer", "trailers", "transfer-encoding", "upgrade", "content-length"})
_UPSTREAM_TIMEOUT = 60  # an SQS long poll holds its request up to 20 s


@dataclass(frozen=True)
class FaultModel:
    """What the proxy does to the requests of ``actions``: each share is a probability (0 to 1)."""

    server_errors: float = 0.0  # answered 500, not forwarded
    throttles: float = 0.0  # answered as throttled, not forwarded
    drops: float = 0.0  # forwarded, the answer dropped
    delays: float = 0.0  # forwarded, the answer held back delay_seconds
    delay_seconds: float = 1.5
    brownouts: tuple = ()  # seconds after the start at which DynamoDB answers 500 to everything
    brownout_seconds: float = 4.0
    seed: int = 0
    actions: frozenset = WRITES_AND_SENDS

    def __post_init__(self):
        shares = (self.server_errors, self.throttles, self.drops, self.delays)
        if any(not 0 <= share <= 1 for share in shares) or sum(shares) > 1:
            raise ValueError("each share is from 0 to 1, and together they are at most 1")
        object.__setattr__(self, "actions", frozenset(self.actions))
        object.__setattr__(self, "brownouts", tuple(sorted(self.brownouts)))


# The issue's model (issue 28): 5% of DynamoDB writes and SQS sends 500 or throttled, 2% forwarded
# with the answer lost, 2% answered 1.5 s late; brownouts are placed by the run that uses it.
ISSUE_MODEL = FaultModel(server_errors=0.025, throttles=0.025, drops=0.02, delays=0.02, brownout_seconds=4.0)


def _is_dynamodb(target):
    return target.startswith("DynamoDB_")


def _is_sqs(target):
    return target.startswith("AmazonSQS.")


def error_answer(fault, target):
    """AWS's own answer for ``fault`` (``server_error`` or ``throttle``) to a request whose
    ``X-Amz-Target`` is ``target``: (status, headers, body)."""
    request_id = f"{random.getrandbits(64):016X}FAULTPROXY"
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}
    if _is_sqs(target):  # SQS's JSON protocol also names the error for query-compatible clients
        code, status, side, message = {
            "server_error": ("InternalError", 500, "Receiver", "We encountered an internal error. Please try again."),
            "throttle": ("RequestThrottled", 400, "Sender", "Request is throttled."),
        }[fault]
        headers["x-amzn-query-error"] = f"{code};{side}"
        body = {"__type": f"com.amazonaws.sqs#{code}", "message": message}
    else:
        code, status, message = {
            "server_error": ("InternalServerError", 500, "Internal server error"),
            "throttle": ("ProvisionedThroughputExceededException", 400,
                         "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
                         "scaling your table or index so please try again shortly."),
        }[fault]
        body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    return status, headers, json.dumps(body).encode()


class Faults:
    """A fault model at work: its seeded draws, its brownouts, what tests injected, and counts of
    what was done (``counts``: each fault, ``forwarded``, and ``brownout``; ``by_action``: the same
    per action). Thread-safe; shared by every proxy handed it."""

    def __init__(self, model=None, clock=time.monotonic):
        self.model = model or FaultModel()
        self._clock = clock
        self._lock = threading.Lock()
        self._random = random.Random(self.model.seed)
        self._started = clock()
        self._brownout_until = 0.0
        self._injected = []  # [action, fault, times left]
        self.counts = Counter()
        self.by_action = Counter()

    def set_model(self, model):
        """Fail by ``model`` from now on: its draws start afresh from its seed, and its scheduled
        brownouts count from now (a run starts with faults off, then turns them on)."""
        with self._lock:
            self.model = model
            self._random = random.Random(model.seed)
            self._started = self._clock()

    def brownout(self, seconds=None):
        """From now on, for ``seconds`` (the model's ``brownout_seconds``), DynamoDB answers 500."""
        with self._lock:
            self._brownout_until = max(self._brownout_until,
                                       self._clock() + (self.model.brownout_seconds if seconds is None else seconds))

    def in_brownout(self):
        now = self._clock()
        if now < self._brownout_until:
            return True
        since = now - self._started
        return any(start <= since < start + self.model.brownout_seconds for start in self.model.brownouts)

    def inject(self, action, fault, times=1, after=0):
        """The next ``times`` requests of ``action`` (``PutItem``, ``SendMessageBatch``...), once
        ``after`` more of them have passed, get ``fault`` (one of FAULTS), whatever the model's
        shares. Injections of one action apply in the order they were made."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        with self._lock:
            self._injected.append([action, fault, times, after])

    def decide(self, target):
        """What to do with a request whose ``X-Amz-Target`` is ``target``: ``brownout``, a fault
        of FAULTS, or ``forward``; counted."""
        action = target.rsplit(".", 1)[-1] if target else ""
        with self._lock:
            decision = self._decide(target, action)
            self.counts[decision] += 1
            self.by_action[(action, decision)] += 1
        return decision

    def _decide(self, target, action):
        if _is_dynamodb(target) and self.in_brownout():
            return "brownout"
        for injection in self._injected:
            if injection[0] == action:
                if injection[3] > 0:  # not yet: this one passes
                    injection[3] -= 1
                    break
                injection[2] -= 1
                if injection[2] <= 0:
                    self._injected.remove(injection)
                return injection[1]
        model = self.model
        if action not in model.actions or not (_is_dynamodb(target) or _is_sqs(target)):
            return "forward"
        draw = self._random.random()
        for fault, share in zip(FAULTS, (model.server_errors, model.throttles, model.drops, model.delays)):
            if draw < share:
                return fault
            draw -= share
        return "forward"


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` (a moto server's URL), failing by
    ``faults`` (a :class:`Faults`, or a :class:`FaultModel` to make one from). A context manager:
    it listens from ``__enter__`` (or :meth:`start`) to ``__exit__`` (or :meth:`stop`)."""

    def __init__(self, upstream, faults=None, port=0, host="127.0.0.1"):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"the upstream must be an http:// URL, not {upstream!r}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.faults = faults if isinstance(faults, Faults) else Faults(faults)
        self._server = _Server((host, port), _handler_for(self))
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"fault proxy {self.url}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self._open = set()
        self._open_lock = threading.Lock()

    def process_request_thread(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def handle_error(self, request, client_address):
        """A client that hung up before its answer (a worker stopped during a long poll) is not news."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)

    def close_connections(self):
        """Close the kept-alive client connections too, so that clients notice the proxy is gone."""
        with self._open_lock:
            for connection in list(self._open):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _handler_for(proxy):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        _upstream = None  # one kept-alive connection to the upstream per client connection

        def log_message(self, format, *args):  # noqa: A002 - http.server's signature
            pass

        def do_POST(self):  # noqa: N802 - http.server's naming
            self._proxy()

        do_GET = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_POST  # noqa: N815

        def _proxy(self):
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                self.send_error(411, "a length is required")  # AWS's SDKs always send one
                return
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            target = self.headers.get("x-amz-target", "")
            decision = proxy.faults.decide(target)
            if decision in ("brownout", "server_error", "throttle"):
                self._answer(*error_answer("throttle" if decision == "throttle" else "server_error", target))
                return
            try:
                status, headers, answer = self._forward(body)
            except (OSError, http.client.HTTPException):
                self._drop()  # the upstream failed: the caller sees a connection closed, as from AWS
                return
            if decision == "drop":
                self._drop()
                return
            if decision == "delay":
                time.sleep(proxy.faults.model.delay_seconds)
            self._answer(status, headers, answer)

        def _forward(self, body):
            headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            for fresh in (False, True):
                if self._upstream is None or fresh:
                    if self._upstream is not None:
                        self._upstream.close()
                    self._upstream = http.client.HTTPConnection(*proxy.upstream, timeout=_UPSTREAM_TIMEOUT)
                    reused = False
                else:
                    reused = True
                try:
                    self._upstream.request(self.command, self.path, body=body, headers=headers)
                    response = self._upstream.getresponse()
                    answer = response.read()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    # A kept-alive connection that the upstream had closed while idle: the request
                    # never reached it, so it is sent once more on a new one.
                    if not reused:
                        raise
                    continue
                if response.will_close:
                    self._upstream.close()
                    self._upstream = None
                return response.status, {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}, answer
            raise ConnectionError("unreachable")  # the loop returns or raises first

        def _answer(self, status, headers, body):
            self.send_response_only(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _drop(self):
            """Close the connection without a byte of the answer."""
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def finish(self):
            super().finish()
            if self._upstream is not None:
                self._upstream.close()

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.fault_proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the moto server's URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="the port to listen on, on 127.0.0.1 (0: a free one)")
    parser.add_argument("--server-errors", type=float, default=0.0, help="share of writes and sends answered 500")
    parser.add_argument("--throttles", type=float, default=0.0, help="share of writes and sends throttled")
    parser.add_argument("--drops", type=float, default=0.0, help="share forwarded whose answer is dropped")
    parser.add_argument("--delays", type=float, default=0.0, help="share whose answer comes --delay-seconds late")
    parser.add_argument("--delay-seconds", type=float, default=1.5)
    parser.add_argument("--brownout-at", type=float, action="append", default=[],
                        help="seconds after the start at which DynamoDB answers 500 to everything (repeatable)")
    parser.add_argument("--brownout-seconds", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = FaultModel(server_errors=args.server_errors, throttles=args.throttles, drops=args.drops,
                       delays=args.delays, delay_seconds=args.delay_seconds, brownouts=tuple(args.brownout_at),
                       brownout_seconds=args.brownout_seconds, seed=args.seed)
    with FaultProxy(args.upstream, model, port=args.port) as proxy:
        print(f"fault proxy on {proxy.url} in front of {args.upstream}", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        print(json.dumps(dict(proxy.faults.counts)), flush=True)


if __name__ == "__main__":
    main()

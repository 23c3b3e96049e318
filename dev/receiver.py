"""A real HTTP server on loopback that plays a webhook endpoint, in tests and benchmarks.

It records every request it gets, and answers from a script: a list of (status, delay) to use
in turn, the last one repeated. It also checks every delivered body against the schema that the
OpenAPI document publishes for its type.
"""

import functools
import http.server
import json
import pathlib
import sys
import threading
import time
from dataclasses import dataclass, field

import yaml
from jsonschema import Draft202012Validator
from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)
    status: int = 0  # what the receiver answered
    answered_at: float = 0.0  # when the answer had been written (0 if it never was)

    def json(self):
        return json.loads(self.body)

    def verify(self, secret):
        """Verify the signature with the Standard Webhooks library; returns the parsed body."""
        return Webhook(secret).verify(self.body, self.headers)


@functools.lru_cache(maxsize=None)
def _delivery_schemas():
    """Each type's delivered body, as the published OpenAPI document describes it."""
    document = yaml.safe_load((pathlib.Path(__file__).resolve().parent.parent / "chalicelib" / "openapi.yaml").read_text())
    return {name: Draft202012Validator(hook["post"]["requestBody"]["content"]["application/json"]["schema"])
            for name, hook in document["webhooks"].items()}


def delivery_errors(body):
    """What is wrong with a delivered body against its type's published schema (test sends, of
    type webhook.test, have none)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ["the body is not JSON"]
    validator = _delivery_schemas().get(payload.get("type"))
    if validator is None:
        return [] if payload.get("type") == "webhook.test" else [f"unknown type {payload.get('type')!r}"]
    return [error.message for error in validator.iter_errors(payload)]


class _Server(http.server.ThreadingHTTPServer):
    # socketserver's backlog is 5: dozens of senders connecting at once (a burst from several
    # instances) would find connections refused that any server people run would take.
    request_queue_size = 128


class Receiver:
    def __init__(self, check_schema=True):
        self.requests = []
        self.invalid = []  # how deliveries broke the published schema of their type, if any did
        self.script = [(200, 0.0, b'{"received":true}', {})]
        self.rule = None  # optional: a function of (request, earlier requests) giving a status
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._successes = 0  # requests answered with a 2xx
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm on, the body would
            # wait for the client's delayed ACK (40 ms) on a kept-alive connection. Servers
            # people put in front of webhooks (nginx, gunicorn, uvicorn...) all turn it off.
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if check_schema:
                    receiver.invalid.extend(delivery_errors(body))
                with receiver._cond:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    step = receiver.script[min(len(receiver.requests) - 1, len(receiver.script) - 1)]
                    if receiver.rule is not None:
                        step = (receiver.rule(receiver.requests[-1], receiver.requests[:-1]), 0.0, b"{}", {})
                    receiver._cond.notify_all()
                    received = receiver.requests[-1]
                status, delay, answer, headers = step
                received.status = status
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    self.wfile.flush()
                    received.answered_at = time.time()
                    with receiver._cond:
                        receiver._successes += 200 <= status < 300
                        receiver._cond.notify_all()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that hung up is not news
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, *steps):
        """Answer with these steps in turn: each a status, or (status, delay[, body[, headers]])."""
        script = []
        for step in steps:
            step = step if isinstance(step, tuple) else (step,)
            status, delay, body, headers = (step + (0.0, b"{}", {})[len(step) - 1 :])[:4]
            script.append((status, delay, body, headers))
        self.script = script

    def successes(self):
        """The requests answered with a 2xx."""
        return [r for r in list(self.requests) if 200 <= r.status < 300 and r.answered_at]

    def wait_for(self, count, timeout=10.0, successes=False):
        """Wait until ``count`` requests (or 2xx answers) have arrived; return them all."""
        deadline = time.time() + timeout
        with self._cond:
            while (self._successes if successes else len(self.requests)) < count:
                left = deadline - time.time()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self.successes() if successes else list(self.requests)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def main():
    """``python -m dev.receiver``: a receiver on a free loopback port, its URL printed, until
    standard input closes; then one line of JSON: how many requests came, and what broke the
    published schemas."""
    with Receiver() as receiver:
        print(receiver.url, flush=True)
        sys.stdin.read()
    print(json.dumps({"requests": len(receiver.requests), "invalid": receiver.invalid[:10]}), flush=True)


if __name__ == "__main__":
    main()

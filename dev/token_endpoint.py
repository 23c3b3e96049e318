"""A real OAuth 2.0 token endpoint on loopback (RFC 6749, section 4.4: the client-credentials
grant, the client authenticated with HTTP Basic), for the tests and for trying ``auth`` with
``make run``.

It checks each token request as an authorization server would (``POST``, form-urlencoded,
``grant_type=client_credentials``, the client's id and secret in Basic, each form-urlencoded),
answers a new access token each time (``tok-1``, ``tok-2``...) and records every request. A
script can make it answer otherwise (a status, a body, a delay, a drip), and ``issued`` says which
tokens it gave, so that a receiver can accept only those (``accepts``).

    python -m dev.token_endpoint [--client-id ID] [--client-secret SECRET] [--expires-in SECONDS]

prints its URL, and the token URL to give ``auth``, until standard input closes.
"""

import argparse
import base64
import http.server
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote_plus


@dataclass
class TokenRequest:
    method: str
    path: str
    headers: dict
    form: dict  # the form's fields, each to its one value (None if the body was not a form)
    client: tuple | None  # (id, secret) from HTTP Basic, form-decoded as RFC 6749, 2.3.1 has it
    at: float = field(default_factory=time.time)


class TokenEndpoint:
    """``answer(...)`` scripts the next answers: each a dict (a JSON body with status 200), or
    ``(status, body, delay)``, or ``("drip", seconds_per_byte)``; the last one repeats. With no
    script, each valid request gets a new token (``expires_in`` as set, None: left out)."""

    def __init__(self, client_id="inevent", client_secret="s3cret", expires_in=3600, scope=None):
        self.client_id, self.client_secret, self.expires_in, self.scope = client_id, client_secret, expires_in, scope
        self.requests = []
        self.issued = []
        self.script = []
        self._revoked = set()
        self._lock = threading.Lock()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode("latin-1")
                endpoint._answer(self, "POST", body)

            def do_GET(self):  # noqa: N802
                endpoint._answer(self, "GET", "")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/oauth/token"

    def auth(self, **changes):
        """The ``auth`` parameter that points at this endpoint with its client."""
        auth = {"type": "oauth2", "tokenUrl": self.url, "clientID": self.client_id, "clientSecret": self.client_secret}
        if self.scope is not None:
            auth["scope"] = self.scope
        return {**auth, **changes}

    def answer(self, *steps):
        self.script = list(steps)

    def accepts(self, authorization):
        """Whether an ``Authorization`` header carries a token this endpoint issued and has not
        revoked (:meth:`revoke_all`): what the receiver of a protected endpoint checks."""
        return authorization is not None and authorization.removeprefix("Bearer ") in self.valid()

    def valid(self):
        with self._lock:
            return set(self.issued) - self._revoked

    def revoke_all(self):
        """Every token issued so far stops being accepted (as when a client's tokens are revoked)."""
        with self._lock:
            self._revoked = set(self.issued)

    def _answer(self, handler, method, body):
        form = {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()} if body else {}
        request = TokenRequest(method, handler.path, {k.lower(): v for k, v in handler.headers.items()}, form,
                               _basic(handler.headers.get("authorization")))
        with self._lock:
            self.requests.append(request)
            step = self.script[min(len(self.requests) - 1, len(self.script) - 1)] if self.script else None
        if step is None:
            status, answer = self._grant(request)
            return _send(handler, status, answer)
        if isinstance(step, dict):
            return _send(handler, 200, step)
        if step[0] == "drip":
            return _drip(handler, step[1])
        status, answer, delay = (step + (0.0,))[:3]
        time.sleep(delay)
        _send(handler, status, answer)

    def _grant(self, request):
        """What an authorization server answers (RFC 6749, 4.4.3 and 5.2)."""
        if request.method != "POST" or request.headers.get("content-type", "").split(";")[0] != (
                "application/x-www-form-urlencoded"):
            return 400, {"error": "invalid_request"}
        if request.client != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        if request.form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            token = f"tok-{len(self.issued) + 1}"
            self.issued.append(token)
        answer = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return 200, answer

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _basic(header):
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return unquote_plus(user), unquote_plus(password)


def _send(handler, status, answer):
    data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
    try:
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("cache-control", "no-store")
        if 300 <= status < 400:
            handler.send_header("location", "http://127.0.0.1:9/elsewhere")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _drip(handler, seconds_per_byte):
    """A status line and headers at once, then a body one byte at a time, for ever."""
    try:
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", "100000")
        handler.end_headers()
        for _ in range(100000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(seconds_per_byte)
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.token_endpoint")
    parser.add_argument("--client-id", default="inevent")
    parser.add_argument("--client-secret", default="s3cret")
    parser.add_argument("--expires-in", type=int, default=3600)
    args = parser.parse_args(argv)
    with TokenEndpoint(args.client_id, args.client_secret, args.expires_in) as endpoint:
        print(endpoint.url, flush=True)
        print("auth:", json.dumps(endpoint.auth()), flush=True)
        sys.stdin.read()
    print(json.dumps({"token requests": len(endpoint.requests), "issued": endpoint.issued}), flush=True)


if __name__ == "__main__":
    main()

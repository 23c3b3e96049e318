"""Chalice's local server for the API, as ``chalice local`` builds it, speaking HTTP properly and
answering in the contract's shape everywhere.

- Every error is ``{"error": {"code", "message", "field"}}`` as JSON: a path that matches no
  route answers 404 (API Gateway's own answer is a 403 "Missing Authentication Token"; the
  stack's Gateway Responses make it a 404 there too), a wrong verb 405, and Chalice's own
  errors and Python's HTTP errors take the same shape. A method API Gateway does not route
  (TRACE, or a made-up one) answers 405 where Python's HTTP server would answer 501.
- A ``HEAD`` request gets the headers alone.
- A body comes by its ``Content-Length`` or in ``Transfer-Encoding: chunked`` (bounded as a plain one:
  1 MiB of data, in at most MAX_CHUNKS chunks with at most MAX_FRAMING_BYTES of framing); anything else
  (a length that is not a number, both headers, another transfer coding) is refused with 400,
  a body over 1 MiB with 413, and the connection is closed, since where the body ends is unknown.
- The access log hides tokens: the value of any query parameter whose name, percent-decoded,
  is ``tokenID`` in any case, and any ``Authorization`` value or bearer token.
- Nagle's algorithm is off, so an answer on a kept-alive connection does not wait 40 ms.

    python -m dev.api_server --host 127.0.0.1 --port 8000 --stage local
"""

import argparse
import functools
import json
import logging
import os
import re
import sys
import urllib.parse
from http import HTTPStatus

from chalice.cli import create_local_server
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, ForbiddenError

from chalicelib.api.edge import MAX_BODY_BYTES, METHODS
from chalicelib.console import LOCAL_RUN_FLAG
from chalicelib.errors import MethodNotAllowed, NotFound, PayloadTooLarge, ServiceError

ROUTED_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"}
LISTEN_BACKLOG = 128
_QUERY_PARAMETER = re.compile(r"(?<=[?&;])([^=&;\s'\"]*)=([^&;\s'\"]*)")
_AUTHORIZATION = re.compile(r"(authorization\s*[:=]\s*)[^'\"\r\n]+", re.IGNORECASE)
_BEARER = re.compile(r"(bearer\s+)[^\s'\"&;]+", re.IGNORECASE)
# A token pasted where no parameter name says so (in a path, under a misspelt name) still
# shows itself by its prefix.
_TOKEN = re.compile(r"\btok_[^\s'\"&;/?]+")
# A chunk-size line: the size in hex, then optional whitespace and extensions, to the line's end.
_CHUNK_LINE = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?\r?\n")
_MAX_CHUNK_LINE = 1024
# A chunked body is bounded as a plain one (MAX_BODY_BYTES of data), and its framing too: what its
# chunk-size lines, extensions and trailers may add, and how many chunks it may come in (a client
# sends a 1 MiB API body in chunks of kilobytes; a million one-byte chunks made reading one cost
# 300 times a plain body's, a second of the server's time). At these bounds the dearest chunked
# body costs at most 3 times a plain body of its size (tests/local/test_api_server.py times both).
MAX_CHUNKS = 256
MAX_FRAMING_BYTES = 16 * 1024


def _is_token_name(name):
    """True for a parameter name that reads ``tokenID`` however it is spelt or percent-encoded."""
    for _ in range(3):  # encoded more than once still decodes to it in the end
        if name.lower() == "tokenid":
            return True
        decoded = urllib.parse.unquote_plus(name)
        if decoded == name:
            return False
        name = decoded
    return name.lower() == "tokenid"


def redact(text):
    """``text`` (a log line) without token values in it."""
    text = _QUERY_PARAMETER.sub(lambda m: f"{m[1]}=[redacted]" if _is_token_name(m[1]) else m[0], text)
    text = _AUTHORIZATION.sub(r"\1[redacted]", text)
    text = _BEARER.sub(r"\1[redacted]", text)
    return _TOKEN.sub("[redacted]", text)


def _contract_body(status, body):
    """Chalice's own error bodies (``{"Code", "Message"}``, ``{"message"}``) in the contract's
    shape; any other body as it is."""
    if status < 400:
        return body
    try:
        found = json.loads(body)
    except (TypeError, ValueError):
        return body
    if not isinstance(found, dict) or set(found) not in ({"Code", "Message"}, {"message"}):
        return body
    name = found.get("Code") or HTTPStatus(status).phrase.replace(" ", "")
    code = re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Error")).lower()
    return json.dumps({"error": {"code": code, "message": found.get("Message") or found["message"], "field": None}})


class RequestHandler(ChaliceRequestHandler):
    # Chalice writes the headers and the body of an answer separately; with Nagle's algorithm
    # on, the body waited for the client's delayed ACK, 40 ms on every kept-alive request.
    disable_nagle_algorithm = True

    def __getattr__(self, name):
        if name.startswith("do_") and name[3:] not in ROUTED_METHODS:
            return self._method_not_allowed
        raise AttributeError(name)

    def _generic_handle(self):
        try:
            ChaliceRequestHandler._generic_handle(self)
        except ServiceError as error:  # a body that cannot be read, from _parse_payload
            self._send_error(error, close=True)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _method_not_allowed(self):
        try:
            self._parse_payload()  # read the body, so the connection can carry the next request
        except ServiceError as error:
            self._send_error(error, close=True)
            return
        method = METHODS.get(self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        allow = ", ".join(sorted(method.verbs)) if method else "GET, POST"
        self._send_error(MethodNotAllowed(f"{self.command[:20]} is not a method this API accepts",
                                          headers={"Allow": allow}))

    def _parse_payload(self):
        """The request's headers and body, read by its Content-Length or its chunks. Raises
        ServiceError when where the body ends cannot be known, or it is too large to read."""
        codings = ",".join(self.headers.get_all("Transfer-Encoding") or [])
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        headers = dict(self.headers)
        if codings:
            # Both at once is how requests are smuggled past a proxy that reads the other one.
            if lengths:
                raise ServiceError("send Content-Length or Transfer-Encoding, not both")
            if [coding.strip().lower() for coding in codings.split(",")] != ["chunked"]:
                raise ServiceError("the only transfer coding accepted is chunked")
            body = self._read_chunks()
            headers = {name: value for name, value in headers.items() if name.lower() != "transfer-encoding"}
            headers["Content-Length"] = str(len(body))
            return headers, body or None
        if len(lengths) > 1:
            raise ServiceError("the request has more than one Content-Length")
        length = lengths.pop() if lengths else "0"
        if not (length.isascii() and length.isdigit()):
            raise ServiceError("Content-Length must be a whole number of bytes")
        if int(length) > MAX_BODY_BYTES:  # refused before it is read, rather than held in memory
            raise _too_large()
        return headers, self.rfile.read(int(length)) if int(length) else None

    def _read_chunks(self):
        """A chunked body, decoded; trailers are read and dropped. At most MAX_BODY_BYTES of data,
        MAX_CHUNKS chunks and MAX_FRAMING_BYTES of framing, else 413 (and the connection closed)."""
        body, chunks, framing = bytearray(), 0, 0
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            framing += len(line)
            size = _CHUNK_LINE.fullmatch(line) if len(line) <= _MAX_CHUNK_LINE else None
            if size is None:
                raise ServiceError("the chunked body is malformed")
            size = int(size[1], 16)
            if size == 0:
                break
            chunks += 1
            if len(body) + size > MAX_BODY_BYTES:
                raise _too_large()
            if chunks > MAX_CHUNKS or framing > MAX_FRAMING_BYTES:
                raise PayloadTooLarge(f"a chunked body may come in at most {MAX_CHUNKS:,} chunks, with at most "
                                      f"{MAX_FRAMING_BYTES // 1024} KiB of chunk lines and trailers")
            chunk = self.rfile.read(size)
            end = self.rfile.readline(3)
            framing += len(end)
            if len(chunk) < size or end not in (b"\r\n", b"\n"):
                raise ServiceError("the chunked body is malformed")
            body += chunk
        for _ in range(100):  # the trailer section, up to the empty line that ends the request
            line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
            framing += len(line)
            if framing > MAX_FRAMING_BYTES:
                raise PayloadTooLarge(f"a chunked body may carry at most {MAX_FRAMING_BYTES // 1024} KiB of chunk "
                                      "lines and trailers")
            if line in (b"\r\n", b"\n", b""):
                return bytes(body)
        raise ServiceError("the chunked body is malformed")

    def _send_error_response(self, error):
        # Chalice's LocalGateway raises ForbiddenError only for a path that no route matches
        # (the app has no authorizers): API Gateway's "Missing Authentication Token".
        if isinstance(error, ForbiddenError):
            self._send_error(NotFound("nothing is served at this path"))
        else:
            super()._send_error_response(error)

    def _send_error(self, error, close=False):
        body = json.dumps(error.to_body()).encode()
        headers = {"Content-Type": "application/json", **error.headers}
        if close:
            self.close_connection = True
            headers["Connection"] = "close"
        self._send_http_response_with_body(error.status, headers, body)

    def _send_http_response_with_body(self, code, headers, body):
        body = _contract_body(code, body)
        if not isinstance(body, bytes):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))  # for HEAD too: what a GET would get
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code, message=None, explain=None):
        """Python's own HTTP errors (a malformed request line, headers too long...) in the
        contract's shape rather than an HTML page; the connection is closed after them."""
        # Python's message quotes a piece of the request line, out of the context that shows
        # whether it is a token; the access log line that follows has the whole line, redacted.
        self.log_error("code %d, message %s", code, (message or "").split(" (", 1)[0])
        if self.request_version == "HTTP/0.9":  # a request line too broken to have a version
            self.request_version = "HTTP/1.1"  # answered with a status line all the same
        status = HTTPStatus(code)
        error = ServiceError(status.description or status.phrase, code=status.phrase.lower().replace(" ", "_"))
        error.status = code
        self._send_error(error, close=True)

    def log_message(self, format, *args):
        sys.stderr.write(redact("%s - - [%s] %s\n" % (self.address_string(), self.log_date_time_string(), format % args)))


def _too_large():
    return PayloadTooLarge(f"the request body must be at most {MAX_BODY_BYTES // 1024 // 1024} MiB")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.api_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    os.environ[LOCAL_RUN_FLAG] = "1"  # the console's page keeps its help for a developer's laptop
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server = create_local_server(CLIFactory(project_dir="."), args.host, args.port, args.stage)
    chalice_handler = server.server.RequestHandlerClass  # a functools.partial of Chalice's handler
    server.server.RequestHandlerClass = functools.partial(RequestHandler, *chalice_handler.args,
                                                          **chalice_handler.keywords)
    # Python's HTTP server listens with a backlog of 5: more clients connecting at once (a
    # console and a script, a test racing 16 requests) were reset. Listen again with room.
    server.server.socket.listen(LISTEN_BACKLOG)
    server.serve_forever()


if __name__ == "__main__":
    main()

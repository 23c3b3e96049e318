"""Chalice's local server for the API, as ``chalice local`` builds it, with three changes.

- A request with a method API Gateway does not route (TRACE, or a made-up one) answers 405 in
  the contract's error shape, where Python's HTTP server would answer 501.
- The access log hides ``tokenID`` values: a token in a query string must not reach a log.
- Nagle's algorithm is off, so an answer on a kept-alive connection does not wait 40 ms.

    python -m dev.api_server --host 127.0.0.1 --port 8000 --stage local
"""

import argparse
import functools
import json
import logging
import re
import sys

from chalice.cli import create_local_server
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler

from chalicelib.api import METHODS

_TOKEN_IN_QUERY = re.compile(r"(tokenID=)[^&\s\"']+", re.IGNORECASE)
ROUTED_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"}


def redact(text):
    return _TOKEN_IN_QUERY.sub(r"\1[redacted]", text)


class RequestHandler(ChaliceRequestHandler):
    # Chalice writes the headers and the body of an answer separately; with Nagle's algorithm
    # on, the body waited for the client's delayed ACK, 40 ms on every kept-alive request.
    disable_nagle_algorithm = True

    def __getattr__(self, name):
        if name.startswith("do_") and name[3:] not in ROUTED_METHODS:
            return self._method_not_allowed
        raise AttributeError(name)

    def _method_not_allowed(self):
        self._parse_payload()  # read the body, so the connection can carry the next request
        method = METHODS.get(self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1])
        allow = ", ".join(sorted(method.verbs)) if method else "GET, POST"
        body = json.dumps({"error": {"code": "method_not_allowed",
                                     "message": f"{self.command[:20]} is not a method this API accepts",
                                     "field": None}}).encode()
        self.send_response(405)
        self.send_header("Content-Type", "application/json")
        self.send_header("Allow", allow)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write(redact("%s - - [%s] %s\n" % (self.address_string(), self.log_date_time_string(), format % args)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.api_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server = create_local_server(CLIFactory(project_dir="."), args.host, args.port, args.stage)
    chalice_handler = server.server.RequestHandlerClass  # a functools.partial of Chalice's handler
    server.server.RequestHandlerClass = functools.partial(RequestHandler, *chalice_handler.args,
                                                          **chalice_handler.keywords)
    server.serve_forever()


if __name__ == "__main__":
    main()

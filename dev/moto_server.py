"""The moto server that backs the local run, taking one request at a time.

Moto's in-memory backends are not thread-safe: under concurrent requests its SQS FIFO queue
can lose track of which message groups are in flight (handing out a person's next message
while the previous one is still being delivered), and a DynamoDB transaction restores a whole
table from a copy when it is cancelled, wiping out writes made meanwhile. The server still
accepts connections on threads; a lock lets one request at a time into moto. Nothing that
uses it may long-poll: the local worker polls without waiting.

    python -m dev.moto_server -H 127.0.0.1 -p 5000
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class OneAtATime:
    """WSGI middleware: the wrapped application runs for one request at a time."""

    def __init__(self, app):
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            return list(self._app(environ, start_response))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    run_simple(args.host, args.port, OneAtATime(DomainDispatcherApplication(create_backend_app)), threaded=True)


if __name__ == "__main__":
    main()

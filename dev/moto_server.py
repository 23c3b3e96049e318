"""The moto server that backs the local run, taking one request at a time, and made quicker.

Moto's in-memory backends are not thread-safe: under concurrent requests its SQS FIFO queue
can lose track of which message groups are in flight (handing out a person's next message
while the previous one is still being delivered), and a DynamoDB transaction restores a whole
table from a copy when it is cancelled, wiping out writes made meanwhile. The server still
accepts connections on threads; a lock lets one request at a time into moto. Nothing that
uses it may long-poll: the local worker polls without waiting.

    python -m dev.moto_server -H 127.0.0.1 -p 5000
"""

import argparse
import logging
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def _faster_clock():
    """Moto's SQS asks the time for every queued message on every receive, through datetime
    arithmetic; the same value straight from time.time() makes a busy local queue several
    times faster. Only the clock changes; moto's behaviour does not."""
    import moto.core.utils as utils
    import moto.sqs.models as sqs_models

    def unix_time(dt=None):
        return time.time() if dt is None else utils.unix_time(dt)

    def unix_time_millis(dt=None):
        return time.time() * 1000.0 if dt is None else utils.unix_time_millis(dt)

    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis


def _partition_queries():
    """Moto answers a Query on a table by sorting every item of the table; DynamoDB reads one
    partition. Hand moto's own query code just the partition asked for, so a Query costs what
    the partition holds, not what the table holds. (Safe: one request at a time, see below.)"""
    from moto.dynamodb.models.table import Table

    original = Table.query

    def query(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name is not None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: sorted(partition, key=lambda item: (item.hash_key, item.range_key))
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


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
    _faster_clock()
    _partition_queries()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access-log line per request
    run_simple(args.host, args.port, OneAtATime(DomainDispatcherApplication(create_backend_app)), threaded=True)


if __name__ == "__main__":
    main()

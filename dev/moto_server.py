"""The moto server that backs the local run: one request at a time inside moto, long polls
outside it, connections kept alive, and made quicker.

Moto's in-memory backends are not thread-safe: under concurrent requests its SQS FIFO queue
can lose track of which message groups are in flight (handing out a person's next message
while the previous one is still being delivered), and a DynamoDB transaction restores a whole
table from a copy when it is cancelled, wiping out writes made meanwhile. So a lock lets one
request at a time into moto.

Long polling (``ReceiveMessage`` with ``WaitTimeSeconds``, as Lambda's event source does it)
must not hold that lock while it waits, so it is done here: the receive runs in moto without
waiting, and when it finds nothing the request sleeps outside moto until something that can
make a message receivable happens to its queue (a send, a delete, a visibility change, an
EventBridge event) or its wait is over. One sleeper per change is woken, not all of them, and
one sleeper per queue looks again every quarter second for messages whose visibility timeout
ran out. An idle queue costs a few requests a second, and a message is picked up at once.

The server is waitress, which keeps HTTP connections open between requests (werkzeug's
development server closes every one, so each AWS call paid for a new connection and thread).

With ``--state FILE`` the server loads what it held from FILE when it starts, and saves it
there after changes and when it gets SIGTERM (dev/moto_state.py).

    python -m dev.moto_server -H 127.0.0.1 -p 5000 [--state .local-state/moto-aws.pickle]
"""

import argparse
import collections
import functools
import io
import json
import logging
import threading
import time

import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from dev import moto_state

RECHECK_SECONDS = 0.25  # how often a queue is looked at for messages whose visibility ran out
SERVER_THREADS = 256  # long polls hold a thread each while they wait: room for many pollers
CONNECTION_LIMIT = 1000  # boto3 keeps its connections open; every client holds up to its pool size
# Actions that change nothing, so there is nothing new to save after them.
_READS = ("Get", "List", "Describe", "Query", "Scan", "BatchGet")


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


def _queue_counts_on_demand():
    """Moto counts a queue's messages (three passes over all of them) whenever any code reads
    the queue's attributes, and its send and receive read them several times per message just
    to learn settings such as ContentBasedDeduplication: with a backlog, every send and receive
    costs a multiple of the queue's length. Count only for a GetQueueAttributes that asks for
    the counts; the answers stay the same."""
    import moto.sqs.models as sqs_models

    wanted = threading.local()
    counts = ("approximate_number_of_messages", "approximate_number_of_messages_delayed",
              "approximate_number_of_messages_not_visible")
    for name in counts:
        count = getattr(sqs_models.Queue, name).fget
        setattr(sqs_models.Queue, name, property(lambda queue, count=count: count(queue) if getattr(wanted, "on", False) else 0))
    original = sqs_models.SQSBackend.get_queue_attributes

    def get_queue_attributes(self, queue_name, attribute_names):
        wanted.on = any(type(name) is str and (name == "All" or name.startswith("Approximate"))
                        for name in attribute_names or ())
        try:
            return original(self, queue_name, attribute_names)
        finally:
            wanted.on = False

    sqs_models.SQSBackend.get_queue_attributes = get_queue_attributes


_PLAIN_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _plain_attribute(value):
    """True for a DynamoDB attribute value in the wire's own JSON form, with no binary in it."""
    if type(value) is not dict or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in _PLAIN_SCALARS:
        return type(inner) is _PLAIN_SCALARS[kind]
    if kind in ("SS", "NS"):
        return type(inner) is list and all(type(v) is str for v in inner)
    if kind == "M":
        return type(inner) is dict and all(type(k) is str and _plain_attribute(v) for k, v in inner.items())
    if kind == "L":
        return type(inner) is list and all(_plain_attribute(v) for v in inner)
    return False


def _attribute_values_as_they_are():
    """Moto reads DynamoDB requests and writes its answers by walking the API model for every
    attribute value (a structure of ten members, each looked up several ways): most of the
    cost of a PutItem, Query or BatchGetItem. An attribute value already in the wire's JSON
    form with no binary in it (a binary is base64 on the wire and bytes inside moto) reads
    and writes as itself, so it is passed as it is; anything else takes moto's own way."""
    from moto.core.parse import BaseJSONParser
    from moto.core.serialize import BaseJSONSerializer

    parse_structure = BaseJSONParser._parse_structure
    serialize_structure = BaseJSONSerializer._serialize_type_structure

    def parse(self, shape, value):
        if shape.name == "AttributeValue" and _plain_attribute(value):
            return value
        return parse_structure(self, shape, value)

    def serialize(self, serialized, value, shape, key):
        if key and shape.name == "AttributeValue" and _plain_attribute(value):
            self._default_serialize(serialized, value, shape, key)
        else:
            serialize_structure(self, serialized, value, shape, key)

    BaseJSONParser._parse_structure = parse
    BaseJSONSerializer._serialize_type_structure = serialize


def _item_size_checked_once():
    """Moto checks DynamoDB's 400 KB item limit as it sets each attribute of a new item, by
    adding up the sizes of all attributes set so far: a cost that grows with the square of
    the attributes. Check the whole item once, when it is built; the same items pass and fail."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    def build(self, hash_key, range_key, attrs):
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        for key, value in attrs.items():
            dict.__setitem__(self.attrs, key, DynamoType(value))
        if self.size() > 405000:  # moto's own figure for the limit
            raise ItemSizeTooLarge

    Item.__init__ = build


def _static_lookups_once():
    """Moto works out, on every request, things that cannot change while the server runs: the
    list of its own service packages (a stat of each), the methods of a response class, the
    backend for a host name (a regular expression per service), and Python names for AWS
    attribute names. Each is worked out once and kept."""
    import moto.backends as backends
    import moto.core.responses as responses
    import moto.sqs.models as sqs_models
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
    sqs_models.camelcase_to_underscores = functools.lru_cache(maxsize=None)(sqs_models.camelcase_to_underscores)
    backend_for_host = DomainDispatcherApplication.get_backend_for_host
    hosts = {}

    def get_backend_for_host(self, host):
        if host not in hosts:
            hosts[host] = backend_for_host(self, host)
        return hosts[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host


def _receipt_handles_in_one_go():
    """Moto makes each SQS receipt handle with a random.choice call per character (185 of
    them); one random.choices call makes the same kind of handle."""
    import string

    import moto.sqs.models as sqs_models
    from moto.moto_api._internal import mock_random

    sqs_models.generate_receipt_handle = lambda: "".join(mock_random.choices(string.ascii_lowercase, k=185))


class Wakeups:
    """Who sleeps on which queue, and handing each change of a queue to one of its sleepers."""

    def __init__(self, recheck_seconds=RECHECK_SECONDS):
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._queues = {}  # name: _Sleepers

    def _sleepers(self, queue):
        if queue not in self._queues:
            self._queues[queue] = _Sleepers(self._lock)
        return self._queues[queue]

    def version(self, queue):
        """How many changes ``queue`` has seen: read it before a receive, give it to :meth:`sleep`."""
        with self._lock:
            return self._sleepers(queue).version

    def changed(self, queue=None):
        """Something happened to ``queue`` (to every queue, if None): wake one sleeper of each."""
        with self._lock:
            for sleepers in [self._sleepers(queue)] if queue is not None else list(self._queues.values()):
                sleepers.version += 1
                if sleepers.sleeping > sleepers.tokens:
                    sleepers.tokens += 1
                    sleepers.woken.notify()

    def sleep(self, queue, seen, deadline):
        """Sleep until this queue changed since ``seen``, or it is time to look again, or the
        ``deadline`` (time.monotonic()) is reached. Returns at once if it already changed.

        One sleeper of each queue is its watcher, which wakes every RECHECK_SECONDS to look for
        messages whose visibility timeout ran out; when it leaves, another sleeper takes over."""
        with self._lock:
            sleepers = self._sleepers(queue)
            if sleepers.version != seen:
                return
            sleepers.sleeping += 1
            watching = False
            try:
                while not sleepers.tokens:
                    if not watching and not sleepers.watched:
                        sleepers.watched = watching = True
                        look_at = time.monotonic() + self._recheck
                    left = (min(deadline, look_at) if watching else deadline) - time.monotonic()
                    if left <= 0:
                        return
                    sleepers.woken.wait(left)
                sleepers.tokens -= 1
            finally:
                sleepers.sleeping -= 1
                if watching:
                    sleepers.watched = False
                    sleepers.woken.notify()  # another sleeper takes the watch over


class _Sleepers:
    """The long polls sleeping on one queue (guarded by the :class:`Wakeups` lock)."""

    def __init__(self, lock):
        self.woken = threading.Condition(lock)
        self.version = 0  # changes seen
        self.sleeping = 0
        self.tokens = 0  # wake-ups handed out and not yet taken
        self.watched = False


class OneAtATime:
    """WSGI middleware: moto runs for one request at a time; SQS long polls wait outside it.
    ``written`` is called after every request that may have changed moto's data."""

    def __init__(self, app, wakeups=None):
        self._app = app
        self.lock = threading.Lock()
        self._wakeups = wakeups or Wakeups()
        self.written = lambda: None

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("AmazonSQS."):
            answer = self._run(environ, start_response)
            if not target.rsplit(".", 1)[-1].startswith(_READS):
                self.written()
            if target:  # DynamoDB or EventBridge; an event may have reached a queue through a rule
                self._wakeups.changed()
            return answer
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            request = json.loads(body)
            queue = request["QueueUrl"].rstrip("/").rsplit("/", 1)[-1]
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._run(environ, start_response)  # moto answers what is wrong with it
        action = target.split(".", 1)[1]
        if action == "ReceiveMessage":
            wait = request.get("WaitTimeSeconds")
            if wait is None:
                wait = self._default_wait(environ, request, queue)
            if type(wait) is int and 0 <= wait <= 20:  # else moto answers what is wrong with it
                return self._long_poll(environ, start_response, request, queue, wait)
        answer = self._run(environ, start_response)
        if not action.startswith(("Get", "List")):
            self._wakeups.changed(queue)
            self.written()
        return answer

    def _run(self, environ, start_response):
        with self.lock:
            return list(self._app(environ, start_response))

    def _default_wait(self, environ, request, queue):
        """The queue's ReceiveMessageWaitTimeSeconds, for a receive that gives no wait of its
        own (moto would wait inside the lock, holding every other request up); 0 if unknown."""
        from moto.sqs.models import sqs_backends

        try:
            account = request["QueueUrl"].rstrip("/").rsplit("/", 2)[-2]
            region = environ["HTTP_AUTHORIZATION"].split("Credential=", 1)[1].split("/")[2]
            with self.lock:
                return int(sqs_backends[account][region].get_queue(queue).receive_message_wait_time_seconds)
        except Exception:  # noqa: BLE001 - no such queue, no signature...: moto answers the receive
            return 0

    def _long_poll(self, environ, start_response, request, queue, wait):
        """Receive without waiting in moto; while there is nothing, sleep outside moto and try again."""
        body = json.dumps({**request, "WaitTimeSeconds": 0}).encode()
        wanted = request.get("MaxNumberOfMessages", 1)
        deadline = time.monotonic() + wait
        gone = environ.get("waitress.client_disconnected", lambda: False)
        while True:
            if gone():  # a worker that died meanwhile: hand its messages and its wake-up to others
                self._wakeups.changed(queue)
                start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
                return [b"{}"]
            seen = self._wakeups.version(queue)
            answered = []
            environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
            chunks = self._run(environ, lambda status, headers, exc_info=None: answered.append((status, headers)))
            status, headers = answered[-1]
            got = _messages(status, chunks)
            if got:  # received messages change: their visibility, receive count and group
                self.written()
            if got is None or got or wait == 0 or time.monotonic() >= deadline:
                if got and (type(wanted) is not int or len(got) >= wanted):
                    self._wakeups.changed(queue)  # there may be more: let another sleeper look
                start_response(status, headers)
                return chunks
            self._wakeups.sleep(queue, seen, deadline)


def _messages(status, chunks):
    """The messages a ReceiveMessage answer holds, or None when it is not a plain answer."""
    if not status.startswith("200"):
        return None
    try:
        return json.loads(b"".join(chunks) or b"{}").get("Messages", [])
    except ValueError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--state", help="load moto's data from this file, and keep saving it there")
    args = parser.parse_args(argv)
    _faster_clock()
    _partition_queries()
    _static_lookups_once()
    _receipt_handles_in_one_go()
    _queue_counts_on_demand()
    _attribute_values_as_they_are()
    _item_size_checked_once()
    logging.getLogger("waitress").setLevel(logging.ERROR)
    app = OneAtATime(DomainDispatcherApplication(create_backend_app))
    if args.state:
        app.written = moto_state.keep(args.state, app.lock).changed
    waitress.serve(app, host=args.host, port=args.port, threads=SERVER_THREADS, connection_limit=CONNECTION_LIMIT,
                   ident=None, _quiet=True, channel_request_lookahead=1)  # so a long poll can tell its client has gone

if __name__ == "__main__":
    main()

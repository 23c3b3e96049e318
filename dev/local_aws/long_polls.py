"""One request at a time inside moto, SQS long polls waiting outside it (a WSGI middleware).

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
"""

import io
import json
import threading
import time

RECHECK_SECONDS = 0.25  # how often a queue is looked at for messages whose visibility ran out
# Actions that change nothing, so there is nothing new to save after them.
_READS = ("Get", "List", "Describe", "Query", "Scan", "BatchGet")


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

"""One deadline per delivery attempt (contract, section 10).

Socket timeouts bound each read, not the attempt: an endpoint that drips its answer a byte at a
time, or sends ``100 Continue`` for ever, never trips them. So the connections of the sender's
pools report to the deadline of the attempt running on their thread, and one watchdog thread
shuts a connection's socket down when its attempt's deadline comes, which ends whatever was
waiting on it at once.
"""

import heapq
import itertools
import logging
import socket
import threading
import time

import urllib3

_LOOK_AGAIN_SECONDS = 0.05  # how soon the watchdog looks again for a socket still connecting


class Deadline:
    """The moment one attempt must be over, and the connection it is using meanwhile.

    Socket timeouts bound each read, not the attempt: an endpoint that drips its answer, or sends
    ``100 Continue`` for ever, never trips them. So while an attempt runs (``with deadline:``) the
    connections it uses report to it (see :class:`_Watched`), and at the deadline the
    watchdog shuts the connection's socket down, which ends whatever was waiting on it at once.
    """

    _current = threading.local()  # the deadline of the attempt running on this thread

    def __init__(self, at):
        self.at = at
        self.expired = False
        self._connection = None
        self.reused = False  # whether the connection in use had answered a request before
        self._over = False
        self._lock = threading.Lock()

    def left(self):
        """Seconds left, never quite none: a socket timeout of 0 would make it non-blocking."""
        return max(0.01, self.at - time.monotonic())

    def __enter__(self):
        Deadline._current.deadline = self
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *exc):
        Deadline._current.deadline = None
        with self._lock:
            self._over = True

    @classmethod
    def note(cls, connection, reused=False):
        """Tell the deadline of the attempt running on this thread, if any, that it uses
        ``connection`` (``reused``: one that had answered a request before)."""
        deadline = getattr(cls._current, "deadline", None)
        if deadline is not None:
            with deadline._lock:
                deadline._connection = connection
                deadline.reused = reused

    @property
    def over(self):
        """Whether the attempt has ended (read without the lock: a stale False only means one
        more look)."""
        return self._over

    def expire(self):
        """Shut the attempt's socket down if it is still running; True to be called again soon
        (its connection has no socket yet)."""
        with self._lock:
            if self._over:
                return False
            self.expired = True
            sock = self._connection.sock if self._connection is not None else None
            if sock is None:
                return True
            try:
                # The plain socket's shutdown, also for TLS: it must not touch the TLS state that
                # the attempt's thread may be using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile
            return False


class _Watchdog:
    """One thread that expires every deadline when it comes (see :class:`Deadline`); a deadline's
    ``expire()`` answers True to be looked at again soon."""

    def __init__(self):
        self._due = []  # a heap of (when, number, deadline)
        self._numbers = itertools.count()
        self._changed = threading.Condition()
        self._thread = None

    def watch(self, deadline):
        with self._changed:
            heapq.heappush(self._due, (deadline.at, next(self._numbers), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            if self._due[0][2] is deadline:
                self._changed.notify()

    def _run(self):
        with self._changed:
            while True:
                while self._due and self._due[0][2].over:
                    heapq.heappop(self._due)  # ended in time: forgotten now, not woken for at its deadline
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, deadline = heapq.heappop(self._due)
                try:
                    again = deadline.expire()
                except Exception:  # noqa: BLE001 - this thread must live on, for every other deadline
                    logging.getLogger(__name__).exception("a deadline could not be enforced")
                    again = False
                if again:
                    heapq.heappush(self._due, (time.monotonic() + _LOOK_AGAIN_SECONDS, next(self._numbers), deadline))


_WATCHDOG = _Watchdog()


class _Watched:
    """Makes a connection report to the deadline of the attempt using it (TLS connects before the
    request is sent, plain HTTP while sending it), and whether it is a kept-alive one."""

    answers = 0  # answers read on this connection since it connected

    def connect(self):
        self.answers = 0
        Deadline.note(self)
        super().connect()

    def request(self, *args, **kwargs):
        Deadline.note(self, reused=self.answers > 0 and self.sock is not None)
        super().request(*args, **kwargs)

    def getresponse(self, *args, **kwargs):
        response = super().getresponse(*args, **kwargs)
        self.answers += 1
        return response


class _WatchedConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}

"""One deadline per delivery attempt (contract, section 10).

Socket timeouts bound each read, not the attempt: an endpoint that drips its answer a byte at a
time, or sends ``100 Continue`` for ever, never trips them. So the connections of the sender's
pools report to the deadline of the attempt running on their thread, and a timer shuts the
connection's socket down when the deadline comes, which ends whatever was waiting on it at once.
"""

import socket
import threading
import time

import urllib3

_LOOK_AGAIN_SECONDS = 0.05  # how soon the timer looks again for a socket still connecting


class Deadline:
    """The moment one attempt must be over, and the connection it is using meanwhile: while the
    attempt runs (``with deadline:``) the connections it uses report to it (see
    :class:`_Watched`), and a :class:`threading.Timer` expires it at ``at``."""

    _current = threading.local()  # the deadline of the attempt running on this thread

    def __init__(self, at):
        self.at = at
        self.expired = False
        self._connection = None
        self.reused = False  # whether the connection in use had answered a request before
        self._over = False
        self._lock = threading.Lock()
        self._timer = None

    def left(self):
        """Seconds left, never quite none: a socket timeout of 0 would make it non-blocking."""
        return max(0.01, self.at - time.monotonic())

    def __enter__(self):
        Deadline._current.deadline = self
        self._start_timer(self.at - time.monotonic())
        return self

    def __exit__(self, *exc):
        Deadline._current.deadline = None
        with self._lock:
            self._over = True
            self._timer.cancel()

    @classmethod
    def note(cls, connection, reused=False):
        """Tell the deadline of the attempt running on this thread, if any, that it uses
        ``connection`` (``reused``: one that had answered a request before)."""
        deadline = getattr(cls._current, "deadline", None)
        if deadline is not None:
            with deadline._lock:
                deadline._connection = connection
                deadline.reused = reused

    def _start_timer(self, seconds):
        self._timer = threading.Timer(max(0.0, seconds), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self):
        """Shut the attempt's socket down if it is still running; look again soon when its
        connection has no socket yet."""
        with self._lock:
            if self._over:
                return
            self.expired = True
            sock = self._connection.sock if self._connection is not None else None
            if sock is None:
                self._start_timer(_LOOK_AGAIN_SECONDS)
                return
            try:
                # The plain socket's shutdown, also for TLS: it must not touch the TLS state that
                # the attempt's thread may be using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass  # closed meanwhile


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

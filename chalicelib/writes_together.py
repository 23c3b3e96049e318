"""Writes handed in by several threads at about the same moment, made as one request."""

import threading


class WritesTogether:
    """Writes handed in by several threads at about the same moment go out as one request.

    A thread that finds no write under way writes at once. Threads that hand in items
    meanwhile wait; when that write is done, the first of them writes everything that is
    waiting (up to ``max_items``), its own items first among them, and so on. So each thread
    makes at most one request, none waits for more than the write ahead of it, and each
    returns only when its own items are stored (or raises what their write raised). The
    deliveries of a batch finish at about the same time: their records take one or two
    requests instead of one each.
    """

    def __init__(self, write, max_items=25):
        self._write = write
        self._max_items = max_items
        self._lock = threading.Lock()
        self._waiting = []  # while this is not empty, some thread is writing
        self._writing = False

    def write(self, items):
        entry = _Handed(items)
        with self._lock:
            self._waiting.append(entry)
            leads, self._writing = not self._writing, True
        if not leads:
            entry.woken.wait()  # its items were written, or it is its turn to write
        if not entry.done:
            self._write_round()
        if entry.error is not None:
            raise entry.error

    def _write_round(self):
        with self._lock:
            taken, count = [], 0
            while self._waiting and (not taken or count + len(self._waiting[0].items) <= self._max_items):
                count += len(self._waiting[0].items)
                taken.append(self._waiting.pop(0))
        error = None
        try:
            self._write([item for entry in taken for item in entry.items])
        except BaseException as exc:  # noqa: BLE001 - raised in each writer whose items it carried
            error = exc
        with self._lock:
            for entry in taken:
                entry.error, entry.done = error, True
            following = self._waiting[0] if self._waiting else None
            self._writing = following is not None
        for entry in taken[1:] + ([following] if following else []):
            entry.woken.set()


class _Handed:
    """Items handed to :class:`WritesTogether`, and what became of them."""

    def __init__(self, items):
        self.items = items
        self.done = False
        self.error = None
        self.woken = threading.Event()

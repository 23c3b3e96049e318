"""The local run's data, kept across runs: a moto server's backends saved to a file and loaded
back when it starts again.

Moto keeps everything in memory and has no way of its own to keep it (its recorder replays
requests, which would not bring back when a message becomes visible again, nor its receive
count). So the backends of the services the local run uses are pickled whole: DynamoDB's
tables and items, SQS's queues with every message, its visibility, receive count and FIFO
group state, and EventBridge's rules. Times inside them are wall-clock times, so a retry that
was due in a minute is due a minute after it was saved, whenever the next run starts.

A file is written after changes, about once a second (less often for a large store, so that
saving takes at most a tenth of a core), and on SIGTERM, which is how the local run stops its
moto servers: a server killed outright loses at most its last second. Moto is held only while
the process forks; a child pickles the data as it was at that instant, so the server is not
held up while it is written.
"""

import contextlib
import importlib
import io
import os
import pathlib
import pickle
import signal
import stat
import sys
import tempfile
import threading
import time

import moto

SAVE_EVERY_SECONDS = 1.0  # the most a server killed with SIGKILL loses
MOST_OF_THE_TIME = 0.1  # the share of one core that saving may take (the child's pickling)
_BACKENDS = {  # service: (module, name of its backends)
    "dynamodb": ("moto.dynamodb.models", "dynamodb_backends"),
    "sqs": ("moto.sqs.models", "sqs_backends"),
    "events": ("moto.events.models", "events_backends"),
}


class StateError(Exception):
    """A state file that this moto cannot load."""


class _Pickler(pickle.Pickler):
    """Moto's SQS queues hold a threading.Condition, which cannot be pickled; a fresh one
    comes back in its place, as nothing waits on it across runs."""

    def reducer_override(self, obj):
        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        return NotImplemented


def _backend_dicts():
    return {service: getattr(importlib.import_module(module), name) for service, (module, name) in _BACKENDS.items()}


def snapshot():
    """Everything the services hold, as bytes (call it while no request runs in moto)."""
    state = {service: {account: dict(regions) for account, regions in backends.items()}
             for service, backends in _backend_dicts().items() if backends}
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump({"moto": moto.__version__, "backends": state})
    return out.getvalue()


def private_folder(folder):
    """Make ``folder`` (and its parents) if needed, readable by this user alone (0700): the state
    holds signing secrets and token hashes."""
    folder = pathlib.Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid == os.getuid():
        folder.chmod(0o700)
    return folder


def write(path, data):
    """Replace the file at ``path`` with ``data`` in one step, so a crash leaves the old or the new.

    The file is 0600, in a 0700 folder, and written first to a new temporary file (made with
    O_EXCL and O_NOFOLLOW by ``tempfile.mkstemp``): a symbolic link planted where the data goes
    is replaced, never written through."""
    path = pathlib.Path(path)
    private_folder(path.parent)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _read_own_file(path):
    """The bytes of ``path``, if this user owns it and no one else can write it; None if there is
    no file. A symbolic link is not followed."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path} cannot be opened ({exc.strerror}; a symbolic link is not followed)") from None
    with os.fdopen(handle, "rb") as file:
        info = os.fstat(file.fileno())
        if info.st_uid != os.getuid():
            raise StateError(f"{path} belongs to another user (uid {info.st_uid}), so it is not loaded: what it "
                             "holds could run code here. Remove it, or set LOCAL_STATE_DIR to a folder of your own")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise StateError(f"{path} can be written by other users, so it is not loaded: what it holds could "
                             "run code here. If you trust it: chmod 600 it")
        return file.read()


def load(path):
    """Put the backends saved at ``path`` back into moto; returns False if there is no file.
    Raises StateError for a file this moto cannot read."""
    path = pathlib.Path(path)
    data = _read_own_file(path)
    if data is None:
        return False
    try:
        saved = pickle.loads(data)
        version, state = saved["moto"], saved["backends"]
    except Exception as exc:  # noqa: BLE001 - any damage to the file is the same error to the user
        raise StateError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
    if version != moto.__version__:  # moto's classes change between versions: old objects would half work
        raise StateError(f"{path} was saved by moto {version}, and this is moto {moto.__version__}")
    backend_dicts = _backend_dicts()
    for service, accounts in state.items():
        for account, regions in accounts.items():
            for region, backend in regions.items():
                dict.__setitem__(backend_dicts[service][account], region, backend)
    return True


class Saver:
    """Saves moto's backends to ``path`` once changes were made, holding ``lock`` (the lock that
    lets one request at a time into moto) while it takes the snapshot."""

    def __init__(self, path, lock, every=SAVE_EVERY_SECONDS):
        self.path = pathlib.Path(path)
        self._lock = lock
        self._every = every
        self._changed = threading.Event()
        self._saving = threading.Lock()  # the background save and the last one, one at a time
        self.cost = 0.0  # how long the latest save took, the child's pickling included

    def changed(self):
        """Moto's data changed: it will be saved within about a second."""
        self._changed.set()

    def start(self):
        """Save in the background from now on."""
        threading.Thread(target=self._loop, daemon=True, name="moto-state").start()

    def _loop(self):
        while True:
            self._changed.wait()
            time.sleep(max(self._every, self.cost / MOST_OF_THE_TIME - self.cost))
            self._changed.clear()  # before the snapshot: a change made during it is saved next time
            try:
                self.save()
            except OSError as exc:  # a full disk, a folder removed: say so, and try again at the next change
                print(f"the local run could not save its data to {self.path}: {exc}", file=sys.stderr, flush=True)

    def save(self, final=False):
        """Save now. With ``final``, moto stays held afterwards, so nothing changes after the
        last save of a server about to exit.

        Otherwise moto is held only while the process forks: the child has moto's data as it
        was at that instant (copy-on-write), pickles and writes it, and exits, while the server
        goes on. Pickling a large store takes a second; the fork, a few milliseconds."""
        with self._saving:
            self._lock.acquire()
            started = time.perf_counter()
            if final:
                write(self.path, snapshot())
                return
            try:
                child = os.fork()
                if child == 0:  # the child: only this thread exists; nothing else touches moto here
                    code = 0
                    try:
                        write(self.path, snapshot())
                    except BaseException:  # noqa: BLE001 - reported by the exit code, to the parent
                        code = 1
                    os._exit(code)
            finally:
                self._lock.release()
            _, status = os.waitpid(child, 0)
            self.cost = time.perf_counter() - started
            if os.waitstatus_to_exitcode(status) != 0:
                raise OSError(f"saving to {self.path} failed in the saving process")


def keep(path, lock):
    """Load what was saved at ``path`` into moto, then keep saving there: after changes, and on
    SIGTERM or SIGINT, after which the process exits. Returns the :class:`Saver`, whose
    ``changed`` is to be called after every change. Exits if the file cannot be loaded: the
    data is the user's, so it is neither dropped nor overwritten without being asked."""
    try:
        load(path)
    except StateError as exc:
        sys.exit(f"the local run's saved data: {exc}. To start afresh: make run FRESH=1")
    saver = Saver(path, lock)
    saver.start()

    def save_and_exit(signum, frame):
        saver.save(final=True)
        os._exit(0)  # at once: waitress would wait for the long polls of a worker that has gone

    signal.signal(signal.SIGTERM, save_and_exit)
    signal.signal(signal.SIGINT, save_and_exit)
    return saver

"""What the delivery worker holds for one batch: the messages it received, what it read for them,
and the first-attempt records it has yet to write (chalicelib/worker.py)."""

import threading
import time
from dataclasses import dataclass, field

from chalicelib.delivery_queue import QueuedMessage


@dataclass
class Received:
    """One SQS record of the batch: its IDs, its message group, when it was sent, its message."""

    record_id: str
    receipt_handle: str
    group_id: str
    sent_ms: int
    message: QueuedMessage | None  # None when the body could not be read


@dataclass
class Batch:
    """What the worker read for one batch: webhook items, message records, sequence counters.

    Several groups of a batch may be one webhook's: ``lock_for`` serialises what they do to
    that webhook's item (its health and status), so two failing groups disable it once.
    """

    webhooks: dict
    records: dict
    sequences: dict
    deadline: float | None = None
    unwritten: list = field(default_factory=list)  # first-attempt records handed in, not yet written
    unrecorded: set = field(default_factory=set)  # record IDs of failed attempts whose record was lost
    _locks: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _handed: dict = field(default_factory=dict)  # record ID: its Unwritten

    def __post_init__(self):
        self._locks = {webhook_id: threading.Lock() for webhook_id in self.webhooks}

    def lock_for(self, webhook_id):
        return self._locks[webhook_id]

    def hand_in(self, record):
        with self._lock:
            self.unwritten.append(record)
            self._handed[record.received.record_id] = record

    def wait_until_stored(self, record_id):
        """Once the first-attempt record of ``record_id``, if one was handed in, has been written
        (or its write has failed), by whichever thread took it."""
        with self._lock:
            record = self._handed.get(record_id)
        if record is not None:
            record.stored.wait()

    def take_unwritten(self):
        with self._lock:
            taken, self.unwritten = self.unwritten, []
            return taken

    def oldest_unwritten_seconds(self):
        with self._lock:
            return time.monotonic() - self.unwritten[0].handed_at if self.unwritten else 0.0


@dataclass
class Unwritten:
    """The items that record a message's first attempt, handed in to be written with the batch's."""

    items: list
    received: Received
    ok: bool
    handed_at: float = field(default_factory=time.monotonic)
    stored: threading.Event = field(default_factory=threading.Event)  # written, or its write failed

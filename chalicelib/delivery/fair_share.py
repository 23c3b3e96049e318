"""Fair sharing (contract, section 16): a slow or failing webhook is held to its share of the
delivery capacity, so that it cannot take every worker from the other webhooks.

What holds the capacity is not an attempt but the worker that waits for it: a Lambda invocation
(a local poller) is busy until the slowest attempt of its batch ends. So a webhook's share is
counted in *batches*: a held webhook may have attempts running in at most ``batches`` batches at
once, across every instance (as many of its messages in each batch as the batch holds). The
rest of its messages go back on the queue, with no attempt used, hidden until their turn.

The steps, for one webhook:

- **Marked** when an attempt to it takes ``SLOW_MS`` or more, or fails: ``heldSince``,
  ``heldReason`` and ``heldAttemptMs`` on its item, which the worker reads once a batch anyway.
  **Cleared** when an attempt succeeds within ``FAST_MS``. A webhook that is not marked costs
  nothing here: no request is made for it, before or after its attempts.
- **Leases.** A batch that is to attempt a marked webhook first takes one of its ``batches``
  lease slots in the ``WH#<id>`` / ``HOLD`` item (a conditional UpdateItem; the slot holds the
  lease's expiry, so a killed worker's lease ends by itself after the delivery timeout), and
  gives it back when its last attempt to that webhook has ended. The batch's other messages to
  the webhook go under the same lease, with no request.
- **Turns.** A batch that finds every slot taken takes a turn instead: the same item's ``tail``
  is moved on by one batch's time (the webhook's attempt time divided by ``batches``), and the
  batch's messages to that webhook are hidden until the turn comes. So the delay grows with the
  backlog, a held-back message is received about once more (not over and over), and the
  messages behind it in the FIFO queue (other webhooks') are reached at once.

Costs, for a held webhook only: two UpdateItems a batch that attempts it (take, give back), and
one or two a batch that is turned back (one to find the slots full, skipped for 0.2 s after a
process has seen them full, and one for the turn), besides the SQS receive and visibility
change of a message sent back. See docs/architecture.md (Fair sharing) for why this design.
"""

import collections
import threading
import time
import weakref

from botocore.exceptions import ClientError

from chalicelib import observability
from chalicelib.delivery.hold_item import BATCH_SIZE, HoldItem
from chalicelib.errors import NotFound

log = observability.logger

SLOW_MS = 1000  # an attempt this slow (or a failed one) marks its webhook
FAST_MS = 500  # a successful attempt this fast clears the mark
FULL_SECONDS = 0.2  # a process that found the slots full turns batches back without asking, this long
LEASE_MARGIN_MS = 5000  # a lease outlives the delivery timeout by this much, then ends by itself
_STALE_SECONDS = 120  # per-batch notes older than this are dropped (their batch is over)
_LOCAL_MARK_SECONDS = 30  # what this process marked or cleared outranks an older read of the item


class FairShare:
    """The admission hook of the delivery worker: ``admit`` before each attempt, ``done`` after.

    Handed the DynamoDB client, the table name and the webhook store (for the marks).
    ``batches`` is a held webhook's share; ``timeout_seconds`` the delivery timeout.
    """

    def __init__(self, client, table_name, webhooks, batches=2, timeout_seconds=10.0, clock=time.time):
        self._webhooks = webhooks
        self._batches = max(1, int(batches))
        self._hold = HoldItem(client, table_name, self._batches, int(timeout_seconds * 1000) + LEASE_MARGIN_MS)
        self._timeout_ms = int(timeout_seconds * 1000)
        self._clock = clock
        self._lock = threading.Lock()
        self._leases = {}  # (webhook ID, batch) -> hold_item.Lease
        self._turns = {}  # (webhook ID, batch) -> (seconds to wait, when noted)
        self._full_until = {}  # webhook ID -> monotonic time until which its slots are taken as full
        self._marks = {}  # webhook ID -> (mark or None, when this process set it)
        self._key_locks = {}  # (webhook ID, batch) -> the lock its groups take turns under
        self._running = {}  # webhook ID -> when this process's unheld attempts to it began
        self._gone = collections.deque()  # keys of batches that are over (appended by finalizers)

    # -- the hook ----------------------------------------------------------------------------

    def admit(self, webhook, now, batch=None):
        """None: attempt it now. Else the seconds for which the message (and its group's later
        messages) go back on the queue, no attempt used. ``batch`` names the worker's batch (its
        messages to one webhook share a lease); without it, each attempt is its own batch."""
        mark = self.mark_of(webhook) or self._running_long(webhook)
        if mark is None:
            with self._lock:  # in memory only: a quiet webhook costs no request
                self._running.setdefault(webhook.webhook_id, []).append(time.monotonic())
            return None
        key = (webhook.webhook_id, self._batch_key(batch))
        now_ms = int(now * 1000)
        with self._lock:
            self._forget_stale()
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # A batch's groups ask at the same moment, each on its thread: one takes the lease (or the
        # turn) for the batch, the others wait for it and follow.
        with key_lock:
            with self._lock:
                turn = self._turns.get(key)
                if turn is not None:
                    return turn[0]
                lease = self._leases.get(key)
                if lease is not None and lease.expiry_ms - now_ms > self._timeout_ms + 1000:
                    lease.users += 1
                    return None
                full = self._full_until.get(webhook.webhook_id, 0) > time.monotonic()
            try:
                if lease is not None:
                    taken = self._hold.renew(webhook.webhook_id, lease, now_ms)
                else:
                    taken = None if full else self._hold.take(webhook.webhook_id, now_ms)
                if taken is not None:
                    with self._lock:
                        lease = self._leases.setdefault(key, taken)
                        lease.expiry_ms = max(lease.expiry_ms, taken.expiry_ms)
                        lease.users += 1
                    return None
                seconds = self._hold.turn(webhook.webhook_id, mark[2], now_ms, _messages_in(batch, webhook.webhook_id))
            except (ClientError, NotFound) as exc:
                # The table failed us: delivering matters more than fairness, so the attempt goes.
                log.warning("fair share unavailable; the attempt goes ahead",
                            extra={"webhookID": webhook.webhook_id, "error": str(exc)})
                return None
            with self._lock:
                self._full_until[webhook.webhook_id] = time.monotonic() + FULL_SECONDS
                if batch is not None:  # a thread outlives its attempt: nothing to follow then
                    self._turns[key] = (seconds, time.monotonic())
        self._forget_with(batch, key)
        observability.count("HeldBack")
        return seconds

    def done(self, webhook, attempt, batch=None):
        """After an attempt: give the batch's lease back once its last attempt has ended, and
        mark or clear the webhook by what the attempt showed (``attempt`` None: admitted, but
        no attempt was made)."""
        key = (webhook.webhook_id, self._batch_key(batch))
        with self._lock:
            running = self._running.get(webhook.webhook_id)
            if running:
                running.pop(0)
                if not running:
                    del self._running[webhook.webhook_id]
            lease = self._leases.get(key)
            release = None
            if lease is not None:
                lease.users -= 1
                if lease.users <= 0:
                    release = self._leases.pop(key)
        try:
            if release is not None:
                self._hold.release(webhook.webhook_id, release)
            if attempt is not None:
                self._mark_or_clear(webhook, attempt)
        except (ClientError, NotFound):
            log.warning("fair share could not note an attempt", extra={"webhookID": webhook.webhook_id})

    # -- marks -------------------------------------------------------------------------------

    def mark_of(self, webhook):
        """(since ms, reason, attempt ms) when the webhook is held to its share, else None. What
        this process marked or cleared lately outranks the item the batch read before."""
        with self._lock:
            local = self._marks.get(webhook.webhook_id)
        if local is not None and time.monotonic() - local[1] < _LOCAL_MARK_SECONDS:
            return local[0]
        if webhook.held_since_ms is None:
            return None
        return (webhook.held_since_ms, webhook.held_reason or "", webhook.held_attempt_ms or SLOW_MS)

    def _running_long(self, webhook):
        """Mark a webhook whose attempt in this process has run for ``SLOW_MS`` already, before
        it ends (the local run's pollers share one process: they all see it at once)."""
        with self._lock:
            running = self._running.get(webhook.webhook_id)
            started = running[0] if running else None
        if started is None or time.monotonic() - started < SLOW_MS / 1000:
            return None
        seconds = time.monotonic() - started
        new = (int(self._clock() * 1000), f"slow: an attempt has taken over {seconds:.1f} s", SLOW_MS * 2)
        try:
            self._webhooks.mark_held(webhook.webhook_id, *new)
        except (ClientError, NotFound):
            return None
        with self._lock:
            self._marks[webhook.webhook_id] = (new, time.monotonic())
        return new

    def _mark_or_clear(self, webhook, attempt):
        mark = self.mark_of(webhook)
        slow = attempt.duration_ms >= SLOW_MS
        if mark is None and (slow or not attempt.ok):
            now_ms = int(self._clock() * 1000)
            seconds = attempt.duration_ms / 1000
            if attempt.ok:
                reason = f"slow: an attempt took {seconds:.1f} s"
            else:
                what = attempt.error or f"HTTP {attempt.status_code}"
                reason = f"failing: {what} after {seconds:.1f} s"
            new = (now_ms, reason, max(SLOW_MS, attempt.duration_ms))
            self._webhooks.mark_held(webhook.webhook_id, *new)
            with self._lock:
                self._marks[webhook.webhook_id] = (new, time.monotonic())
            log.info("webhook held to its share", extra={"webhookID": webhook.webhook_id, "reason": reason})
        elif mark is not None and attempt.ok and attempt.duration_ms < FAST_MS:
            self._webhooks.clear_held(webhook.webhook_id)
            with self._lock:
                self._marks[webhook.webhook_id] = (None, time.monotonic())
            log.info("webhook no longer held: its endpoint is fast again", extra={"webhookID": webhook.webhook_id})

    # -- bookkeeping -------------------------------------------------------------------------

    @staticmethod
    def _batch_key(batch):
        # Without a batch, admit and done of one attempt run on one thread: it is the batch.
        return ("thread", threading.get_ident()) if batch is None else ("batch", id(batch))

    def _forget_with(self, batch, key):
        """Drop a batch's turn when the batch is gone (its ID may be reused by a later one)."""
        if batch is not None:
            try:
                weakref.finalize(batch, self._drop_turn, key)
            except TypeError:
                pass  # not weakly referable: the stale sweep drops it

    def _drop_turn(self, key):
        # Run by the garbage collector, perhaps while this very thread holds the lock: no lock
        # here, only a note that _forget_stale reads.
        self._gone.append(key)

    def _forget_stale(self):
        """Drop the notes of batches long over (a batch that died never said it was done)."""
        while self._gone:
            key = self._gone.popleft()
            self._turns.pop(key, None)
            self._key_locks.pop(key, None)
        limit = time.monotonic() - _STALE_SECONDS
        for key in [k for k, (_, when) in self._turns.items() if when < limit]:
            self._turns.pop(key, None)
        for key in [k for k, lease in self._leases.items() if lease.made < limit]:
            self._leases.pop(key, None)
        if len(self._key_locks) > 1000:  # a lock is only needed while its batch asks
            live = set(self._turns) | set(self._leases)
            self._key_locks = {k: v for k, v in self._key_locks.items() if k in live or v.locked()}


def _messages_in(batch, webhook_id):
    """How many of the worker's batch's messages are for this webhook (a full batch if unknown)."""
    messages = getattr(batch, "messages", None)
    if not isinstance(messages, dict):
        return BATCH_SIZE
    return max(1, sum(1 for m in messages.values() if getattr(m, "webhook_id", None) == webhook_id))


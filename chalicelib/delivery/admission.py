"""Admission: may this attempt start now? A webhook's own rate limit (contract, section 14) and
an organizer's share of the delivery capacity (section 16), in one object per batch::

    with admission.batch(webhooks) as admit:
        wait = admit.hold_back(webhook, now)     # None: go; else the seconds it goes back for
        attempt = admit.attempt(webhook, post)   # post() runs under the watch of the share

What the batch takes (its share's leases, its turns, its probes) is its own and ends with it.

**Rate limit.** A rate-limited webhook's attempt takes a place in its second's counter
(``RATE#WH#<id>`` / ``SEC#<second>``: ``ADD`` one while below the limit); a full second holds
the message back until the next one. A window of ``t`` whole seconds touches ``t + 1`` seconds,
so at most ``(t + 1) × rateLimit`` attempts start in it.

**The share** is an organizer's (an event's or a company's): at most ``share`` batches at once,
across every instance, attempt its slow or failing webhooks. What holds the capacity is the
worker waiting for a batch's slowest attempt, so the share is counted in batches.

- A webhook is **held** while its item carries a mark (``heldSince``, ``heldReason``,
  ``heldAttemptMs``; the worker reads the item once a batch anyway). An attempt marks it when it
  fails, or when it has run ``SLOW_MS`` *while still running* (a watch started with each
  attempt, so the instances that read the item from then on hold it); a 2xx within ``FAST_MS``
  clears the mark.
- A batch that attempts a held webhook first takes a **lease** in its organizer's ``HOLD#<owner>``
  item (a conditional UpdateItem; the lease's value is its expiry, so a killed worker's lease
  ends by itself). Its other messages to that organizer go under the same lease.
- A batch that finds every lease taken takes a **turn**: the item's ``tail`` moves on by the
  batch's share of the organizer's attempt time, and its messages to that organizer are hidden
  until the turn comes. So a held-back message comes back about once, and the messages behind
  it in the FIFO queue (other organizers') are reached at once.
- A webhook this process has not seen answer fast yet is **on probation**: at most ``share`` of
  the process's batches at once attempt an organizer's webhooks on probation, the others wait
  while those may still show fast. A probe that has run ``FAST_MS`` cannot: its batch takes a
  lease then, and the organizer's webhooks on probation are held with it for a while. It costs
  no request until then; it keeps a process that runs many batches at once (the local run's
  pollers) from giving every one to an endpoint before its first attempt has shown whether it
  answers.

A webhook proven fast and not held costs nothing: no request before or after its attempts.
Every conditional write carries the batch's token, so that botocore's retry of a write whose
answer was lost is seen as done, never as another writer's.
"""

import collections
import math
import secrets
import threading
import time
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import observability
from chalicelib.errors import NotFound, Unavailable
from chalicelib.store.table import error_code, owner_pk, reraise_unavailable

logger = observability.logger

SLOW_MS = 1000  # an attempt running this long marks its webhook
FAST_MS = 500  # a 2xx this fast clears the mark, and proves the webhook fast
LEASE_MARGIN_MS = 5000  # a lease outlives the delivery timeout by this much, then ends by itself
BATCH_SIZE = 10  # messages a batch holds at most (the SQS event source's batch size)
FULL_SECONDS = 0.2  # a process that found the leases taken turns batches back without asking, this long
LOCAL_SECONDS = 30  # a mark this process set or cleared outranks an older read of the item
PROVEN_SECONDS = 600  # a fast answer keeps a webhook off probation this long
_WATCH_SLACK_SECONDS = 0.3  # a waiting batch gives a probe's watch this long to act first
_KEEP_SECONDS = 3600  # the HOLD item is deleted by the table's TTL this long after its last use
_RATE_KEEP_SECONDS = 60


def hold_key(level, owner_id):
    return {"pk": {"S": f"HOLD#{owner_pk(level, owner_id)}"}, "sk": {"S": "HOLD"}}


def rate_key(webhook_id, second):
    return {"pk": {"S": f"RATE#WH#{webhook_id}"}, "sk": {"S": f"SEC#{second}"}}


class Admission:
    """The process's admission: what it has seen of webhooks (marks, fast answers, probes), and
    the table's HOLD and rate items. Handed the DynamoDB client and table, the webhook store (for
    the marks), the share and the delivery timeout."""

    def __init__(self, client, table_name, webhooks, share=2, timeout_seconds=10.0, clock=time.time):
        self._db, self._table, self._webhooks, self._clock = client, table_name, webhooks, clock
        self.share = max(1, int(share))
        self.timeout_ms = int(timeout_seconds * 1000)
        self._changed = threading.Condition()  # a probe ended, or a webhook was marked
        self._marks = {}  # webhook ID: (mark or None, monotonic time this process set it)
        self._fast = {}  # webhook ID: monotonic time of its latest fast 2xx here
        self._probes = collections.defaultdict(dict)  # owner: {batch token: monotonic start} probing it
        self._full_until = {}  # owner: monotonic time until which its leases count as taken
        self._slow_owners = {}  # owner: monotonic time its probe here last ran FAST_MS without an answer
        self._slow_attempt_ms = {}  # owner: how long its latest slow or failed attempt here took (turns' length)

    @contextmanager
    def batch(self, webhooks=()):
        """One batch's admission; ``webhooks`` are its messages' webhooks, one per message (a
        turn is as long as the batch's messages to that organizer need)."""
        admit = BatchAdmission(self, collections.Counter(_owner(w) for w in webhooks))
        try:
            yield admit
        finally:
            admit.close()

    def mark_of(self, webhook):
        """(since ms, reason, attempt ms) while the webhook is held, else None. What this process
        marked or cleared lately outranks the item the batch read before."""
        with self._changed:
            local = self._marks.get(webhook.webhook_id)
        if local is not None and time.monotonic() - local[1] < LOCAL_SECONDS:
            return local[0]
        if webhook.held_since_ms is None:
            return None
        return webhook.held_since_ms, webhook.held_reason or "", webhook.held_attempt_ms or SLOW_MS

    def _slow_owner(self, owner):
        return time.monotonic() - self._slow_owners.get(owner, -math.inf) < LOCAL_SECONDS

    def _proven(self, webhook):
        return time.monotonic() - self._fast.get(webhook.webhook_id, -math.inf) < PROVEN_SECONDS

    def _mark(self, webhook, reason, attempt_ms):
        mark = (int(self._clock() * 1000), reason, max(SLOW_MS, attempt_ms))
        try:
            self._webhooks.mark_held(webhook.webhook_id, *mark)
        finally:
            with self._changed:
                self._marks[webhook.webhook_id] = (mark, time.monotonic())
                self._fast.pop(webhook.webhook_id, None)
                self._changed.notify_all()
        logger.info("webhook held to its share", extra={"webhookID": webhook.webhook_id, "reason": reason})

    def _after(self, webhook, attempt):
        """Mark or clear the webhook by what ``attempt`` showed."""
        held = self.mark_of(webhook) is not None
        seconds = attempt.duration_ms / 1000
        if not attempt.ok or attempt.duration_ms >= SLOW_MS:
            self._slow_attempt_ms[_owner(webhook)] = attempt.duration_ms
        if not attempt.ok:
            if not held:
                self._mark(webhook, f"failing: {attempt.error or f'HTTP {attempt.status_code}'} after {seconds:.1f} s",
                           attempt.duration_ms)
        elif attempt.duration_ms >= SLOW_MS:
            if not held:
                self._mark(webhook, f"slow: an attempt took {seconds:.1f} s", attempt.duration_ms)
        elif attempt.duration_ms < FAST_MS:
            with self._changed:
                self._fast[webhook.webhook_id] = time.monotonic()
            if held:
                self._webhooks.clear_held(webhook.webhook_id)
                with self._changed:
                    self._marks[webhook.webhook_id] = (None, time.monotonic())
                logger.info("webhook no longer held: its endpoint is fast again", extra={"webhookID": webhook.webhook_id})

    # -- the table ---------------------------------------------------------------------------

    def _update(self, key, expression, condition, values, names=None, returned=None):
        """One conditional UpdateItem; the attributes it returns (``returned``), and the item as
        it was when the condition failed (None when it held)."""
        request = {"TableName": self._table, "Key": key, "UpdateExpression": expression,
                   "ConditionExpression": condition, "ExpressionAttributeValues": values,
                   "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        if names:
            request["ExpressionAttributeNames"] = names
        if returned:
            request["ReturnValues"] = returned
        try:
            return self._db.update_item(**request).get("Attributes", {}), None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            return {}, exc.response.get("Item") or {}

    def take_place(self, webhook, now, token):
        """None when the webhook's second has room (a place is taken), else the seconds until the
        next second."""
        second = int(now)
        _, old = self._update(rate_key(webhook.webhook_id, second), "ADD attempts :one, tokens :token "
                              "SET expiresAt = :expires",
                              "attribute_not_exists(attempts) OR (attempts < :limit AND NOT contains(tokens, :mine))",
                              {":one": _n(1), ":limit": _n(webhook.rate_limit), ":token": {"SS": [token]},
                               ":mine": {"S": token}, ":expires": _n(second + _RATE_KEEP_SECONDS)})
        if old is None or token in old.get("tokens", {}).get("SS", ()):
            return None  # taken (by this very request, if its first answer was lost)
        return second + 1 - now

    def take_lease(self, owner, now_ms, token, slot=None):
        """A lease of ``owner``'s share, ``(slot, expiry)``: a free slot of its HOLD item (or
        ``slot``, the batch's own, renewed); None when every slot is taken."""
        expiry = now_ms + self.timeout_ms + LEASE_MARGIN_MS
        slots = [slot] if slot is not None else secrets.SystemRandom().sample(range(self.share), self.share)
        for slot in slots:  # racing instances start at different slots
            _, old = self._update(hold_key(*owner), "SET #slot = :expiry, #who = :token, expiresAt = :keep",
                                  "attribute_not_exists(#slot) OR #slot < :now OR #who = :token",
                                  {":expiry": _n(expiry), ":now": _n(now_ms), ":token": {"S": token},
                                   ":keep": _n(now_ms // 1000 + _KEEP_SECONDS)},
                                  {"#slot": f"b{slot}", "#who": f"w{slot}"})
            if old is None:
                return slot, expiry
            if all(int(old.get(f"b{s}", {}).get("N", "0")) >= now_ms for s in range(self.share)):
                return None
        return None

    def give_back(self, owner, slot, token):
        self._update(hold_key(*owner), "REMOVE #slot, #who", "#who = :token", {":token": {"S": token}},
                     {"#slot": f"b{slot}", "#who": f"w{slot}"})

    def take_turn(self, owner, attempt_ms, count, now_ms, token):
        """Seconds until ``count`` messages turned back now get their turn: the organizer's turns
        move on by their share of a batch's time (its attempt time shared among its leases)."""
        step = max(1, int(attempt_ms) * count // (self.share * BATCH_SIZE))
        values = {":now": _n(now_ms), ":token": {"S": token}, ":keep": _n(now_ms // 1000 + _KEEP_SECONDS)}
        tail = now_ms + step
        for _ in range(3):
            # Turns queued: the tail moves on. Idle: the turns start now. Either write, retried by
            # botocore after its answer was lost, finds its own token: the turn it took is the tail.
            new, old = self._update(hold_key(*owner), "SET tail = tail + :step, turn = :token, expiresAt = :keep",
                                    "tail >= :now AND (attribute_not_exists(turn) OR turn <> :token)",
                                    {**values, ":step": _n(step)}, returned="UPDATED_NEW")
            if old is None or old.get("turn", {}).get("S") == token:
                tail = int((new or old)["tail"]["N"])
                break
            new, old = self._update(hold_key(*owner), "SET tail = :tail, turn = :token, expiresAt = :keep",
                                    "attribute_not_exists(tail) OR tail < :now", {**values, ":tail": _n(now_ms + step)})
            if old is None or old.get("turn", {}).get("S") == token:
                tail = now_ms + step if old is None else int(old["tail"]["N"])
                break
        return max(1, math.ceil((tail - now_ms) / 1000))  # SQS counts whole seconds


class BatchAdmission:
    """One batch's admission: the leases, turns and probes it holds, per organizer."""

    def __init__(self, admission, counts):
        self._admission, self._counts = admission, counts
        self._token = secrets.token_hex(8)  # this batch's writes, told from another writer's
        self._lock = threading.Lock()
        self._owner_locks = collections.defaultdict(threading.Lock)  # a batch's groups ask one at a time
        self._leases = {}  # owner: (slot, expiry in ms)
        self._turns = {}  # owner: seconds
        self._probes = set()  # owners

    def hold_back(self, webhook, now):
        """None: attempt it now. Else the seconds for which the message (and its group's later
        ones) go back on the queue, no attempt used."""
        a = self._admission
        if webhook.rate_limit:
            wait = a.take_place(webhook, now, f"{self._token}.{secrets.token_hex(4)}")
            if wait is not None:
                return wait
        owner = _owner(webhook)
        with self._lock:
            owner_lock = self._owner_locks[owner]
        with owner_lock:
            try:
                return self._share(webhook, owner, int(now * 1000))
            except (BotoCoreError, ClientError, NotFound, Unavailable) as exc:
                # The table failed us: delivering matters more than fairness, so the attempt goes.
                logger.warning("fair share unavailable; the attempt goes ahead",
                               extra={"webhookID": webhook.webhook_id, "error": str(exc)})
                return None

    def _share(self, webhook, owner, now_ms):
        a = self._admission
        if owner in self._turns:
            return self._turns[owner]
        mark = a.mark_of(webhook)
        if mark is None and owner not in self._leases:
            if a._proven(webhook) or owner in self._probes:
                return None
            if not a._slow_owner(owner) and self._probe(webhook, owner):
                return None
            # Marked meanwhile, or its organizer's probes were not fast: held with them.
            mark = a.mark_of(webhook) or (now_ms, "", SLOW_MS * 2)
        with self._lock:
            lease = self._leases.get(owner, ())
        if lease is None:
            return None  # being taken by a slow attempt's watch
        if lease:
            slot, expiry = lease
            if expiry - now_ms > a.timeout_ms + 1000:
                return None
            lease = a.take_lease(owner, now_ms, self._token, slot)  # renewed: its own slot, by its token
        elif a._full_until.get(owner, 0) > time.monotonic():
            lease = None
        else:
            lease = a.take_lease(owner, now_ms, self._token)
        if lease is not None:
            with self._lock:
                self._leases[owner] = lease
            return None
        a._full_until[owner] = time.monotonic() + FULL_SECONDS
        attempt_ms = max(mark[2], a._slow_attempt_ms.get(owner, 0))
        self._turns[owner] = a.take_turn(owner, attempt_ms, self._counts.get(owner, BATCH_SIZE), now_ms, self._token)
        observability.count("HeldBack")
        return self._turns[owner]

    def _probe(self, webhook, owner):
        """Take one of the process's places to probe ``owner``'s webhooks. With none free, wait
        while the probes may still show fast; False if no place came: the webhook was marked,
        or a probe ran ``FAST_MS`` without an answer (its watch then holds the organizer)."""
        a = self._admission
        probing = a._probes[owner]
        with a._changed:
            while not (a._proven(webhook) or a.mark_of(webhook) is not None or a._slow_owner(owner)):
                if len(probing) < a.share:
                    probing[self._token] = time.monotonic()
                    self._probes.add(owner)
                    return True
                left = min(probing.values()) + FAST_MS / 1000 + _WATCH_SLACK_SECONDS - time.monotonic()
                if left <= 0:
                    return False
                a._changed.wait(left)
        return a._proven(webhook)

    def attempt(self, webhook, post):
        """Run ``post()`` (the attempt, which returns a :class:`chalicelib.delivery.sender.Attempt`)
        under the share's watch (:meth:`_watch`); its outcome marks or clears the webhook. Nothing
        of the share stands between the answer and the caller (a failing write is logged), or a
        delivered message could be POSTed again."""
        over = threading.Event()
        threading.Thread(target=self._watch, args=(webhook, over), daemon=True, name="share-watch").start()
        try:
            attempt = post()
        finally:
            over.set()
        try:
            self._admission._after(webhook, attempt)
        except Exception:  # noqa: BLE001 - see the docstring
            logger.exception("the share could not note an attempt", extra={"webhookID": webhook.webhook_id})
        self._end_probe(_owner(webhook))
        return attempt

    def _watch(self, webhook, over):
        """While an attempt runs: a probe that has run ``FAST_MS`` cannot show its endpoint fast,
        so the batch goes under its organizer's lease and the organizer's endpoints on probation
        are held with it; at ``SLOW_MS`` the webhook is marked, for every instance."""
        a, owner = self._admission, _owner(webhook)
        try:
            if over.wait(FAST_MS / 1000):
                return
            if owner in self._probes:
                self._under_lease(owner)
                with a._changed:
                    a._slow_owners[owner] = time.monotonic()
                self._end_probe(owner)
            if over.wait((SLOW_MS - FAST_MS) / 1000):
                return
            self._under_lease(owner)
            if a.mark_of(webhook) is None:
                a._mark(webhook, f"slow: an attempt has run {SLOW_MS / 1000:g} s without an answer", SLOW_MS * 2)
        except Exception:  # noqa: BLE001 - a watch's thread: nothing above it to tell
            logger.exception("the share could not mark a slow attempt", extra={"webhookID": webhook.webhook_id})
        finally:
            self._end_probe(owner)

    def _under_lease(self, owner):
        """Take a lease of ``owner``'s share for the batch, if it has none (and one is free: else
        it is over its share for the attempts it has begun)."""
        with self._lock:
            if owner in self._leases:
                return
            self._leases[owner] = None  # being taken: the batch's groups go under it
        lease = self._admission.take_lease(owner, int(self._admission._clock() * 1000), self._token)
        with self._lock:
            self._leases[owner] = lease
            if lease is None:
                del self._leases[owner]

    def _end_probe(self, owner):
        a = self._admission
        with a._changed:
            if owner in self._probes:
                self._probes.discard(owner)
                a._probes[owner].pop(self._token, None)
            a._changed.notify_all()

    def close(self):
        """The batch is over: its leases go back, its probes end."""
        for owner in list(self._probes):
            self._end_probe(owner)
        for owner, (slot, _) in [(owner, lease) for owner, lease in self._leases.items() if lease]:
            try:
                self._admission.give_back(owner, slot, self._token)
            except (BotoCoreError, ClientError, Unavailable):
                logger.warning("a lease could not be given back; it ends by itself", extra={"owner": owner[1]})


def _owner(webhook):
    return webhook.level, webhook.owner_id


def _n(value):
    return {"N": str(int(value))}

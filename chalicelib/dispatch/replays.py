"""Replays (``webhook.redeliver``): a finished message sent again, keeping its ``webhook-id``.

A replay is queued first and its record reopened after, so that whatever fails, at whatever
step, every message ends either queued and pending or as it was. A queued replay carries the
redelivery number its record is about to get; the worker waits a little for the record to be
reopened, and drops a replay whose record never was (chalicelib.delivery.worker). Reopening first and
queueing after would strand a record ``pending`` with nothing queued if the queue failed.
"""

from dataclasses import replace

from chalicelib.delivery.log import FINISHED
from chalicelib.errors import Conflict, Unavailable

MAX_REPLAYED = 1000  # a call with ``since`` replays at most this many; call again for more


def replay(log, queue, records):
    """Queue a replay of each finished record, then reopen the record; return how many are on
    their way. Raises :class:`Unavailable` when the queue refused some (the others go ahead)."""
    finished = [record for record in records if record.status in FINISHED]
    messages = {record.message.message_id: replace(record.message, redelivery=record.redeliveries + 1)
                for record in finished}
    unsent, refused = set(), None
    try:
        queue.send(list(messages.values()))
    except Unavailable as exc:
        unsent, refused = {message.message_id for message in exc.unsent}, exc
    replayed = 0
    for record in finished:
        if record.message.message_id in unsent:
            continue  # not queued: its record stays as it was
        try:
            log.reopen(record)
            replayed += 1
        except Conflict:
            if len(finished) == 1:
                raise
            # Replayed by someone else meanwhile: that replay goes ahead, this copy is dropped.
    if refused is not None:
        raise refused
    return replayed


def replayable_since(log, webhook_id, since_ms, now):
    """The webhook's failed messages made since ``since_ms``, then its skipped ones (kept while it
    was disabled), newest first, at most ``MAX_REPLAYED`` in all."""
    records = []
    for status in ("failed", "skipped"):
        cursor = None
        while len(records) < MAX_REPLAYED:
            page, cursor = log.page(webhook_id, now, status=status, since_ms=since_ms,
                                    limit=min(200, MAX_REPLAYED - len(records)), cursor=cursor)
            records.extend(page)
            if cursor is None:
                break
    return records

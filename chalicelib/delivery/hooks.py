"""The delivery worker's two hooks, and their defaults (wired in chalicelib/services.py).

- **Admission**, asked right before each attempt: ``admit(webhook, now, batch)`` answers None
  (go) or the seconds to wait. A message held back goes back on the queue for that long with
  its group's later messages behind it, in order; it uses no attempt and writes no record.
  ``done(webhook, attempt, batch)`` follows every admitted attempt (``attempt`` None when, once
  admitted, none was made). ``batch`` is the worker's batch, the same object for all its
  messages: fair sharing counts a webhook's share in batches (chalicelib/delivery/fair_share.py). For
  per-webhook rate limits (contract, section 14) and fair sharing (section 16); several are
  asked in turn with :class:`Admissions`.
- **Notices**, told when a message is given up (``message_failed``) and when a webhook's
  health disables it (``webhook_disabled``). For the service's own webhook types (section 15).
"""

from chalicelib.delivery.sender import Attempt
from chalicelib.store.webhook_record import Webhook


class Admission:
    """Admits every attempt at once."""

    def admit(self, webhook: Webhook, now: float, batch=None) -> float | None:
        """None to attempt now; else the seconds until the webhook's next message may go."""
        return None

    def done(self, webhook: Webhook, attempt: Attempt | None, batch=None) -> None:
        """An attempt admitted by :meth:`admit` is over (None: it was not made after all)."""


class Admissions(Admission):
    """Several admissions asked in turn; the first that says wait decides. Put last the one
    whose yes costs the most to take back (fair sharing's lease): none after it can say no."""

    def __init__(self, *parts):
        self._parts = parts

    def admit(self, webhook, now, batch=None):
        for index, part in enumerate(self._parts):
            wait = part.admit(webhook, now, batch)
            if wait is not None:
                for admitted in self._parts[:index]:
                    admitted.done(webhook, None, batch)
                return wait
        return None

    def done(self, webhook, attempt, batch=None):
        for part in self._parts:
            part.done(webhook, attempt, batch)


class Notices:
    """Tells no one."""

    def message_failed(self, webhook: Webhook, message, record: dict) -> None:
        """``message`` (a :class:`chalicelib.delivery.queue.QueuedMessage`) was given up;
        ``record`` is its last attempt, as the delivery log keeps it, with ``attempts``: how
        many were made."""

    def webhook_disabled(self, webhook: Webhook, reason: str, failing_since_ms: int | None) -> None:
        """The service disabled ``webhook`` (its endpoint answered 410, or failed for too long)."""

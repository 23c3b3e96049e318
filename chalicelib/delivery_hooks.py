"""The delivery worker's two hooks, and their defaults (wired in chalicelib/services.py).

- **Admission**, asked right before each attempt: ``admit(webhook, now)`` answers None (go) or
  the seconds to wait. A message held back goes back on the queue for that long with its
  group's later messages behind it, in order; it uses no attempt and writes no record.
  ``done(webhook, attempt)`` follows every attempt that was made. For per-webhook rate limits
  (contract, section 14) and fair sharing (section 16).
- **Notices**, told when a message is given up (``message_failed``) and when a webhook's
  health disables it (``webhook_disabled``). For the service's own webhook types (section 15).
"""

from chalicelib.sender import Attempt
from chalicelib.webhook_store import Webhook


class Admission:
    """Admits every attempt at once."""

    def admit(self, webhook: Webhook, now: float) -> float | None:
        """None to attempt now; else the seconds until the webhook's next message may go."""
        return None

    def done(self, webhook: Webhook, attempt: Attempt) -> None:
        """An attempt admitted by :meth:`admit` is over."""


class Notices:
    """Tells no one."""

    def message_failed(self, webhook: Webhook, message, record: dict) -> None:
        """``message`` (a :class:`chalicelib.delivery_queue.QueuedMessage`) was given up;
        ``record`` is its last attempt, as the delivery log keeps it, with ``attempts``: how
        many were made."""

    def webhook_disabled(self, webhook: Webhook, reason: str, failing_since_ms: int | None) -> None:
        """The service disabled ``webhook`` (its endpoint answered 410, or failed for too long)."""

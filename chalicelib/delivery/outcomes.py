"""What a batch's delivery came to, returned by the worker to its caller (app.deliver), which
acts on it: the messages that come back, and the events the service tells organizers of
(chalicelib/dispatch/notices.py). Delivery never calls up into dispatch."""

from dataclasses import dataclass, field

from chalicelib.delivery.queue import QueuedMessage
from chalicelib.store.webhook_record import Webhook


@dataclass(frozen=True)
class MessageGivenUp:
    """``message`` to ``webhook`` was given up after ``attempts`` attempts; ``last_attempt`` is
    the last one as the delivery log keeps it (statusCode, error...)."""

    webhook: Webhook
    message: QueuedMessage
    last_attempt: dict
    attempts: int


@dataclass(frozen=True)
class WebhookDisabled:
    """The service disabled ``webhook`` for ``reason``; its failures began at ``failing_since_ms``
    (None after a 410 with no failure before it)."""

    webhook: Webhook
    reason: str
    failing_since_ms: int | None


@dataclass
class BatchOutcome:
    """``retry``: the SQS message IDs that come back (Lambda's ``batchItemFailures``); ``events``:
    :class:`MessageGivenUp` and :class:`WebhookDisabled`, in the order they happened."""

    retry: list = field(default_factory=list)
    events: list = field(default_factory=list)

"""Fan-out: one platform event becomes one queued message per matching enabled webhook."""

import logging

from chalicelib.deliveries import QueuedMessage
from chalicelib.errors import InvalidParameter, PayloadTooLarge
from chalicelib.events import PlatformEvent, delivery_body
from chalicelib.ids import deterministic_id

logger = logging.getLogger(__name__)

PLATFORM_SOURCE = "inevent.platform"


def fan_out(event, message_id, webhooks, queue, now):
    """Queue ``event`` for every enabled webhook of its event and type; return how many.

    One Query finds the webhooks; SendMessageBatch queues 10 messages a call. Every body is
    built (and its size checked) before anything is queued, so a refused event queues nothing.
    """
    targets = [hook for hook in webhooks.list(event.event_id, event.type) if hook.status == "enabled"]
    messages = [
        QueuedMessage(
            message_id=message_id,
            webhook_id=hook.webhook_id,
            event_id=event.event_id,
            type=event.type,
            person_id=event.person_id,
            date=event.date,
            body=delivery_body(event.type, hook.webhook_id, event.data(), now),
        )
        for hook in targets
    ]
    queue.send(messages)
    return len(messages)


def handle_platform_event(envelope, webhooks, queue, now):
    """Fan out an EventBridge event from the platform; return how many webhooks it was queued for.

    The messageID is derived from EventBridge's event id, so a retried invocation queues the
    same messages again and the FIFO queue drops the copies. An event that can never be valid
    is logged and dropped (retrying it would not help); an AWS failure raises, so Lambda retries.
    """
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        logger.error("platform event %s has no detail object; dropped", envelope.get("id"))
        return 0
    fields = {name: detail.get(name) for name in ("eventID", "activityID", "personID", "date")}
    extra = {key: value for key, value in detail.items() if key not in fields}
    try:
        event = PlatformEvent.build(type=envelope.get("detail-type"), data=extra, now=now, **fields)
        message_id = deterministic_id("msg", f"eventbridge:{envelope.get('id')}")
        return fan_out(event, message_id, webhooks, queue, now)
    except (InvalidParameter, PayloadTooLarge) as exc:
        logger.error("platform event %s is invalid (%s: %s); dropped", envelope.get("id"), exc.field, exc.message)
        return 0

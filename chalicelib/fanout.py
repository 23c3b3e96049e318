"""Fan-out: one platform event becomes one queued message per matching enabled webhook."""

from datetime import datetime, timezone

from chalicelib import observability
from chalicelib.deliveries import QueuedMessage
from chalicelib.errors import InvalidParameter, PayloadTooLarge
from chalicelib.events import PlatformEvent, check_body_size
from chalicelib.ids import deterministic_id, new_id

logger = observability.logger

PLATFORM_SOURCE = "inevent.platform"


def fan_out(event, message_id, webhooks, queue, log, now):
    """Queue ``event`` for every enabled webhook of its event and type; return how many.

    One Query finds the webhooks; SendMessageBatch queues 10 messages a call. A disabled
    webhook's message is kept in its delivery log as ``skipped``, to replay after enabling.
    The body's size is checked first, so a refused event queues nothing.
    """
    hooks = webhooks.list(event.event_id, event.type)
    messages = {
        hook.webhook_id: QueuedMessage(
            message_id=message_id,
            webhook_id=hook.webhook_id,
            event_id=event.event_id,
            type=event.type,
            person_id=event.person_id,
            date=event.date,
            timestamp=int(now),
            data=event.data(),
        )
        for hook in hooks
    }
    if hooks:
        check_body_size(event.type, hooks[0].webhook_id, event.data(), now)
    enabled = [messages[hook.webhook_id] for hook in hooks if hook.status == "enabled"]
    disabled = [messages[hook.webhook_id] for hook in hooks if hook.status != "enabled"]
    queue.send(enabled)
    if disabled:
        log.put_skipped(disabled, now)
    return len(enabled)


def handle_platform_event(envelope, webhooks, queue, log, now):
    """Fan out an EventBridge event from the platform; return how many webhooks it was queued for.

    The messageID is derived from EventBridge's event id, so a retried invocation queues the
    same messages again and the FIFO queue drops the copies. An event that can never be valid
    is logged and dropped (retrying it would not help); an AWS failure raises, so Lambda retries.
    """
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        logger.error("platform event without a detail object dropped", extra={"eventBridgeId": envelope.get("id")})
        return 0
    fields = {name: detail.get(name) for name in ("eventID", "activityID", "personID", "date")}
    extra = {key: value for key, value in detail.items() if key not in fields}
    try:
        event = PlatformEvent.build(type=envelope.get("detail-type"), data=extra, now=now, **fields)
        message_id = _eventbridge_message_id(envelope, now)
        return fan_out(event, message_id, webhooks, queue, log, now)
    except (InvalidParameter, PayloadTooLarge) as exc:
        logger.error("invalid platform event dropped",
                     extra={"eventBridgeId": envelope.get("id"), "field": exc.field, "reason": exc.message})
        return 0


def _eventbridge_message_id(envelope, now):
    """The same EventBridge event always gets the same messageID, sorting by the event's time."""
    event_id = envelope.get("id")
    if not event_id:
        return new_id("msg")
    try:
        ms = int(datetime.strptime(envelope.get("time", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() * 1000)
    except ValueError:
        ms = int(now * 1000)
    return deterministic_id("msg", f"eventbridge:{event_id}", ms)

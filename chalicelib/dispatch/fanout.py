"""Fan-out: one occurrence becomes one queued message per matching enabled webhook, at the event
level and, when the platform named a company, at the company level (contract, sections 5 and 11)."""

from datetime import datetime, timezone

from chalicelib import observability, strict_json
from chalicelib.catalog import CATALOG, COMPANY, EVENT, ID_FIELDS
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.errors import InvalidParameter, PayloadTooLarge
from chalicelib.ids import deterministic_id, new_id
from chalicelib.occurrences import Occurrence, check_body_size

logger = observability.logger

PLATFORM_SOURCE = "inevent.platform"


def matching_webhooks(occurrence, webhooks):
    """The listings of the live webhooks that take the occurrence's type (alone, among others, or
    through ``*``) at each level it reaches: one Query a level, whatever their types."""
    hooks = []
    if EVENT in occurrence.type.levels:
        hooks += webhooks.list(EVENT, occurrence.event_id, occurrence.type.name)
    if occurrence.company_id is not None and COMPANY in occurrence.type.levels:
        hooks += webhooks.list(COMPANY, occurrence.company_id, occurrence.type.name)
    return hooks


def passes(filter, data):
    """Whether a platform event's ``data`` gets through ``filter``: for every field named, its
    ID is one of those listed."""
    return not filter or all(data.get(field) in ids for field, ids in filter.items())


def fan_out(occurrence, message_id, webhooks, queue, log, now, *, dispatches, pull_log):
    """Queue ``occurrence`` for every matching enabled webhook whose filter it passes; return how many.

    The body's size is checked first, so a refused occurrence queues nothing. Before anything is
    queued, ``dispatches`` notes which webhooks the message goes to, push and pull (webhook.trace,
    section 22). See :func:`send`.
    """
    check_body_size(occurrence, now)
    data = occurrence.data()
    # A filter travels with the owner's listing: it costs no request, and what it keeps out is
    # neither logged nor numbered nor counted (contract, section 14).
    hooks = [hook for hook in matching_webhooks(occurrence, webhooks) if passes(hook.filter, data)]
    if hooks:
        dispatches.record(message_id, occurrence.type.name, occurrence.date, hooks, now)
    return send([(hook, QueuedMessage(message_id=message_id, webhook_id=hook.webhook_id, type=occurrence.type.name,
                                      subject=occurrence.subject, date=occurrence.date, timestamp=int(now), data=data))
                 for hook in hooks], queue, log, now, pull_log)


def send(addressed, queue, log, now, pull_log):
    """Send each message of ``addressed`` (``(listing, message)`` pairs) on its way; return how many
    went to an enabled webhook.

    A push webhook's go on the delivery queue, 10 per SendMessageBatch, several calls at once; a
    pull webhook's are put at the end of its log (chalicelib.pull.log: a Query and a PutItem each,
    ten webhooks at once), no SQS and no delivery function. A disabled webhook's message is kept
    in its delivery log as ``skipped`` (a push webhook's to replay after enabling).
    """
    enabled = [m for hook, m in addressed if hook.status == "enabled"]
    pull = {hook.webhook_id for hook, _ in addressed if hook.delivery == "pull"}
    queue.send([m for m in enabled if m.webhook_id not in pull])
    if pull:
        pull_log.append_all([m for m in enabled if m.webhook_id in pull], now)
        pull_log.append_all([m for hook, m in addressed if hook.webhook_id in pull and hook.status != "enabled"], now,
                            skipped=True)
    disabled = [m for hook, m in addressed if hook.status != "enabled" and hook.webhook_id not in pull]
    if disabled:
        log.put_skipped(disabled, now)
    return len(enabled)


def handle_platform_event(envelope, webhooks, queue, log, now, *, dispatches, pull_log):
    """Fan out an EventBridge event from the platform; return how many webhooks it was queued for.

    The messageID is derived from EventBridge's event id, so a retried invocation queues the
    same messages again and the FIFO queue drops the copies. An event that can never be valid
    is logged and dropped (retrying it would not help); an AWS failure raises, so Lambda retries.
    """
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        logger.error("platform event without a detail object dropped", extra={"eventBridgeId": envelope.get("id")})
        return 0
    try:
        occurrence = occurrence_from_detail(envelope.get("detail-type"), detail, now)
        message_id = _eventbridge_message_id(envelope, now)
        return fan_out(occurrence, message_id, webhooks, queue, log, now, dispatches=dispatches, pull_log=pull_log)
    except (InvalidParameter, PayloadTooLarge) as exc:
        logger.error("invalid platform event dropped",
                     extra={"eventBridgeId": envelope.get("id"), "field": exc.field, "reason": exc.message})
        return 0


def occurrence_from_detail(type, detail, now):
    """An :class:`Occurrence` from an EventBridge ``detail``: the type's IDs, ``companyID`` and
    ``date`` by name; every other key (an ID the type does not carry included) is a further
    field of ``data``, as the platform sent it. It is read as strictly as the API's input."""
    try:
        strict_json.check(detail)
    except strict_json.StrictJSONError as exc:
        raise InvalidParameter(f"the event's detail {exc}", field="data") from exc
    webhook_type = CATALOG.get(type) if isinstance(type, str) else None
    own = set(webhook_type.fields if webhook_type else ID_FIELDS)
    ids = {name: value for name, value in detail.items() if name in own}
    extra = {key: value for key, value in detail.items() if key not in own and key not in ("companyID", "date")}
    return Occurrence.build(type, ids, company_id=detail.get("companyID"), date=detail.get("date"), data=extra,
                            now=now)


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

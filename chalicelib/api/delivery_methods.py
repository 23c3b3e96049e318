"""The methods that look at and act on a webhook's deliveries (contract, sections 9, 12 and 22):
the delivery log, one message, an endpoint's health, replays, test sends, and where a message went."""

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import observability
from chalicelib.api.registry import READ, Param, method, webhook_id
from chalicelib.api.webhook_methods import COMPANY_ID, EVENT_ID, owner, visible_webhook
from chalicelib.catalog import CATALOG
from chalicelib.delivery.log import FINISHED, STATUSES, DeliveryRecord, FirstAttempt
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.delivery.sender import shaped_body, signed_request
from chalicelib.dispatch.replays import replay, replayable_since
from chalicelib.errors import (Conflict, Forbidden, InvalidParameter, MissingParameter, NotFound, PayloadTooLarge,
                               ServiceError)
from chalicelib.ids import new_id
from chalicelib.occurrences import MAX_DELIVERED_BODY, delivery_body, example_data
from chalicelib.pull.poll import signed_entry
from chalicelib.store.erasure import erased_after
from chalicelib.store.webhook_record import Webhook
from chalicelib.validation import check_identifier, check_type, check_unix_seconds

logger = observability.logger

TEST_TYPE = "webhook.test"
STATS_WINDOW = 100
MESSAGE_ID = Param("messageID", "id", "The message (its webhook-id header).", required=True)


def message_view(record):
    """A delivery log record as ``webhook.deliveries`` shows it (contract, sections 9 and 10)."""
    message = record.message
    return {
        "messageID": message.message_id,
        "webhookID": message.webhook_id,
        "type": message.type,
        "status": record.status,
        "date": message.date,
        "attempts": [
            {
                "attempt": int(a["attempt"]),
                "date": a["date"],
                "statusCode": None if a.get("statusCode") is None else int(a["statusCode"]),
                "durationMs": int(a["durationMs"]),
                "error": a.get("error"),
                "response": a.get("response", ""),
            }
            for a in record.attempts
        ],
        "nextAttemptDate": None if record.next_attempt_ms is None else str(record.next_attempt_ms // 1000),
    }


@method("webhook.deliveries", "The webhook's messages, newest first, with every attempt.",
        params=(webhook_id(), Param("status", "status", "Only messages in this state."),
                Param("type", "type", "Only messages of this type (or webhook.test, the test sends)."),
                Param("from", "seconds", "Only messages dated at or after this time (Unix seconds)."),
                Param("to", "seconds", "Only messages dated at or before this time (Unix seconds)."),
                Param("limit", "limit", "How many (default 50, at most 200)."),
                Param("cursor", "cursor", "The page after the one that answered this cursor.")),
        verbs=READ, answer="DeliveryPage")
def list_deliveries(ctx, params):
    webhook = visible_webhook(ctx, params)
    status = params.raw("status")
    if status is not None and status not in STATUSES:
        raise InvalidParameter(f"status must be one of {', '.join(STATUSES)}", field="status")
    type = params.raw("type")
    if type is not None and type != TEST_TYPE:
        check_type(type)
    low, high = (params.raw(name) for name in ("from", "to"))
    low = None if low is None else int(check_unix_seconds(low, "from"))
    high = None if high is None else int(check_unix_seconds(high, "to"))
    if low is not None and high is not None and high < low:
        raise InvalidParameter("to must not be before from", field="to")
    limit = params.whole_number("limit", 1, 200, default=50)
    cursor = params.raw("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidParameter("cursor must be a string", field="cursor")
    records, next_cursor = log_of(ctx, webhook).page(webhook.webhook_id, ctx.now, status=status, limit=limit,
                                                     cursor=cursor or None, type=type, dates=(low, high))
    data = [message_view(record) for record in records]
    return 200, {"count": len(data), "data": data, "cursor": next_cursor}


@method("webhook.message", "One message: its attempts, and exactly what the latest attempt sent.",
        params=(webhook_id(), MESSAGE_ID), verbs=READ, answer="MessageView")
def show_message(ctx, params):
    webhook = visible_webhook(ctx, params)
    record = log_of(ctx, webhook).get(webhook.webhook_id, params.identifier("messageID"))
    if record is None:
        raise NotFound("this webhook has no message with that messageID", field="messageID")
    sent = None if record.request_headers is None else {
        "headers": record.request_headers, "body": record.body if record.sent_body is None else record.sent_body}
    if webhook.delivery == "pull" and record.status == "delivered":
        # What the poll that first returned it answered, signed at that poll's time.
        entry = signed_entry(webhook, record.message, record.sequence, int(record.attempts[0]["date"]))
        sent = {"headers": entry["headers"], "body": entry["body"]}
    return 200, {**message_view(record), "request": sent}


def log_of(ctx, webhook):
    """The webhook's delivery log: a pull webhook's is its pull log (chalicelib.pull.log)."""
    return ctx.services.pull_log if webhook.delivery == "pull" else ctx.services.log


def not_for_pull(webhook, what):
    if webhook.delivery == "pull":
        raise InvalidParameter(f"that webhook is a pull webhook: {what}", field="webhookID")


@method("webhook.stats", "The endpoint's health over its latest 100 messages.",
        params=(webhook_id(),), verbs=READ, answer="Stats")
def webhook_stats(ctx, params):
    webhook = visible_webhook(ctx, params)
    records, _ = log_of(ctx, webhook).page(webhook.webhook_id, ctx.now, limit=STATS_WINDOW)
    counts = {status: sum(1 for r in records if r.status == status) for status in STATUSES}
    finished = counts["delivered"] + counts["failed"]
    sent = [a for r in records for a in r.attempts if not str(a.get("error") or "").startswith("not sent")]
    durations = sorted(int(a["durationMs"]) for a in sent)
    successes = [int(a["date"]) for a in sent if a.get("statusCode") is not None and 200 <= int(a["statusCode"]) < 300]
    return 200, {
        "webhookID": webhook.webhook_id,
        "window": len(records),
        **counts,
        "successRate": None if not finished else round(counts["delivered"] / finished, 4),
        "p50DurationMs": _percentile(durations, 50),
        "p95DurationMs": _percentile(durations, 95),
        "lastSuccessDate": str(max(successes)) if successes else None,
        "failingSince": None if webhook.failing_since_ms is None else str(webhook.failing_since_ms // 1000),
        "status": webhook.status,
        "disabledReason": webhook.disabled_reason if webhook.status == "disabled" else None,
        # Held to its share of the delivery capacity (section 16): since when, and why.
        "heldToShare": None if webhook.held_since_ms is None else {
            "since": str(webhook.held_since_ms // 1000), "reason": webhook.held_reason},
    }


def _percentile(ordered, percent):
    """The nearest-rank percentile of an ascending list, or None for an empty one."""
    if not ordered:
        return None
    return ordered[max(0, -(-len(ordered) * percent // 100) - 1)]


@method("webhook.redeliver", "Send a message again (messageID), or every failed message since a time (since).",
        params=(webhook_id(), Param("messageID", "id", "One message to send again."),
                Param("since", "seconds", "Every failed message made since then, and every message skipped while "
                      "the webhook was disabled (at most 1,000 a call).")),
        status=202, answer="Queued")
def redeliver(ctx, params):
    webhook = visible_webhook(ctx, params)
    not_for_pull(webhook, "its messages are read again by polling with an older cursor")
    message_id, since = params.raw("messageID"), params.raw("since")
    if message_id is None and since is None:
        raise MissingParameter("give either messageID (one message) or since (Unix seconds)", field="messageID")
    if message_id is not None and since is not None:
        raise InvalidParameter("give either messageID (one message) or since (Unix seconds), not both", field="since")
    log = ctx.services.log
    if message_id is not None:
        record = log.get(webhook.webhook_id, check_identifier(message_id, "messageID"))
        if record is None:
            raise NotFound("this webhook has no message with that messageID", field="messageID")
        if record.status not in FINISHED:
            raise Conflict("that message is being delivered already", field="messageID", code="message_pending")
        records = [record]
    else:
        records = replayable_since(log, webhook.webhook_id, int(check_unix_seconds(since, "since")) * 1000, ctx.now)
    return 202, {"queued": replay(log, ctx.services.queue, records)}


@method("webhook.test", "Send one signed test delivery now, and answer what the endpoint said.",
        params=(webhook_id(), Param("type", "type", "Send an example of this type (one of the webhook's), with "
                                    "example IDs, instead of a plain test."),
                Param("data", "object", "Further fields for the example's data, as webhook.dispatch takes them "
                      "(with no type: the webhook's own type).")),
        answer="TestResult")
def test_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    not_for_pull(webhook, "it has no url to send a test to; webhook.requestExample shows what a poll returns")
    body_type, data = content_of_test_send(webhook, params.raw("type"), params.json_object("data"), ctx.now)
    body = delivery_body(body_type, webhook.webhook_id, data, ctx.now, sequence=0)
    if len(body.encode("utf-8")) > MAX_DELIVERED_BODY:
        raise PayloadTooLarge(f"the test's body would exceed {MAX_DELIVERED_BODY // 1024} KiB", field="data")
    services = ctx.services
    per_minute = services.settings.test_sends_per_minute
    services.limits.take_within(f"TEST#{webhook.webhook_id}", per_minute, 60, ctx.now,
                                f"webhook.test runs at most {per_minute} times a minute per webhook")
    message = QueuedMessage(message_id=new_id("msg"), webhook_id=webhook.webhook_id, type=TEST_TYPE,
                            subject=TEST_TYPE, date=str(int(ctx.now)), timestamp=int(ctx.now), data=data)
    request = signed_request(webhook, message.message_id, body, ctx.now)
    attempt = services.test_sends.send(request)  # from the fixed egress addresses, when the stack has them
    # Kept in the delivery log like any message, so the log shows what the test sent and got;
    # the endpoint has it either way, so a record that cannot be written does not change the answer.
    try:
        services.log.record_attempt(message, attempt.to_record(1, ctx.now), status="delivered" if attempt.ok else "failed",
                                    next_attempt_ms=None, now=ctx.now, headers=request["headers"],
                                    first=FirstAttempt(body, sequence=None), sent_body=shaped_body(request))
    except (ServiceError, ClientError, BotoCoreError):
        logger.exception("a test send's record could not be written", extra={"webhookID": webhook.webhook_id})
    return 200, {
        "messageID": message.message_id,
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "error": attempt.error,
        "response": attempt.response,
    }


def content_of_test_send(webhook, type, data, now):
    """The ``type`` and ``data`` of a test send's body: the plain test (``webhook.test``, the owner
    and a message) when neither is given; else an example of ``type`` (default: the webhook's
    first type), its IDs as webhook.requestExample makes them, with the further fields ``data``."""
    if type is None and data is None:
        return TEST_TYPE, {webhook.owner_field: webhook.owner_id, "message": "a test delivery from InEvent webhooks"}
    takes = webhook.effective_types()  # in catalog order; a * webhook's, every type of its level
    if type is None:
        type = takes[0]
    elif check_type(type).name not in takes:
        raise InvalidParameter(f"{type} is not a type of this webhook: it takes {', '.join(takes)}", field="type",
                               code="invalid_type")
    example = example_data(CATALOG[type], now, **{webhook.owner_field: webhook.owner_id})
    clash = next((name for name in data or {} if name in example), None)
    if clash is not None:
        raise InvalidParameter(f"data must not repeat {clash[:64]}, which the example gives", field="data")
    return type, {**example, **(data or {})}


@method("webhook.trace", "Where a message went: every webhook of an event or company it was queued for, with its "
        "status and attempts.",
        params=(Param("messageID", "id", "The message: its webhook-id header, or webhook.dispatch's messageID.",
                      required=True),
                EVENT_ID, COMPANY_ID),
        verbs=READ, answer="Trace")
def trace_message(ctx, params):
    message_id = params.identifier("messageID")
    unknown = NotFound("no message with that messageID was dispatched to that event or company", field="messageID")
    try:
        level, owner_id = owner(ctx, params)
    except Forbidden as exc:
        raise unknown from exc  # nothing is said about a level the token cannot see
    dispatched = ctx.services.dispatches.get(message_id)
    webhook_ids = dispatched.webhooks.get((level, owner_id)) if dispatched else None
    if not webhook_ids:
        raise unknown
    items, records = ctx.services.dispatches.deliveries(message_id, webhook_ids)
    data = []
    for webhook_id in webhook_ids:
        item = items.get(webhook_id)
        if item is None or item["status"] == "removed":
            continue
        webhook = Webhook.from_item(item)
        if not ctx.grant.can_access(webhook.level, webhook.owner_id):
            continue
        if webhook.delivery == "pull":  # its delivery log is its pull log (chalicelib.pull.log)
            record = ctx.services.pull_log.get(webhook_id, message_id)
        else:
            record = DeliveryRecord.from_item(records[webhook_id]) if webhook_id in records else None
        if record is None and erased_after(item, message_id):
            continue  # its record went with a person's erasure: it is not waiting to be sent
        last = record.attempts[-1] if record and record.attempts else None
        data.append({
            "webhookID": webhook.webhook_id,
            "url": webhook.url,
            "delivery": webhook.delivery,
            # No record yet: queued, not attempted (a record is written at the first attempt; a
            # pull webhook's entry, as the fan-out puts it).
            "status": record.status if record else "pending",
            "attempts": record.attempt_count if record else 0,
            "lastStatusCode": None if last is None or last.get("statusCode") is None else int(last["statusCode"]),
        })
    return 200, {"messageID": message_id, "type": dispatched.type, "date": dispatched.date, "data": data}

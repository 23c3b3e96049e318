"""The methods that look at and act on a webhook's deliveries (contract, sections 9 and 12):
the delivery log, one message, an endpoint's health, replays and test sends."""

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import observability
from chalicelib.api.registry import READ, Param, method, webhook_id
from chalicelib.api.webhook_methods import visible_webhook
from chalicelib.delivery.log import FINISHED, STATUSES
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.delivery.sender import send, signed_request
from chalicelib.dispatch.replays import replay, replayable_since
from chalicelib.errors import Conflict, InvalidParameter, MissingParameter, NotFound, ServiceError
from chalicelib.ids import new_id
from chalicelib.occurrences import delivery_body
from chalicelib.pull.poll import signed_entry
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
    sent = None if record.request_headers is None else {"headers": record.request_headers, "body": record.body}
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
    records, _ = log_of(ctx, webhook).page(webhook.webhook_id, ctx.now, limit=STATS_WINDOW, max_reads=2)
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
        params=(webhook_id(),), answer="TestResult")
def test_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    not_for_pull(webhook, "it has no url to send a test to; webhook.requestExample shows what a poll returns")
    services = ctx.services
    per_minute = services.settings.test_sends_per_minute
    services.limits.take_within(f"TEST#{webhook.webhook_id}", per_minute, 60, ctx.now,
                                f"webhook.test runs at most {per_minute} times a minute per webhook")
    data = {webhook.owner_field: webhook.owner_id, "message": "a test delivery from InEvent webhooks"}
    body = delivery_body(TEST_TYPE, webhook.webhook_id, data, ctx.now, sequence=0)
    message = QueuedMessage(message_id=new_id("msg"), webhook_id=webhook.webhook_id, type=TEST_TYPE,
                            subject=TEST_TYPE, date=str(int(ctx.now)), timestamp=int(ctx.now), data=data)
    request = signed_request(webhook, message.message_id, body, ctx.now)
    attempt = send(services.policy, services.sender, request)
    # Kept in the delivery log like any message, so the log shows what the test sent and got;
    # the endpoint has it either way, so a record that cannot be written does not change the answer.
    try:
        services.log.record_attempt(message, 1, attempt.to_record(1, ctx.now), "delivered" if attempt.ok else "failed",
                                    None, ctx.now, request["headers"], first=(body, None, None))
    except (ServiceError, ClientError, BotoCoreError):
        logger.exception("a test send's record could not be written", extra={"webhookID": webhook.webhook_id})
    return 200, {
        "messageID": message.message_id,
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "error": attempt.error,
        "response": attempt.response,
    }

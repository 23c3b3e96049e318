"""The API's methods, as the platform's users know them (contract, sections 3, 5 and 6).

Each method is a plain function of a :class:`Context` (the caller's grant, the services, the
time) and its :class:`Params`; it returns ``(status, body)`` or raises a ``ServiceError``.
"""

import json
from dataclasses import dataclass

from chalicelib.delivery import send, signed_request
from chalicelib.deliveries import QueuedMessage
from chalicelib.errors import Conflict, Forbidden, InvalidParameter, MissingParameter, NotFound, Unavailable
from chalicelib.events import PlatformEvent, check_identifier, check_type, check_unix_seconds, delivery_body
from chalicelib.fanout import fan_out
from chalicelib.ids import hash_token, new_id, new_secret, new_token
from chalicelib.storage import Grant, Webhook

READ = frozenset({"GET", "POST"})
WRITE = frozenset({"POST"})
EXAMPLE_ACTIVITY_ID = "98"
EXAMPLE_PERSON_ID = "5521"


@dataclass(frozen=True)
class Method:
    name: str
    function: object
    verbs: frozenset
    params: frozenset
    admin: bool = False


METHODS = {}


def method(name, verbs=WRITE, params=(), admin=False):
    def register(function):
        METHODS[name] = Method(name, function, verbs, frozenset(params), admin)
        return function

    return register


@dataclass(frozen=True)
class Context:
    services: object
    grant: Grant
    now: float


class Repeated(list):
    """The values a query string or form gave one name (a JSON array is a plain list)."""


class Params:
    """A method's parameters, merged from the query string and the body (body wins).

    Query and form values arrive as :class:`Repeated` strings; JSON values as they were sent.
    """

    def __init__(self, values):
        self._values = values

    def raw(self, name):
        value = self._values.get(name)
        if isinstance(value, Repeated):
            if len(value) > 1:
                raise InvalidParameter(f"{name} is given more than once", field=name)
            value = value[0] if value else None
        elif isinstance(value, (list, dict)) and name != "data":
            raise InvalidParameter(f"{name} must be a single value", field=name)
        return value

    def required(self, name):
        value = self.raw(name)
        if value is None:
            raise MissingParameter(f"{name} is required", field=name)
        return value

    def identifier(self, name):
        return check_identifier(self.required(name), name)

    def many(self, name):
        """A parameter that may repeat, or be a comma-separated list, or a JSON array."""
        value = self._values.get(name)
        if value is None or value == []:
            raise MissingParameter(f"{name} is required", field=name)
        items = value if isinstance(value, list) else [value]
        result = []
        for item in items:
            parts = item.split(",") if isinstance(item, str) else [item]
            result.extend(check_identifier(part.strip() if isinstance(part, str) else part, name) for part in parts)
        return list(dict.fromkeys(result))


def _require_event(ctx, event_id):
    if not ctx.grant.can_access(event_id):
        raise Forbidden("this token has no access to that eventID", field="eventID")


def _visible_webhook(ctx, params):
    """The webhook named by ``webhookID``; one the token cannot see is as unknown as a missing one."""
    webhook_id = params.identifier("webhookID")
    webhook = ctx.services.webhooks.get(webhook_id)
    if webhook is None or not ctx.grant.can_access(webhook.event_id):
        raise NotFound("no webhook with that webhookID", field="webhookID")
    return webhook


@method("webhook.create", params=("eventID", "url", "type"))
def create_webhook(ctx, params):
    event_id = params.identifier("eventID")
    _require_event(ctx, event_id)
    type = check_type(params.required("type"))
    url = params.required("url")
    ctx.services.policy.check(url)
    secret = new_secret()
    webhook = Webhook(
        webhook_id=new_id("wh"),
        event_id=event_id,
        type=type,
        url=url,
        date=str(int(ctx.now)),
        status="enabled",
        secrets=(secret,),
    )
    ctx.services.webhooks.create(webhook)
    return 201, {**webhook.public(), "secret": secret}


@method("webhook.find", verbs=READ, params=("eventID", "type"))
def find_webhooks(ctx, params):
    event_id = params.identifier("eventID")
    _require_event(ctx, event_id)
    type = params.raw("type")
    if type is not None:
        check_type(type)
    data = [hook.public() for hook in ctx.services.webhooks.list(event_id, type)]
    return 200, {"count": len(data), "data": data}


@method("webhook.remove", params=("webhookID",))
def remove_webhook(ctx, params):
    webhook = _visible_webhook(ctx, params)
    ctx.services.webhooks.remove(webhook)
    return 200, webhook.public()


@method("webhook.requestExample", verbs=READ, params=("webhookID",))
def request_example(ctx, params):
    webhook = _visible_webhook(ctx, params)
    event = PlatformEvent.build(
        type=webhook.type,
        eventID=webhook.event_id,
        activityID=EXAMPLE_ACTIVITY_ID,
        personID=EXAMPLE_PERSON_ID,
        now=ctx.now,
    )
    body = delivery_body(webhook.type, webhook.webhook_id, event.data(), ctx.now, sequence=1)
    example = signed_request(webhook, new_id("msg"), body, ctx.now)
    return 200, {**example, "payload": json.loads(body)}


@method("webhook.responseExample", verbs=READ, params=("webhookID",))
def response_example(ctx, params):
    _visible_webhook(ctx, params)
    return 200, {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": {"received": True},
        "rules": ctx.services.settings.describe_rules(),
    }


@method("webhook.dispatch", params=("type", "eventID", "activityID", "personID", "date", "data"))
def dispatch(ctx, params):
    data = params.raw("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidParameter("data must be a JSON object", field="data") from exc
    event = PlatformEvent.build(
        type=params.required("type"),
        eventID=params.required("eventID"),
        activityID=params.required("activityID"),
        personID=params.required("personID"),
        date=params.raw("date"),
        data=data,
        now=ctx.now,
    )
    _require_event(ctx, event.event_id)
    message_id = new_id("msg")
    count = fan_out(event, message_id, ctx.services.webhooks, ctx.services.queue, ctx.services.log, ctx.now)
    return 202, {"messageID": message_id, "webhooks": count}


DELIVERY_STATUSES = ("pending", "delivered", "failed", "skipped")
TEST_TYPE = "webhook.test"
MAX_REDELIVER = 1000


def message_view(record):
    """A delivery log record as ``webhook.deliveries`` shows it (contract, section 9)."""
    next_ms = record.get("nextAttemptAt")
    return {
        "messageID": record["messageID"],
        "webhookID": record["webhookID"],
        "type": record["type"],
        "status": record["status"],
        "date": record["date"],
        "attempts": [
            {
                "attempt": int(a["attempt"]),
                "date": a["date"],
                "statusCode": None if a.get("statusCode") is None else int(a["statusCode"]),
                "durationMs": int(a["durationMs"]),
                "error": a.get("error"),
                "response": a.get("response", ""),
            }
            for a in record.get("attempts", [])
        ],
        "nextAttemptDate": None if next_ms is None else str(int(next_ms) // 1000),
    }


@method("webhook.deliveries", verbs=READ, params=("webhookID", "status", "limit", "cursor"))
def list_deliveries(ctx, params):
    webhook = _visible_webhook(ctx, params)
    status = params.raw("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidParameter(f"status must be one of {', '.join(DELIVERY_STATUSES)}", field="status")
    limit = params.raw("limit")
    if limit is None:
        limit = 50
    elif isinstance(limit, bool) or not (isinstance(limit, int) or (isinstance(limit, str) and limit.isdigit())):
        raise InvalidParameter("limit must be a whole number from 1 to 200", field="limit")
    limit = int(limit)
    if not 1 <= limit <= 200:
        raise InvalidParameter("limit must be a whole number from 1 to 200", field="limit")
    cursor = params.raw("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidParameter("cursor must be a string", field="cursor")
    records, next_cursor = ctx.services.log.page(webhook.webhook_id, ctx.now, status=status, limit=limit,
                                                 cursor=cursor or None)
    data = [message_view(record) for record in records]
    return 200, {"count": len(data), "data": data, "cursor": next_cursor}


@method("webhook.redeliver", params=("webhookID", "messageID", "since"))
def redeliver(ctx, params):
    webhook = _visible_webhook(ctx, params)
    message_id, since = params.raw("messageID"), params.raw("since")
    if (message_id is None) == (since is None):
        raise MissingParameter("give either messageID (one message) or since (Unix seconds)",
                               field="messageID" if message_id is None else "since")
    log = ctx.services.log
    if message_id is not None:
        message_id = check_identifier(message_id, "messageID")
        if log.get(webhook.webhook_id, message_id) is None:
            raise NotFound("this webhook has no message with that messageID", field="messageID")
        reopened = [log.reopen(webhook.webhook_id, message_id)]
    else:
        since_ms = int(check_unix_seconds(since, "since")) * 1000
        reopened = []
        for status in ("failed", "skipped"):
            cursor = None
            while len(reopened) < MAX_REDELIVER:
                records, cursor = log.page(webhook.webhook_id, ctx.now, status=status, since_ms=since_ms,
                                           limit=min(200, MAX_REDELIVER - len(reopened)), cursor=cursor)
                for record in records:
                    try:
                        reopened.append(log.reopen(webhook.webhook_id, record["messageID"]))
                    except Conflict:
                        pass  # already queued again by someone else
                if cursor is None:
                    break
    try:
        ctx.services.queue.send([QueuedMessage.from_record(record) for record in reopened])
    except Unavailable as exc:
        for message in exc.unsent:  # not queued: not left pending for ever, replayable later
            log.undo_reopen(message)
        raise
    return 202, {"queued": len(reopened)}


@method("webhook.test", params=("webhookID",))
def test_webhook(ctx, params):
    webhook = _visible_webhook(ctx, params)
    data = {"eventID": webhook.event_id, "message": "a test delivery from InEvent webhooks"}
    body = delivery_body(TEST_TYPE, webhook.webhook_id, data, ctx.now, sequence=0)
    services = ctx.services
    attempt = send(services.policy, services.sender, webhook, new_id("msg"), body, ctx.now)
    return 200, {
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "error": attempt.error,
        "response": attempt.response,
    }


@method("webhook.enable", params=("webhookID",))
def enable_webhook(ctx, params):
    return _set_status(ctx, params, "enabled")


@method("webhook.disable", params=("webhookID",))
def disable_webhook(ctx, params):
    return _set_status(ctx, params, "disabled")


def _set_status(ctx, params, status):
    webhook = _visible_webhook(ctx, params)
    ctx.services.webhooks.set_status(webhook, status)
    return 200, {**webhook.public(), "status": status}


ROTATION_OVERLAP_SECONDS = 24 * 3600


@method("webhook.rotateSecret", params=("webhookID",))
def rotate_secret(ctx, params):
    webhook = _visible_webhook(ctx, params)
    secret = new_secret()
    ctx.services.webhooks.rotate_secret(webhook, secret, ctx.now + ROTATION_OVERLAP_SECONDS)
    return 200, {"webhookID": webhook.webhook_id, "secret": secret}


@method("token.create", params=("eventID",), admin=True)
def create_token(ctx, params):
    events = params.many("eventID")
    token = issue_token(ctx.services.tokens, Grant(admin=False, events=frozenset(events)), ctx.now)
    return 201, {"tokenID": token, "events": events}


@method("token.revoke", params=("tokenID",), admin=True)
def revoke_token(ctx, params):
    token = params.raw("tokenID")
    if token is None:
        raise MissingParameter(
            "token.revoke takes the admin token in the Authorization header and the token to revoke in tokenID",
            field="tokenID",
        )
    if not isinstance(token, str) or not ctx.services.tokens.delete(hash_token(token)):
        raise NotFound("no such token", field="tokenID")
    return 200, {"revoked": True}


def issue_token(tokens, grant, now):
    """Make a token with ``grant``; the clear token is returned here and never again."""
    token = new_token()
    tokens.put(hash_token(token), grant, str(int(now)))
    return token

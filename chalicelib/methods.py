"""The API's methods, as the platform's users know them (contract, sections 3, 5 and 6).

Each method is a plain function of a :class:`Context` (the caller's grant, the services, the
time) and its :class:`Params`; it returns ``(status, body)`` or raises a ``ServiceError``.
"""

import json
from dataclasses import dataclass

from chalicelib.delivery import signed_request
from chalicelib.errors import Forbidden, InvalidParameter, MissingParameter, NotFound
from chalicelib.events import PlatformEvent, check_identifier, check_type, delivery_body
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


class Params:
    """A method's parameters, merged from the query string and the body (body wins).

    Query and form values arrive as lists of strings; JSON values arrive as they were sent.
    """

    def __init__(self, values):
        self._values = values

    def names(self):
        return set(self._values)

    def raw(self, name):
        value = self._values.get(name)
        if isinstance(value, list):
            if len(value) > 1:
                raise InvalidParameter(f"{name} is given more than once", field=name)
            value = value[0] if value else None
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
    body = delivery_body(webhook.type, webhook.webhook_id, event.data(), ctx.now)
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
    count = fan_out(event, message_id, ctx.services.webhooks, ctx.services.queue, ctx.now)
    return 202, {"messageID": message_id, "webhooks": count}


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

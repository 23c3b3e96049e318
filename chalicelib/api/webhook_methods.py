"""The webhook and token methods, as the platform's users know them (contract, sections 3, 5, 6,
9 and 11). The delivery log's methods are in ``chalicelib.api.delivery_methods``.

Each method is a plain function of a context (the caller's grant, the services, the time) and
its parameters; it returns ``(status, body)`` or raises a ``ServiceError``.
"""

import json
from dataclasses import replace

from chalicelib import strict_json
from chalicelib.api.receiver_options import check_filter, check_headers, check_rate_limit
from chalicelib.api.registry import READ, Param, method, webhook_id
from chalicelib.catalog import CATALOG, COMPANY, EVENT, ID_FIELDS
from chalicelib.delivery.sender import redacted, signed_request
from chalicelib.dispatch.fanout import fan_out
from chalicelib.errors import Forbidden, InvalidParameter, MissingParameter, NotFound
from chalicelib.ids import hash_token, new_id, new_secret, new_token
from chalicelib.occurrences import Occurrence, delivery_body, example_data
from chalicelib.pull.poll import new_cursor_key
from chalicelib.store.tokens import MAX_GRANTED, Grant
from chalicelib.store.webhook_record import OWNER_FIELD, Webhook, effective_types
from chalicelib.validation import check_type, check_types

ROTATION_OVERLAP_SECONDS = 24 * 3600
EXAMPLE_WEBHOOK_ID = "wh_01KB2X3Y4Z5A6B7C8D9E0F1G2H"
EVENT_ID = Param("eventID", "id", "The event: its event-level webhooks. Give eventID or companyID.")
COMPANY_ID = Param("companyID", "id", "The company: its company-level webhooks. Give eventID or companyID.")
TYPES = Param("types", "types", "The types the webhook takes, in place of type: a JSON array or a comma-separated "
              "list of catalog types allowed at its level, none twice; or * alone, every type of the level (those the "
              "catalog gains later too).")
RECEIVER_OPTIONS = (
    Param("headers", "headers", "Headers of your own that every delivery carries, such as "
          '{"Authorization": "Bearer ..."}: at most 10; values are never shown again; {} removes them.'),
    Param("rateLimit", "rate", "At most this many attempts a second to the endpoint (1 to 1000); 0: no limit."),
    Param("filter", "filter", "Only platform events with these IDs: ID fields that every type of the webhook carries "
          '(activityID, personID, speakerID; eventID at the company level) to lists of 1 to 100 IDs, such as '
          '{"activityID": ["98"]}; {} removes it.'),
)


def owner(ctx, params):
    """The level and owner that ``eventID`` or ``companyID`` names (exactly one of them), if the
    token may reach it."""
    event_id, company_id = params.optional_identifier("eventID"), params.optional_identifier("companyID")
    if (event_id is None) == (company_id is None):
        raise (MissingParameter if event_id is None else InvalidParameter)(
            "give eventID (an event-level webhook) or companyID (a company-level one), not both",
            field="eventID" if event_id is None else "companyID")
    level, owner_id = (EVENT, event_id) if event_id is not None else (COMPANY, company_id)
    if not ctx.grant.can_access(level, owner_id):
        raise Forbidden(f"this token has no access to that {OWNER_FIELD[level]}", field=OWNER_FIELD[level])
    return level, owner_id


def visible_webhook(ctx, params):
    """The webhook named by ``webhookID``; one the token cannot see is as unknown as a missing one."""
    webhook = ctx.services.webhooks.get(params.identifier("webhookID"), ctx.now)
    if webhook is None or not ctx.grant.can_access(webhook.level, webhook.owner_id):
        raise NotFound("no webhook with that webhookID", field="webhookID")
    return webhook


@method("webhook.create", "Register a URL for one type of the catalog or more, for an event or for a company; "
        "or a pull webhook, whose messages are read with webhook.poll.",
        params=(EVENT_ID, COMPANY_ID, Param("url", "url", "The endpoint (required, except for a pull webhook, which "
                                             "has none)."),
                Param("type", "type", "The webhook's one type (case-sensitive). Give type or types."), TYPES,
                Param("delivery", "delivery", "push (the default): each message is POSTed to url; pull: no url, the "
                      "messages wait to be read with webhook.poll."),
                *RECEIVER_OPTIONS),
        status=201, answer="WebhookCreated")
def create_webhook(ctx, params):
    level, owner_id = owner(ctx, params)
    types = _types(params, level)
    delivery = params.raw("delivery")
    delivery = "push" if delivery is None else delivery
    if delivery not in ("push", "pull"):
        raise InvalidParameter("delivery must be push or pull", field="delivery")
    secret = new_secret()
    webhook = Webhook(webhook_id=new_id("wh"), level=level, owner_id=owner_id, types=types, url=None,
                      normal_url=None, date=str(int(ctx.now)), status="enabled", secrets=(secret,), delivery=delivery,
                      cursor_key=new_cursor_key() if delivery == "pull" else None)
    if delivery == "push" and params.raw("url") is None:
        raise MissingParameter("url is required: the endpoint (or delivery=pull, a webhook without one)", field="url")
    webhook = _with_options(webhook, params, ctx.services.policy)
    ctx.services.webhooks.create(webhook)
    return 201, {**webhook.public(), "secret": secret}


def _types(params, level):
    """The types ``webhook.create`` gives: ``type`` (one), or ``types`` (section 17), not both."""
    one, several = params.raw("type"), params.names("types")
    if one is not None and several is not None:
        raise InvalidParameter("give type (one type) or types (one or more), not both", field="types")
    if several is not None:
        return check_types(several, level)
    if one is None:
        raise MissingParameter("type is required: the webhook's type (or types, a list of them)", field="type")
    return (check_type(one, level).name,)


@method("webhook.update", "Change a webhook's url, types, headers, rate limit or filter; what is not given is kept, "
        "and so are its secret, status, delivery log and sequences.",
        params=(webhook_id(), Param("url", "url", "A new endpoint, checked as at creation."), TYPES,
                *RECEIVER_OPTIONS),
        answer="Webhook")
def update_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    updated = _with_options(webhook, params, ctx.services.policy)
    return 200, ctx.services.webhooks.update(webhook, updated).public()


def _with_options(webhook, params, policy):
    """``webhook`` with the url, types and receiver's options that ``params`` give (sections 14, 17).
    A pull webhook takes no url, headers or rate limit: nothing is sent to it (section 18)."""
    changes = {}
    if webhook.delivery == "pull":
        for name, why in (("url", "has no url"), ("headers", "sends no headers"), ("rateLimit", "is never POSTed to")):
            if params.raw(name) is not None:
                raise InvalidParameter(f"a pull webhook {why}: its messages are read with webhook.poll", field=name)
    url = params.raw("url") if params.raw("url") != webhook.url else None
    if url is not None:
        policy.check(url)
        changes.update(url=url, normal_url=policy.normal_form(url))
    types = params.names("types")
    if types is not None:
        changes["types"] = check_types(types, webhook.level)
    headers = params.json_object("headers")
    if headers is not None:
        changes["headers"] = check_headers(headers)
    rate = params.raw("rateLimit")
    if rate is not None:
        changes["rate_limit"] = check_rate_limit(rate)
    given_filter = params.json_object("filter")
    kept_filter = webhook.filter if "types" in changes and given_filter is None else None
    if given_filter is not None or kept_filter:
        # New types keep the filter only if every one of them carries its fields.
        webhook_types = [CATALOG[name] for name in effective_types(changes.get("types", webhook.types), webhook.level)]
        changes["filter"] = check_filter(given_filter if given_filter is not None else kept_filter, webhook_types,
                                         webhook.level)
    return replace(webhook, **changes)


@method("webhook.find", "An event's or a company's webhooks, in creation order.",
        params=(EVENT_ID, COMPANY_ID, Param("type", "type", "Only webhooks that take this type (alone, among others, "
                                             "or through *).")),
        verbs=READ, answer="WebhookList")
def find_webhooks(ctx, params):
    level, owner_id = owner(ctx, params)
    type = params.raw("type")
    if type is not None:
        check_type(type)
    data = [hook.public() for hook in ctx.services.webhooks.find(level, owner_id, type)]
    return 200, {"count": len(data), "data": data}


@method("webhook.remove", "Remove a webhook: nothing more is sent to it, queued deliveries included.",
        params=(webhook_id(),), answer="Webhook")
def remove_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    ctx.services.webhooks.remove(webhook)
    return 200, webhook.public()


@method("webhook.requestExample", "Exactly what a delivery to this webhook looks like, signed with its secret.",
        params=(webhook_id(), Param("type", "type", "Which of the webhook's types (default: the first of them in "
                                    "catalog order).")),
        verbs=READ, answer="RequestExample")
def request_example(ctx, params):
    webhook = visible_webhook(ctx, params)
    type = params.raw("type")
    if type is None:
        type = webhook.effective_types()[0]
    elif not webhook.takes(check_type(type).name):
        raise InvalidParameter(f"this webhook does not take {type}: give one of its types", field="type",
                               code="invalid_type")
    data = example_data(CATALOG[type], ctx.now, **{webhook.owner_field: webhook.owner_id})
    body = delivery_body(type, webhook.webhook_id, data, ctx.now, sequence=1)
    example = signed_request(webhook, new_id("msg"), body, ctx.now)
    return 200, {**example, "headers": redacted(example["headers"]), "payload": json.loads(body)}


@method("webhook.responseExample", "What the endpoint should answer, and how its answers are read.",
        params=(webhook_id(),), verbs=READ, answer="ResponseExample")
def response_example(ctx, params):
    visible_webhook(ctx, params)
    return 200, {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": {"received": True},
        "rules": ctx.services.settings.describe_rules(),
    }


@method("webhook.types", "The catalog of webhook types, with the levels, subject, IDs and an example of each.",
        verbs=READ, answer="TypeList")
def list_types(ctx, params):
    data = []
    for webhook_type in CATALOG.values():
        example = delivery_body(webhook_type.name, EXAMPLE_WEBHOOK_ID, example_data(webhook_type, ctx.now), ctx.now,
                                sequence=1)
        data.append(webhook_type.describe(json.loads(example)))
    return 200, {"count": len(data), "data": data}


@method("webhook.dispatch", "What the platform calls when something happens: queue it for every matching webhook.",
        params=(Param("type", "type", "The type of what happened.", required=True),
                *(Param(name, "id", f"{name}, when the type carries it (webhook.types lists each type's IDs).")
                  for name in ID_FIELDS if name != "companyID"),
                Param("companyID", "id", "The company the event belongs to: its company-level webhooks hear it too."),
                Param("date", "seconds", "When it happened (default: now)."),
                Param("data", "object", "Further fields for the delivered data.")),
        status=202, answer="Dispatched", admin=True, idempotent=True)
def dispatch(ctx, params):
    data = params.raw("data")
    if isinstance(data, str):
        try:
            data = strict_json.loads(data)
        except strict_json.StrictJSONError as exc:
            raise InvalidParameter(f"data must be a JSON object: it {exc}", field="data") from exc
    occurrence = Occurrence.build(
        params.required("type"),
        {name: params.raw(name) for name in ID_FIELDS if name != "companyID"},
        company_id=params.raw("companyID"),
        date=params.raw("date"),
        data=data,
        now=ctx.now,
    )
    services = ctx.services

    def run():
        # A retry of a keyed dispatch that failed halfway queues under the first try's messageID.
        key = ctx.idempotency_key
        message_id = new_id("msg") if key is None else services.idempotency.message_id(key, params.given(), ctx.now)
        count = fan_out(occurrence, message_id, services.webhooks, services.queue, services.log, ctx.now,
                        services.pull_log)
        return {"messageID": message_id, "webhooks": count}

    if ctx.idempotency_key is None:
        return 202, run()
    return 202, services.idempotency.run(ctx.idempotency_key, params.given(), run)


@method("webhook.enable", "Enable a webhook again; its run of failures is forgotten.",
        params=(webhook_id(),), answer="Webhook")
def enable_webhook(ctx, params):
    return _set_status(ctx, params, "enabled")


@method("webhook.disable", "Disable a webhook: what is dispatched meanwhile is kept as skipped.",
        params=(webhook_id(),), answer="Webhook")
def disable_webhook(ctx, params):
    return _set_status(ctx, params, "disabled")


def _set_status(ctx, params, status):
    webhook = visible_webhook(ctx, params)
    ctx.services.webhooks.set_status(webhook, status)
    return 200, {**webhook.public(), "status": status}


@method("webhook.rotateSecret", "A new signing secret; for 24 hours deliveries carry both signatures, new first.",
        params=(webhook_id(),), answer="RotatedSecret")
def rotate_secret(ctx, params):
    webhook = visible_webhook(ctx, params)
    secret = new_secret()
    ctx.services.webhooks.rotate_secret(webhook, secret, ctx.now + ROTATION_OVERLAP_SECONDS)
    return 200, {"webhookID": webhook.webhook_id, "secret": secret}


@method("token.create", "Make a token for some events and companies, or a device's token for some pull webhooks "
        "(admin only); it is shown this once.",
        params=(Param("eventID", "ids", "The events the token may reach."),
                Param("companyID", "ids", "The companies whose company-level webhooks the token may reach."),
                Param("webhookID", "ids", "Pull webhooks: a device's token, which may call webhook.poll on them and "
                      "nothing else. Not with eventID or companyID.")),
        status=201, answer="TokenCreated", admin=True)
def create_token(ctx, params):
    webhooks = params.many("webhookID", required=False)
    if webhooks:
        return _create_device_token(ctx, params, webhooks)
    events, companies = events_and_companies(params, "a token may hold")
    grant = Grant(admin=False, events=frozenset(events), companies=frozenset(companies))
    token = issue_token(ctx.services.tokens, grant, ctx.now)
    return 201, {"tokenID": token, "events": events, "companies": companies}


def _create_device_token(ctx, params, webhooks):
    """A device's token (section 18): webhook.poll on ``webhooks``, each a live pull webhook."""
    if params.many("eventID", required=False) or params.many("companyID", required=False):
        raise InvalidParameter("a device's token polls its webhooks only: give webhookID without eventID or companyID",
                               field="webhookID")
    if len(webhooks) > MAX_GRANTED:
        raise InvalidParameter(f"a token may hold at most {MAX_GRANTED} webhooks", field="webhookID")
    found = {webhook.webhook_id: webhook for webhook in ctx.services.webhooks.get_many(webhooks)}
    for webhook_id in webhooks:
        webhook = found.get(webhook_id)
        if webhook is None:
            raise InvalidParameter(f"no webhook {webhook_id[:40]}", field="webhookID")
        if webhook.delivery != "pull":
            raise InvalidParameter(f"{webhook_id} is not a pull webhook: a device's token polls pull webhooks",
                                   field="webhookID")
    token = issue_token(ctx.services.tokens, Grant(admin=False, webhooks=frozenset(webhooks)), ctx.now)
    return 201, {"tokenID": token, "events": [], "companies": [], "webhooks": webhooks}


@method("token.revoke", "Revoke a token at once (admin only, authenticating with the Authorization header).",
        params=(Param("tokenID", "token", "The token to revoke.", required=True),), answer="Revoked", admin=True)
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


def events_and_companies(params, limit_says):
    """The ``eventID`` and ``companyID`` lists given: at least one ID, at most ``MAX_GRANTED`` in all
    (``limit_says``: what the error says holds at most that many)."""
    events, companies = params.many("eventID", required=False), params.many("companyID", required=False)
    if not events and not companies:
        raise MissingParameter("give one or more eventID or companyID", field="eventID")
    if len(events) + len(companies) > MAX_GRANTED:
        raise InvalidParameter(f"{limit_says} at most {MAX_GRANTED} events and companies",
                               field="eventID" if len(events) >= len(companies) else "companyID")
    return events, companies


def issue_token(tokens, grant, now):
    """Make a token with ``grant``; the clear token is returned here and never again."""
    token = new_token()
    tokens.put(hash_token(token), grant, str(int(now)))
    return token

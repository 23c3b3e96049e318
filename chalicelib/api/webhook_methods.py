"""The webhook and token methods, as the platform's users know them (contract, sections 3, 5, 6,
9 and 11). The delivery log's methods are in ``chalicelib.api.delivery_methods``.

Each method is a plain function of a context (the caller's grant, the services, the time) and
its parameters; it returns ``(status, body)`` or raises a ``ServiceError``.
"""

import json
from dataclasses import replace

from chalicelib import strict_json
from chalicelib.api.receiver_options import (
    check_auth,
    check_filter,
    check_headers,
    check_rate_limit,
    has_authorization_header,
)
from chalicelib.api.registry import READ, Param, method, webhook_id
from chalicelib.catalog import CATALOG, COMPANY, EVENT, ID_FIELDS
from chalicelib.delivery.sender import redacted, signed_request
from chalicelib.delivery.signing import ED25519, SIGNATURES, new_key_pair
from chalicelib.dispatch.fanout import fan_out
from chalicelib.errors import Forbidden, InvalidParameter, MissingParameter, NotFound
from chalicelib.ids import hash_token, new_id, new_secret, new_token
from chalicelib.occurrences import Occurrence, delivery_body, example_data
from chalicelib.pull.poll import new_cursor_key
from chalicelib.store.tokens import MAX_GRANTED, Grant
from chalicelib.store.webhook_record import OWNER_FIELD, Webhook, effective_types
from chalicelib.validation import check_description, check_type, check_types

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
          '{"activityID": ["98"]}, at most 100 IDs and 1,024 bytes of IDs in all; {} removes it.'),
    Param("template", "template", "The body to send instead of the usual one (not for a pull webhook): "
          '{"body": "<a Mustache template, at most 4 KiB>", "contentType": "application/json" or "text/plain"}, '
          'rendered over the usual body ({{type}}, {{data.personID}}...), or {"preset": "slack"} or '
          '{"preset": "teams"}: one readable line for a chat channel. {} removes it.'),
    Param("auth", "auth", 'Credentials the endpoint asks for (not for a pull webhook): {"type": "oauth2", "tokenUrl", '
          '"clientID", "clientSecret", "scope" (optional)}. Every delivery then carries Authorization: Bearer with an '
          "access token got with the client-credentials grant; the client secret is never shown again; {} removes "
          "it."),
)
DESCRIPTION = Param("description", "text", "Your own words for the webhook, to find it among others: 0 to 200 "
                    'characters of printable text; "" removes it.')


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
                      "messages wait to be read with webhook.poll. It cannot change."),
                Param("signature", "signature", "How deliveries are signed: hmac (default: v1, with the secret "
                      "answered once) or ed25519 (v1a, verified with the public key alone, answered as publicKey). "
                      "It cannot change."),
                *RECEIVER_OPTIONS, DESCRIPTION),
        status=201, answer="WebhookCreated")
def create_webhook(ctx, params):
    level, owner_id = owner(ctx, params)
    types = _types(params, level)
    delivery = params.raw("delivery")
    delivery = "push" if delivery is None else delivery
    if delivery not in ("push", "pull"):
        raise InvalidParameter("delivery must be push or pull", field="delivery")
    signature = check_signature(params.raw("signature"))
    if signature == ED25519:
        secret, public_key = new_key_pair()
        keys = {"public_keys": (public_key,)}
    else:
        secret, keys = new_secret(), {}
    webhook = Webhook(webhook_id=new_id("wh"), level=level, owner_id=owner_id, types=types, url=None,
                      normal_url=None, date=str(int(ctx.now)), status="enabled", secrets=(secret,), delivery=delivery,
                      cursor_key=new_cursor_key() if delivery == "pull" else None, signature=signature, **keys)
    if delivery == "push" and params.raw("url") is None:
        raise MissingParameter("url is required: the endpoint (or delivery=pull, a webhook without one)", field="url")
    webhook = _with_options(webhook, params, ctx.services.policy, ctx.now)
    ctx.services.webhooks.create(webhook)
    # An ed25519 webhook's private key is never answered: its object's publicKey is what verifies.
    return 201, webhook.public() if signature == ED25519 else {**webhook.public(), "secret": secret}


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


def check_signature(value):
    """``signature``: ``hmac`` (the default, when absent) or ``ed25519``."""
    if value is None:
        return SIGNATURES[0]
    if value not in SIGNATURES:
        raise InvalidParameter(f"signature must be {' or '.join(SIGNATURES)}", field="signature")
    return value


@method("webhook.update", "Change a webhook's url, types, headers, rate limit, filter, auth, template or description; "
        "what is not given is kept, and so are its secret, status, delivery log and sequences.",
        params=(webhook_id(), Param("url", "url", "A new endpoint, checked as at creation."), TYPES,
                *RECEIVER_OPTIONS, DESCRIPTION),
        answer="Webhook")
def update_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    updated = _with_options(webhook, params, ctx.services.policy, ctx.now)
    return 200, ctx.services.webhooks.update(webhook, updated).public()


# What a pull webhook cannot take: nothing is POSTed to it (section 18), and each entry a poll
# returns is section 4's body, signed, so that one verification serves push and pull.
_NOT_FOR_PULL = {
    "url": "has no url: its messages are read with webhook.poll",
    "headers": "sends no headers: its messages are read with webhook.poll",
    "rateLimit": "is never POSTed to: its messages are read with webhook.poll",
    "auth": "has no endpoint to authenticate to: its messages are read with webhook.poll",
    "template": "takes no template: webhook.poll returns each message as section 4's body, signed",
}


def _with_options(webhook, params, policy, now):
    """``webhook`` with the url, types, receiver's options (sections 14, 17, 20 and 21) and the
    description (section 22) that ``params`` give. A pull webhook takes no url, headers, rate
    limit, auth or template (section 18)."""
    changes = {}
    if webhook.delivery == "pull":
        for name, why in _NOT_FOR_PULL.items():
            if params.raw(name) is not None:
                raise InvalidParameter(f"a pull webhook {why}", field=name)
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
    given_template = params.json_object("template")
    kept_template = webhook.template if "types" in changes and given_template is None else None
    if given_template is not None or kept_template:
        # A template renders every type of the webhook: new types keep it only if it renders them.
        changes["template"] = checked_template(given_template if given_template is not None else kept_template,
                                               replace(webhook, **changes), now)
    given_auth = params.json_object("auth")
    if given_auth is not None:
        changes["auth"] = check_auth(given_auth, policy)
    description = params.raw("description")
    if description is not None:
        changes["description"] = check_description(description)
    updated = replace(webhook, **changes)
    if updated.auth is not None and has_authorization_header(updated.headers):
        raise InvalidParameter("auth sets the Authorization header itself: remove the Authorization header from "
                               "headers, or leave auth out", field="auth")
    return updated


def checked_template(value, webhook, now):
    """The ``template`` parameter, checked by rendering the example of each of ``webhook``'s
    types (sections 17 and 21), in the form it is kept; None for ``{}``."""
    from chalicelib.templates.webhook_template import check  # on first use: no cold start pays for it

    if webhook.delivery == "pull":
        raise InvalidParameter(f"a pull webhook {_NOT_FOR_PULL['template']}", field="template")
    return check(value, [example_body(webhook, webhook_type, now) for webhook_type in webhook.effective_types()])


def example_body(webhook, webhook_type, now):
    """Section 4's body of a made-up delivery of ``webhook_type`` to ``webhook``."""
    data = example_data(CATALOG[webhook_type], now, **{webhook.owner_field: webhook.owner_id})
    return delivery_body(webhook_type, webhook.webhook_id, data, now, sequence=1)


@method("webhook.find", "An event's or a company's webhooks, in creation order.",
        params=(EVENT_ID, COMPANY_ID, Param("type", "type", "Only webhooks that take this type (alone, among others, "
                                             "or through *).")),
        verbs=READ, answer="WebhookList")
def find_webhooks(ctx, params):
    level, owner_id = owner(ctx, params)
    type = params.raw("type")
    if type is not None:
        check_type(type)
    data = [hook.as_of(ctx.now).public() for hook in ctx.services.webhooks.find(level, owner_id, type)]
    return 200, {"count": len(data), "data": data}


@method("webhook.remove", "Remove a webhook: nothing more is sent to it, queued deliveries included.",
        params=(webhook_id(),), answer="Webhook")
def remove_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    ctx.services.webhooks.remove(webhook)
    return 200, webhook.public()


@method("webhook.requestExample", "Exactly what a delivery to this webhook looks like (for a pull webhook, what a poll "
        "returns of a message), signed with its secret, and the template that shapes it.",
        params=(webhook_id(), Param("type", "type", "Which of the webhook's types (default: the first of them in "
                                    "catalog order)."),
                Param("template", "template", "A template to try instead of the webhook's own, checked as "
                      "webhook.update checks it; nothing is changed.")),
        verbs=READ, answer="RequestExample")
def request_example(ctx, params):
    webhook = visible_webhook(ctx, params)
    type = params.raw("type")
    if type is None:
        type = webhook.effective_types()[0]
    elif not webhook.takes(check_type(type).name):
        raise InvalidParameter(f"this webhook does not take {type}: give one of its types", field="type",
                               code="invalid_type")
    tried = params.json_object("template")
    if tried is not None:
        webhook = replace(webhook, template=checked_template(tried, webhook, ctx.now))
    example = signed_request(webhook, new_id("msg"), example_body(webhook, type, ctx.now), ctx.now)
    body = example["body"]
    shown = {
        "method": example["method"],
        "url": example["url"],
        "headers": redacted(example["headers"]),
        "body": body,
        # The body parsed; a text/plain template's is text, not JSON.
        "payload": json.loads(body) if body and example["headers"]["content-type"] == "application/json" else None,
        "template": webhook.template,
    }
    if webhook.public_keys:  # what a receiver verifies an ed25519 webhook's deliveries with
        shown["publicKey"] = webhook.public_keys[0]
    return 200, shown


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
                        dispatches=services.dispatches, pull_log=services.pull_log)
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


@method("webhook.rotateSecret", "A new signing secret (an ed25519 webhook: a new key pair, answered by its public "
        "key); for 24 hours deliveries carry both signatures, new first.",
        params=(webhook_id(),), answer="RotatedSecret")
def rotate_secret(ctx, params):
    webhook = visible_webhook(ctx, params)
    until = ctx.now + ROTATION_OVERLAP_SECONDS
    if webhook.signature == ED25519:
        private_key, public_key = new_key_pair()
        ctx.services.webhooks.rotate_secret(webhook, private_key, until, public_key=public_key)
        return 200, {"webhookID": webhook.webhook_id, "publicKey": public_key}
    secret = new_secret()
    ctx.services.webhooks.rotate_secret(webhook, secret, until)
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
    if not isinstance(token, str) or not ctx.services.tokens.revoke(hash_token(token), ctx.now):
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

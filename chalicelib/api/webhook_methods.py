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
from chalicelib.store.tokens import MAX_GRANTED, Grant
from chalicelib.store.webhook_record import OWNER_FIELD, Webhook
from chalicelib.validation import check_description, check_type

ROTATION_OVERLAP_SECONDS = 24 * 3600
EXAMPLE_WEBHOOK_ID = "wh_01KB2X3Y4Z5A6B7C8D9E0F1G2H"
EVENT_ID = Param("eventID", "id", "The event: its event-level webhooks. Give eventID or companyID.")
COMPANY_ID = Param("companyID", "id", "The company: its company-level webhooks. Give eventID or companyID.")
RECEIVER_OPTIONS = (
    Param("headers", "headers", "Headers of your own that every delivery carries, such as "
          '{"Authorization": "Bearer ..."}: at most 10; values are never shown again; {} removes them.'),
    Param("rateLimit", "rate", "At most this many attempts a second to the endpoint (1 to 1000); 0: no limit."),
    Param("filter", "filter", "Only platform events with these IDs: ID fields of the type (activityID, personID, "
          'speakerID; eventID at the company level) to lists of 1 to 100 IDs, such as {"activityID": ["98"]}, at '
          "most 100 IDs and 1,024 bytes of IDs in all; {} removes it."),
    Param("template", "template", "The body to send instead of the usual one: "
          '{"body": "<a Mustache template, at most 4 KiB>", "contentType": "application/json" or "text/plain"}, '
          'rendered over the usual body ({{type}}, {{data.personID}}...), or {"preset": "slack"} or '
          '{"preset": "teams"}: one readable line for a chat channel. {} removes it.'),
    Param("auth", "auth", 'Credentials the endpoint asks for: {"type": "oauth2", "tokenUrl", "clientID", '
          '"clientSecret", "scope" (optional)}. Every delivery then carries Authorization: Bearer with an access '
          "token got with the client-credentials grant; the client secret is never shown again; {} removes it."),
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


@method("webhook.create", "Register a URL for one type of the catalog, for an event or for a company.",
        params=(EVENT_ID, COMPANY_ID, Param("url", "url", "The endpoint.", required=True),
                Param("type", "type", "The webhook type (case-sensitive).", required=True),
                Param("signature", "signature", "How deliveries are signed: hmac (default: v1, with the secret "
                      "answered once) or ed25519 (v1a, verified with the public key alone, answered as publicKey). "
                      "It cannot change."),
                *RECEIVER_OPTIONS, DESCRIPTION),
        status=201, answer="WebhookCreated")
def create_webhook(ctx, params):
    level, owner_id = owner(ctx, params)
    webhook_type = check_type(params.required("type"), level)
    url = params.required("url")
    signature = check_signature(params.raw("signature"))
    policy = ctx.services.policy
    policy.check(url)
    if signature == ED25519:
        secret, public_key = new_key_pair()
        keys = {"public_keys": (public_key,)}
    else:
        secret, keys = new_secret(), {}
    webhook = Webhook(webhook_id=new_id("wh"), level=level, owner_id=owner_id, type=webhook_type.name, url=url,
                      normal_url=policy.normal_form(url), date=str(int(ctx.now)), status="enabled", secrets=(secret,),
                      signature=signature, **keys)
    webhook = _with_options(webhook, params, policy, ctx.now)
    ctx.services.webhooks.create(webhook)
    # An ed25519 webhook's private key is never answered: its object's publicKey is what verifies.
    return 201, webhook.public() if signature == ED25519 else {**webhook.public(), "secret": secret}


def check_signature(value):
    """``signature``: ``hmac`` (the default, when absent) or ``ed25519``."""
    if value is None:
        return SIGNATURES[0]
    if value not in SIGNATURES:
        raise InvalidParameter(f"signature must be {' or '.join(SIGNATURES)}", field="signature")
    return value


@method("webhook.update", "Change a webhook's url, headers, rate limit, filter, auth, template or description; what "
        "is not given is kept, and so are its secret, status, delivery log and sequences.",
        params=(webhook_id(), Param("url", "url", "A new endpoint, checked as at creation."), *RECEIVER_OPTIONS,
                DESCRIPTION),
        answer="Webhook")
def update_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    updated = _with_options(webhook, params, ctx.services.policy, ctx.now)
    ctx.services.webhooks.update(webhook, updated)
    return 200, updated.public()


def _with_options(webhook, params, policy, now):
    """``webhook`` with the url, the receiver's options (sections 14, 20 and 21) and the description
    (section 22) that ``params`` give."""
    changes = {}
    url = params.raw("url") if params.raw("url") != webhook.url else None
    if url is not None:
        policy.check(url)
        changes.update(url=url, normal_url=policy.normal_form(url))
    headers = params.json_object("headers")
    if headers is not None:
        changes["headers"] = check_headers(headers)
    rate = params.raw("rateLimit")
    if rate is not None:
        changes["rate_limit"] = check_rate_limit(rate)
    given_filter = params.json_object("filter")
    if given_filter is not None:
        changes["filter"] = check_filter(given_filter, CATALOG[webhook.type], webhook.level)
    given_template = params.json_object("template")
    if given_template is not None:
        changes["template"] = checked_template(given_template, webhook, now)
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
    types (section 21), in the form it is kept; None for ``{}``."""
    from chalicelib.templates.webhook_template import check  # on first use: no cold start pays for it

    return check(value, [example_body(webhook, webhook_type, now) for webhook_type in (webhook.type,)])


def example_body(webhook, webhook_type, now):
    """Section 4's body of a made-up delivery of ``webhook_type`` to ``webhook``."""
    data = example_data(CATALOG[webhook_type], now, **{webhook.owner_field: webhook.owner_id})
    return delivery_body(webhook_type, webhook.webhook_id, data, now, sequence=1)


@method("webhook.find", "An event's or a company's webhooks, in creation order.",
        params=(EVENT_ID, COMPANY_ID, Param("type", "type", "Only webhooks of this type.")),
        verbs=READ, answer="WebhookList")
def find_webhooks(ctx, params):
    level, owner_id = owner(ctx, params)
    type = params.raw("type")
    if type is not None:
        check_type(type)
    data = [hook.as_of(ctx.now).public() for hook in ctx.services.webhooks.list(level, owner_id, type)]
    return 200, {"count": len(data), "data": data}


@method("webhook.remove", "Remove a webhook: nothing more is sent to it, queued deliveries included.",
        params=(webhook_id(),), answer="Webhook")
def remove_webhook(ctx, params):
    webhook = visible_webhook(ctx, params)
    ctx.services.webhooks.remove(webhook)
    return 200, webhook.public()


@method("webhook.requestExample", "Exactly what a delivery to this webhook looks like, signed with its secret, and "
        "the template that shapes it.",
        params=(webhook_id(), Param("template", "template", "A template to try instead of the webhook's own, checked "
                                    "as webhook.update checks it; nothing is changed.")),
        verbs=READ, answer="RequestExample")
def request_example(ctx, params):
    webhook = visible_webhook(ctx, params)
    tried = params.json_object("template")
    if tried is not None:
        webhook = replace(webhook, template=checked_template(tried, webhook, ctx.now))
    example = signed_request(webhook, new_id("msg"), example_body(webhook, webhook.type, ctx.now), ctx.now)
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
                        dispatches=services.dispatches)
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


@method("token.create", "Make a token for some events and companies (admin only); it is shown this once.",
        params=(Param("eventID", "ids", "The events the token may reach."),
                Param("companyID", "ids", "The companies whose company-level webhooks the token may reach.")),
        status=201, answer="TokenCreated", admin=True)
def create_token(ctx, params):
    events, companies = events_and_companies(params, "a token may hold")
    grant = Grant(admin=False, events=frozenset(events), companies=frozenset(companies))
    token = issue_token(ctx.services.tokens, grant, ctx.now)
    return 201, {"tokenID": token, "events": events, "companies": companies}


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

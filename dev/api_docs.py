"""Writes ``docs/api.md``, the API reference, from the method registry, the catalog, the answer
schemas and the service's own constants. A test checks that the committed file is exactly what
this script writes.

    python -m dev.api_docs [--check]

The prose lives here; every name, verb, parameter, status, answer field, type, default and
limit in it comes from the code, so a change there shows up as a failing ``--check``.
"""

import json
import pathlib

from chalicelib import errors
from chalicelib.api import MAX_BODY_BYTES, MAX_FIELDS, METHODS
from chalicelib.catalog import CATALOG, COMPANY_REQUIRED, TYPE_NAMES
from chalicelib.sender import MAX_RESPONSE_BYTES, USER_AGENT
from chalicelib.delivery_log import MAX_KEPT_ATTEMPTS, STATUSES
from chalicelib.delivery_methods import STATS_WINDOW, TEST_TYPE
from chalicelib.destinations import MAX_URL_LENGTH, InvalidURL, UnsafeDestination
from chalicelib.fanout import PLATFORM_SOURCE
from chalicelib.idempotency import KEEP_SECONDS, MAX_KEY_LENGTH
from chalicelib.methods import ROTATION_OVERLAP_SECONDS, list_types
from chalicelib.occurrences import MAX_DELIVERED_BODY
from chalicelib.registry import KINDS, READ
from chalicelib.replays import MAX_REPLAYED
from chalicelib.settings import (
    DEFAULT_AUTO_DISABLE_AFTER,
    DEFAULT_DELIVERY_TIMEOUT_SECONDS,
    DEFAULT_RATE_LIMIT_PER_SECOND,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_RETRY_SCHEDULE,
    DEFAULT_TABLE_NAME,
    DEFAULT_TEST_SENDS_PER_MINUTE,
    Settings,
    format_duration,
    parse_retry_schedule,
)
from chalicelib.strict_json import MAX_DEPTH
from chalicelib.token_store import MAX_GRANTED
from chalicelib.validation import MAX_ID_LENGTH
from chalicelib.worker import MAX_RETRY_AFTER_SECONDS
from dev.generated import write_or_check
from dev.openapi_schemas import ANSWERS
from dev.run import LOCAL_SETTINGS, LOOPBACK_NETWORKS

DOCUMENT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "api.md"
EXAMPLE_NOW = 1764273600  # examples are dated, so the file does not change from one run to the next
MAX_WEBHOOKS = Settings.from_env({}).max_webhooks_per_owner
WEBHOOK_ANCHOR = "#the-webhook-object"
CATALOG_ANCHOR = "#the-catalog"

# Every error code the service answers: (code, the error class it is raised as, when).
ERROR_CODES = (
    ("missing_parameter", errors.MissingParameter,
     "A required parameter is missing; or neither `eventID` nor `companyID` was given; or not exactly one of "
     "`messageID` and `since`."),
    ("invalid_parameter", errors.InvalidParameter,
     "A parameter's value is wrong: the message says why and `field` names it."),
    ("unknown_parameter", errors.UnknownParameter, "The method takes no parameter of that name."),
    ("invalid_body", errors.InvalidParameter,
     "The body is not UTF-8, is not valid JSON, is JSON but not an object, or is a malformed form."),
    ("invalid_type", errors.InvalidParameter,
     "`type` is not a type of the catalog, or not one that a webhook of that level may take."),
    ("invalid_url", InvalidURL,
     f"`url` is not an absolute `http` or `https` URL with a host, is longer than {MAX_URL_LENGTH:,} characters, "
     "holds a user name or password, spaces or control characters, or has an invalid host or port."),
    ("unsafe_url", UnsafeDestination,
     "`url`'s host is, or resolves to, an address that webhooks may not reach, or does not resolve."),
    ("too_many_webhooks", errors.InvalidParameter,
     f"The event or company has {MAX_WEBHOOKS} webhooks already: remove one first."),
    ("invalid_idempotency_key", errors.InvalidParameter,
     f"The `Idempotency-Key` header is not 1 to {MAX_KEY_LENGTH} printable ASCII characters."),
    ("unauthorized", errors.Unauthorized,
     "No token, a token that does not exist (or was revoked), or a malformed `Authorization` header."),
    ("forbidden", errors.Forbidden,
     "The token exists but may not reach that event or company, or the method needs an admin token."),
    ("not_found", errors.NotFound,
     "No such webhook (or one the token cannot see), message or token; or nothing is served at that path."),
    ("unknown_method", errors.UnknownMethod, "There is no method of that name."),
    ("method_not_allowed", errors.MethodNotAllowed,
     "The method does not accept that verb; the `Allow` header lists the ones it does."),
    ("duplicate", errors.Conflict,
     "The webhook exists already (the message names its webhookID); or the secret was rotated meanwhile."),
    ("message_pending", errors.Conflict, "The message to redeliver is still being delivered."),
    ("idempotency_key_reused", errors.Conflict,
     "The `Idempotency-Key` was used with other parameters in the last 24 hours."),
    ("idempotency_key_in_progress", errors.Conflict,
     "A dispatch with the same `Idempotency-Key` is still running: try again in a moment."),
    ("payload_too_large", errors.PayloadTooLarge,
     f"The request body is over {MAX_BODY_BYTES // 1024 // 1024} MiB; or (`field: \"data\"`) the body that "
     f"`webhook.dispatch` would deliver is over {MAX_DELIVERED_BODY // 1024} KiB."),
    ("unsupported_media_type", errors.UnsupportedMediaType,
     "The body is neither JSON nor `application/x-www-form-urlencoded`."),
    ("rate_limited", errors.RateLimited,
     "Too many requests: wait the seconds that the `Retry-After` header gives."),
    ("unavailable", errors.Unavailable,
     "AWS throttled the service or could not be reached. Nothing was accepted: try again."),
    ("internal_error", errors.InternalError, "A bug in the service. No input, however malformed, should cause one."),
)
# Codes that are not a ServiceError of the service's own.
OTHER_CODES = (
    ("invalid_request", "4xx",
     "API Gateway refused the request before it reached the service (any other refusal of its own)."),
)

# What each method's table and answer cannot say: rules, errors and edge cases, checked against the code.
NOTES = {
    "webhook.create": [
        "Give exactly one of `eventID` (an event-level webhook) or `companyID` (a company-level webhook, "
        "which receives its type for every event of the company). Neither is `400 missing_parameter` on "
        "`eventID`; both is `400 invalid_parameter` on `companyID`.",
        "`type` must be a type of the [catalog](#the-catalog) that the level allows (`eventCreated` exists at "
        "the company level only), else `400 invalid_type`.",
        f"`url` must be an absolute `http` or `https` URL with a host, at most {MAX_URL_LENGTH:,} characters, "
        "without a user name or password, spaces or control characters (`400 invalid_url`). Its host may not be, "
        "or resolve to, a loopback, private (RFC 1918, unique-local), link-local (the cloud metadata address "
        "169.254.169.254 included), multicast, unspecified, shared or reserved address, an IPv6 site-local "
        "address, nor an IPv6 address that carries one of those (IPv4-mapped, IPv4-compatible, 6to4, NAT64), "
        "however it is spelled (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`); a host "
        "that does not resolve is refused too (`400 unsafe_url`). Only the networks in "
        "`WEBHOOK_ALLOW_NETWORKS` are exempt. The same check runs again at every delivery.",
        "The same owner, `type` and `url` twice is `409 duplicate` on `url`, and the message names the "
        "existing webhookID. URLs are compared in one normal form: scheme and host in lower case, no trailing "
        "dot on the host, no default port, IP addresses in their standard spelling, no fragment. The `url` "
        "is stored and returned as given.",
        f"An event or a company has at most {MAX_WEBHOOKS} webhooks (`400 too_many_webhooks`), however many "
        "creations race.",
        "The answer's `secret` is `whsec_` and the base64 of 32 random bytes. It is shown this once: keep it.",
    ],
    "webhook.find": [
        "Give exactly one of `eventID` or `companyID`: it lists that level's webhooks only (a company's "
        "list does not include its events' webhooks). Enabled and disabled webhooks are listed, removed ones "
        "are not. An event with none answers `{\"count\": 0, \"data\": []}`.",
        "`type` must be a type of the catalog (`400 invalid_type`).",
    ],
    "webhook.remove": [
        "Answers the webhook as it was. From then on nothing is sent to it, deliveries already queued "
        "included, and every method answers `404` for its webhookID, as for one already removed.",
    ],
    "webhook.requestExample": [
        "A delivery of the webhook's own type, with example IDs (the webhook's own eventID or companyID), "
        "dated now, `sequence` 1 and a new `webhook-id`. It is signed with the webhook's real secret (both "
        "secrets during a rotation), so it verifies with it. `payload` is `body`, parsed.",
    ],
    "webhook.responseExample": [
        "`rules` is the service's configuration (`DELIVERY_TIMEOUT_SECONDS`, `RETRY_SCHEDULE`), not constants.",
    ],
    "webhook.types": [
        "Any valid token may call it. `data` follows the order of the [catalog](#the-catalog); each `example` "
        "is a delivered body of that type.",
    ],
    "webhook.dispatch": [
        "The platform's call: see [Platform events](#platform-events). Only an admin token may call it "
        "(`403` otherwise), so that no organizer or integrator can make the service sign what the platform "
        "did not report.",
        "Each ID of the type is required (`400 missing_parameter` on it); an ID the type does not carry is "
        "`400 invalid_parameter` on it. `companyID` is required for "
        + ", ".join(f"`{name}`" for name in sorted(COMPANY_REQUIRED)) + ".",
        "`data` is a JSON object, or its JSON text in a query string or form. It must not repeat an ID, "
        "`companyID` or `date` (`400` on `data`).",
        "Optional header `Idempotency-Key` (1 to 255 printable ASCII characters): the same key with the same "
        "parameters within 24 hours answers the first call's `202` body again and queues nothing new; with "
        "other parameters it is `409 idempotency_key_reused`. A call that failed keeps nothing, so it can be "
        "retried with the same key.",
        "`webhooks` counts the enabled webhooks it was queued for, at both levels. A disabled webhook's "
        "message is kept in its delivery log as `skipped` and not counted.",
    ],
    "webhook.deliveries": [
        "Newest first. `cursor` is `null` on the last page; give it back to read the next one (a cursor this "
        "method did not give is `400` on `cursor`). Messages older than `DELIVERY_RETENTION_DAYS` are gone.",
        f"Each message keeps its latest {MAX_KEPT_ATTEMPTS} attempts; the last one's `attempt` is how many were "
        f"made. `response` is at most the first {MAX_RESPONSE_BYTES // 1024} KiB (UTF-8) of the endpoint's answer.",
        "`nextAttemptDate` is when a pending message is tried next, else `null`.",
    ],
    "webhook.message": [
        "`request` is what the endpoint received at the latest attempt (headers and the exact body), or "
        "`null` when nothing was sent yet (a message skipped, or not yet tried). An unknown message is "
        "`404` on `messageID`.",
    ],
    "webhook.stats": [
        f"Over the webhook's latest {STATS_WINDOW} messages (`window` says how many there were). `successRate` "
        "is delivered / (delivered + failed), from 0 to 1, or `null` with no finished message. The durations "
        "are nearest-rank percentiles over the attempts that were sent. Dates are Unix seconds in strings, or "
        "`null`: `failingSince` is when the current run of failures began. `disabledReason` says why the "
        "service disabled the webhook, if it did.",
    ],
    "webhook.redeliver": [
        "Give exactly one of `messageID` or `since` (`400` otherwise).",
        "`messageID`: that message, if it is finished (`delivered`, `failed` or `skipped`); one still being "
        "delivered is `409 duplicate`.",
        f"`since`: every `failed` message made since then, and every `skipped` one (kept while the webhook "
        f"was disabled), newest first, at most {MAX_REPLAYED:,} a call: call again for more.",
        "A redelivered message keeps its `webhook-id`, its body and its `sequence`; the retry schedule starts "
        "over for it. `queued` counts the messages on their way.",
    ],
    "webhook.test": [
        f"Sends one signed delivery of type `{TEST_TYPE}` now, whatever the webhook's status, and answers what "
        "the endpoint said, whatever it said (no retries). Its body carries `sequence` 0 and `data` with the "
        "webhook's eventID or companyID and a `message`. It is kept in the delivery log like any message.",
        "At most `TEST_SENDS_PER_MINUTE` a minute per webhook (`429` past it).",
    ],
    "webhook.enable": [
        "Answers the webhook object. The webhook's run of failures is forgotten, so it gets a fresh "
        "`AUTO_DISABLE_AFTER`. Messages skipped while it was disabled are sent by `webhook.redeliver` with "
        "`since`.",
    ],
    "webhook.disable": [
        "Answers the webhook object. Nothing is sent to a disabled webhook; what is dispatched meanwhile (and "
        "what was queued) is kept in its delivery log as `skipped`.",
    ],
    "webhook.rotateSecret": [
        f"For {ROTATION_OVERLAP_SECONDS // 3600} hours after a rotation every delivery carries two signatures in "
        "`webhook-signature`, space-separated, the new one first, so a receiver can switch secrets without "
        "refusing a message. The old secret is then deleted. Two rotations at once: one is `409 duplicate`.",
    ],
    "token.create": [
        "Give one or more `eventID` and/or `companyID`: repeat the parameter, give a comma-separated list, "
        f"or a JSON array. At most {MAX_GRANTED} events and companies in all (`400`).",
        "`tokenID` is the new token, shown this once; `events` and `companies` are what it may reach.",
    ],
    "token.revoke": [
        "The admin token must come in the `Authorization` header: a `tokenID` parameter here is the token to "
        "revoke. It stops working at once. An unknown token is `404` on `tokenID`.",
    ],
}


def anchor(text):
    """GitHub's anchor for a heading."""
    kept = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return "#" + kept.replace(" ", "-")


# ---- answer schemas as field lists ------------------------------------------------------------

def _resolve(schema):
    if "$ref" in schema:
        return ANSWERS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _is_ref_to(schema, name):
    return schema.get("$ref", "").endswith("/" + name)


def _string_text(schema):
    pattern = schema.get("pattern", "")
    if schema.get("format") == "date-time":
        return "date and time, ISO 8601 in UTC"
    if pattern == "^[0-9]+$":
        return "digits in a string"
    if pattern == "^[0-9]+(ms|s|m|h)$":
        return "a duration such as `5m`"
    if pattern.startswith("^") and pattern[1:].replace("_", "").isalnum():
        return f"string, `{pattern[1:]}…`"
    return "string"


def _type_text(schema):
    """A short description of a schema's type, and the object schema whose fields come below it."""
    if _is_ref_to(schema, "Webhook"):
        return f"the [webhook object]({WEBHOOK_ANCHOR})", None
    schema = _resolve(schema)
    if "const" in schema:
        return f"always `{json.dumps(schema['const'])}`", None
    if "enum" in schema:
        if schema["enum"] == list(TYPE_NAMES):
            return f"a type of the [catalog]({CATALOG_ANCHOR})", None
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"]), None
    if "oneOf" in schema and "type" not in schema:
        texts, child = [], None
        for option in schema["oneOf"]:
            text, found = _type_text(option)
            texts.append(text)
            child = child or found
        return " or ".join(texts), child
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    nullable = "null" in types
    base = next((t for t in types if t != "null"), "null")
    child = None
    if base == "string":
        text = _string_text(schema)
    elif base in ("integer", "number"):
        text = "whole number" if base == "integer" else "number"
        low, high = schema.get("minimum"), schema.get("maximum")
        if high is not None:
            text += f" from {low} to {high}"
        elif low:
            text += f", at least {low}"
    elif base == "array":
        item_text, child = _type_text(schema.get("items", {}))
        if item_text.startswith("the [webhook object]"):
            text = f"array of [webhook objects]({WEBHOOK_ANCHOR})"
        elif item_text in ("object", "string"):
            text = f"array of {item_text}s"
        else:
            text = f"array, each {item_text}"
        if "maxItems" in schema:
            text += f", at most {schema['maxItems']}"
    elif base == "object":
        text = "object"
        if schema.get("properties"):
            child = schema
        elif isinstance(schema.get("additionalProperties"), dict) and schema.get("required"):
            text = "object of strings, always with " + ", ".join(f"`{name}`" for name in schema["required"])
    elif base == "boolean":
        text = "boolean"
    else:
        text = "null"
    if nullable and base != "null":
        text += " or null"
    return text, child


def field_lines(schema, depth=0):
    """The fields of an object schema, one list item each, nested objects indented below."""
    schema = _resolve(schema)
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        text, child = _type_text(prop)
        optional = "" if name in required else ", optional"
        description = prop.get("description", "") if isinstance(prop, dict) else ""
        lines.append(f"{'  ' * depth}- `{name}` ({text}{optional})" + (f": {description}" if description else ""))
        if child is not None:
            lines.extend(field_lines(child, depth + 1))
    alternatives = [option.get("required", []) for option in schema.get("oneOf", [])]
    if alternatives and all(len(names) == 1 for names in alternatives):
        names = " and ".join(f"`{names[0]}`" for names in alternatives)
        lines.append(f"{'  ' * depth}- Exactly one of {names} is present.")
    return lines


def answer_lines(method):
    if method.answer == "Webhook":
        return [f"Answer: `{method.status}` with the [webhook object]({WEBHOOK_ANCHOR})."]
    return [f"Answer: `{method.status}` with an object:", "", *field_lines(ANSWERS[method.answer])]


# ---- sections ----------------------------------------------------------------------------------

def _verbs(method):
    return " or ".join(f"`{verb}`" for verb in sorted(method.verbs))


def intro():
    return [
        "<!-- Written by `python -m dev.api_docs` from the code: do not edit by hand. -->",
        "# API reference",
        "",
        "The InEvent webhook service's public surface: the methods that organizers and integrators call, the "
        "requests the service sends to their endpoints, and the platform events that make it send them. "
        "This file is written by `python -m dev.api_docs` from the method registry "
        "(`chalicelib/registry.py`), the catalog (`chalicelib/catalog.py`) and the service's settings; "
        "a test checks that it is up to date. The same methods are described for machines in "
        "`chalicelib/openapi.yaml` (OpenAPI 3.1, served at `/openapi.yaml`).",
        "",
        "Contents:",
        "",
        *(f"- [{title}]({anchor(title)})" for title in (
            "Calling a method", "Methods", "The webhook object", "What an endpoint receives", "The catalog",
            "Platform events", "Tokens", "Settings", "Rate limits", "Limits")),
        "",
    ]


def calling():
    read = [name for name, m in METHODS.items() if m.verbs == READ]
    write = [name for name, m in METHODS.items() if m.verbs != READ]
    admin = [name for name, m in METHODS.items() if m.admin]
    lines = [
        "## Calling a method",
        "",
        "The API is served under your API Gateway stage's URL "
        "(`https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`), and by `make run` at "
        "`http://127.0.0.1:8000`. Paths below are relative to it.",
        "",
        "### Two call styles",
        "",
        "Every method is reachable two ways, which behave identically:",
        "",
        "- path style: `/api/webhook.find?eventID=1234`",
        "- platform style: `/api/?action=webhook.find&eventID=1234` (`action` may also come in the body)",
        "",
        "In path style an `action` parameter, if given, must name the same method (`400` on `action`). A "
        "method that does not exist is `404 unknown_method`.",
        "",
        "### Verbs",
        "",
        "Read methods accept `GET` and `POST`: " + ", ".join(f"`{n}`" for n in read) + ".",
        "",
        "Write methods accept `POST` only: " + ", ".join(f"`{n}`" for n in write) + ".",
        "",
        "Any other verb is `405 method_not_allowed`, with an `Allow` header listing the verbs the method "
        "accepts. The method and the verb are checked before the token.",
        "",
        "### Parameters",
        "",
        "Parameters come from the query string and from the body; a body value overrides a query value of "
        "the same name. The body may be:",
        "",
        "- a JSON object (`Content-Type: application/json`, or any `+json` type). There, IDs may be strings or "
        "whole numbers (they are always answered as strings), `limit`, `since` and `date` may be numbers, "
        "`data` an object, and the IDs of `token.create` arrays. A `null` value is refused: leave the "
        "parameter out instead.",
        "- a form (`Content-Type: application/x-www-form-urlencoded`).",
        "",
        "A body without a `Content-Type` is read as JSON if it starts with `{`, else as a form. Any other "
        "content type is `415 unsupported_media_type`; a body that is not UTF-8, not valid JSON, or JSON but "
        "not an object is `400 invalid_body`.",
        "",
        "In a query string or a form a parameter may be given once (`400` if repeated), except the IDs of "
        "`token.create`. A parameter the method does not take is `400 unknown_parameter`; `tokenID` is "
        f"accepted by every method, as the token. At most {MAX_FIELDS} parameters.",
        "",
        "Values must be text that can be delivered: no lone surrogates or non-characters (such as U+FFFE), "
        "and in JSON no `NaN` or `Infinity`, no number beyond a 64-bit float, and no nesting deeper than "
        f"{MAX_DEPTH} levels: `400` on the parameter.",
        "",
        "Each parameter has a kind, named in the method tables below:",
        "",
        "| kind | what it accepts |",
        "| --- | --- |",
        *(f"| `{kind}` | {text} |" for kind, text in KINDS.items()),
        "",
        "### Authentication",
        "",
        "Every method needs a token (`tok_…`), given either way:",
        "",
        "- the header `Authorization: Bearer <token>`;",
        "- the parameter `tokenID` (query string or body), the platform's style.",
        "",
        "When the header is present it alone authenticates (a malformed one is `401`), and a `tokenID` "
        "parameter is then an ordinary parameter, as in `token.revoke`.",
        "",
        "- No token, or a token that does not exist or was revoked: `401 unauthorized`.",
        "- A token that may not reach the event or company concerned: `403 forbidden`.",
        "- A webhookID that belongs to an event or company the token cannot reach is `404 not_found`, exactly "
        "as an unknown webhookID: nothing leaks about others' webhooks.",
        "- Admin tokens reach everything. Only they may call " + ", ".join(f"`{n}`" for n in admin)
        + " (`403` otherwise).",
        "",
        "Checks run in this order: the method and verb, the token, the [rate limit](#rate-limits), admin-only "
        "methods, unknown parameters, then the method's own checks.",
        "",
        "### Answers and errors",
        "",
        "Every answer is JSON with `Content-Type: application/json`, errors included. Errors have one shape:",
        "",
        "```json",
        '{"error": {"code": "missing_parameter", "message": "eventID is required", "field": "eventID"}}',
        "```",
        "",
        "`code` is stable, for programs; `message` is one sentence for people and may change; `field` is the "
        "parameter at fault (`Idempotency-Key` for that header), or `null`. A `429` carries a `Retry-After` "
        "header (seconds).",
        "",
        "| code | status | when |",
        "| --- | --- | --- |",
        *(f"| `{code}` | `{cls.status}` | {when} |" for code, cls, when in ERROR_CODES),
        *(f"| `{code}` | `{status}` | {when} |" for code, status, when in OTHER_CODES),
        "",
        "Bad input of any kind answers a `4xx` and changes nothing.",
        "",
    ]
    return lines


def methods():
    lines = [
        "## Methods",
        "",
        "| method | verbs | success | what it does |",
        "| --- | --- | --- | --- |",
        *(f"| [`{name}`]({anchor(name)}) | {_verbs(m)} | `{m.status}` | {m.summary} |" for name, m in METHODS.items()),
        "",
    ]
    unknown = set(NOTES) - set(METHODS)
    if unknown:
        raise SystemExit(f"notes for methods that do not exist: {', '.join(sorted(unknown))}")
    for name, method in METHODS.items():
        lines += [f"### {name}", "", method.summary, "", f"Verbs: {_verbs(method)}."
                  + (" Admin tokens only." if method.admin else ""), ""]
        if method.params:
            lines += ["| parameter | kind | required | meaning |", "| --- | --- | --- | --- |"]
            lines += [f"| `{p.name}` | `{p.kind}` | {'yes' if p.required else 'no'} | {p.summary} |"
                      for p in method.params]
        else:
            lines.append("No parameters besides the token.")
        lines.append("")
        for note in NOTES.get(name, ()):
            lines += [note, ""]
        lines += [*answer_lines(method), ""]
    return lines


def webhook_object():
    example = {"webhookID": "wh_01KB2X3Y4Z5A6B7C8D9E0F1G2H", "eventID": "1234", "type": "activityEnrollment",
               "url": "https://example.com/hooks/inevent", "date": str(EXAMPLE_NOW), "status": "enabled"}
    return [
        "## The webhook object",
        "",
        "```json",
        json.dumps(example, indent=2),
        "```",
        "",
        "Fields:",
        "",
        *field_lines(ANSWERS["Webhook"]),
        "",
        "Notes:",
        "",
        "- `webhookID` is assigned by the service: it sorts in creation order and is never reused.",
        "- An event-level webhook carries `eventID`; a company-level one carries `companyID` in its place. "
        "Either is returned as a string, however it was given.",
        "- `url` is the endpoint as given; `date` is when the webhook was created, Unix seconds in a string.",
        "- The signing secret is never part of this object: `webhook.create` and `webhook.rotateSecret` "
        "answer it once.",
        "",
    ]


def _schedule_table():
    schedule = parse_retry_schedule(DEFAULT_RETRY_SCHEDULE)
    lines = ["| attempt | waits before it | about this long after the message was queued |", "| --- | --- | --- |"]
    total = 0
    for number, delay in enumerate(schedule, 1):
        total += delay
        lines.append(f"| {number} | {format_duration(delay)} | {_long_duration(total)} |")
    return lines


def _long_duration(ms):
    seconds = ms // 1000
    parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    text = " ".join(f"{value}{unit}" for value, unit in parts if value)
    return text or "0s"


def delivery():
    example = list_types(_ExampleContext(), None)[1]["data"][TYPE_NAMES.index("activityEnrollment")]["example"]
    example = {**example, "data": {**example["data"], "seat": "A4"}}
    attempts = len(parse_retry_schedule(DEFAULT_RETRY_SCHEDULE))
    return [
        "## What an endpoint receives",
        "",
        "A delivery is an HTTP `POST` to the webhook's `url` that follows the "
        "[Standard Webhooks](https://www.standardwebhooks.com/) specification, so any Standard Webhooks "
        "library can verify it.",
        "",
        "### Headers",
        "",
        "- `content-type: application/json`",
        f"- `user-agent: {USER_AGENT}`",
        "- `webhook-id`: the message (`msg_…`). It is the same on every retry and every redelivery of the "
        "message, so a receiver can drop repeats: delivery is at least once.",
        "- `webhook-timestamp`: when this attempt was signed, Unix seconds.",
        "- `webhook-signature`: `v1,` and the base64 of an HMAC-SHA256 over "
        "`<webhook-id>.<webhook-timestamp>.<body>`, keyed with the base64-decoded part of the secret after "
        f"`whsec_`. For {ROTATION_OVERLAP_SECONDS // 3600} hours after `webhook.rotateSecret` it holds two "
        "signatures, space-separated, the new secret's first.",
        "",
        "The request also carries `host`, `content-length` and `accept-encoding: identity`. Receivers should "
        "verify the signature over the exact bytes received, refuse timestamps more than five minutes old "
        "(the libraries do), and drop repeated `webhook-id`s.",
        "",
        "```python",
        "from standardwebhooks.webhooks import Webhook, WebhookVerificationError",
        "",
        "def receive(body: bytes, headers: dict) -> dict:",
        '    return Webhook("whsec_...").verify(body, headers)  # raises WebhookVerificationError if forged or stale',
        "```",
        "",
        "### The body",
        "",
        "Compact JSON in UTF-8 (shown indented here), for example:",
        "",
        "```json",
        json.dumps(example, indent=2, ensure_ascii=False),
        "```",
        "",
        "- `type`: a type of the [catalog](#the-catalog).",
        "- `timestamp`: when the service received the platform event, ISO 8601 in UTC.",
        "- `webhookID`: the webhook it is sent to.",
        "- `sequence`: this webhook's count of messages about the type's subject (the person, activity, "
        "speaker or event): 1, 2, 3… in the order they are first sent, which is the order the platform "
        "reported them. A retry or a redelivery carries the same number; `webhook.test` carries 0. A gap "
        "means a message was given up: it is in the delivery log as `failed`, and can be redelivered.",
        "- `data`: the type's IDs (strings), `companyID` when the platform event named a company, `date` "
        "(when it happened, Unix seconds in a string) and any further fields the platform event carried "
        "(`seat` above).",
        "",
        "The body is made at the first attempt and kept: every retry and redelivery sends the same bytes.",
        "",
        "### Order",
        "",
        "Messages about one subject to one webhook are sent one at a time, in order: while one is being "
        "retried, the later ones about the same subject wait behind it, and messages about other subjects go "
        "ahead.",
        "",
        "### Success, failure and retries",
        "",
        f"An attempt succeeds when the endpoint answers any `2xx` within `DELIVERY_TIMEOUT_SECONDS` (default "
        f"{DEFAULT_DELIVERY_TIMEOUT_SECONDS}). That time covers the whole attempt, from looking up the host name "
        "to the last byte read (plus at most about a second); a late attempt fails with an error that says so. "
        "Anything else fails the attempt: another status, a redirect (`3xx`: redirects are not followed), no "
        "answer, a connection or TLS error (certificates are verified against the URL's host), or a "
        "destination that the check at this attempt refuses (recorded as `not sent: …`, and nothing is sent).",
        "",
        f"The endpoint's answer is read as sent (no compression is asked for); its first "
        f"{MAX_RESPONSE_BYTES // 1024} KiB, as UTF-8 text, are kept in the delivery log.",
        "",
        f"A failed attempt is tried again on the `RETRY_SCHEDULE`: the n-th entry is the wait before the n-th "
        f"attempt, the first counted from when the message was queued and the others from the end of the attempt "
        f"before. The default, `{DEFAULT_RETRY_SCHEDULE}`, makes {attempts} attempts:",
        "",
        *_schedule_table(),
        "",
        "After the last attempt fails, the message is `failed`: it stays in the delivery log and "
        "`webhook.redeliver` sends it again, with the schedule starting over.",
        "",
        "- **Retry-After.** When a `429` or `503` answer carries `Retry-After` (seconds or an HTTP date), the "
        f"next attempt waits at least that long, up to {MAX_RETRY_AFTER_SECONDS // 3600} hour, and never less "
        "than the schedule says.",
        "- **410 Gone** fails the message at once, with no further attempt, and disables the webhook.",
        "- **Failing for too long.** A webhook whose endpoint accepts no delivery for `AUTO_DISABLE_AFTER` "
        f"(default {DEFAULT_AUTO_DISABLE_AFTER}), counted from the first failure of the current run, is "
        "disabled. `webhook.stats` shows why.",
        "- **Disabled** webhooks are sent nothing: what is dispatched or queued meanwhile is kept as `skipped`. "
        "After `webhook.enable`, `webhook.redeliver` with `since` sends it.",
        "- **Removed** webhooks are sent nothing more, queued deliveries included.",
        "",
        f"Every attempt is recorded (`webhook.deliveries`, `webhook.message`): its number, date, status code, "
        f"duration, error and the answer's first {MAX_RESPONSE_BYTES // 1024} KiB. A message keeps its latest "
        f"{MAX_KEPT_ATTEMPTS} attempts and their total count, for `DELIVERY_RETENTION_DAYS`. A message is "
        + ", ".join(f"`{status}`" for status in STATUSES) + ".",
        "",
        "To answer, any `2xx` will do; `webhook.responseExample` shows a suggested answer and the rules above "
        "with the service's real figures.",
        "",
    ]


class _ExampleContext:
    now = EXAMPLE_NOW


def catalog():
    examples = list_types(_ExampleContext(), None)[1]["data"]
    lines = [
        "## The catalog",
        "",
        "The webhook types, in the order that `webhook.types` lists them. Names are case-sensitive. A webhook "
        "takes one type; the levels say whether an event-level webhook, a company-level one, or both may take "
        "it. Order is kept, and `sequence` counted, per webhook and subject. Every ID in `data` is a string.",
        "",
        "| type | what happened | levels | subject | IDs in `data` |",
        "| --- | --- | --- | --- | --- |",
        *(f"| `{t.name}` | {t.description} | {', '.join(t.levels)} | {t.subject} | "
          f"{', '.join(f'`{f}`' for f in t.fields)} |" for t in CATALOG.values()),
        "",
        "A company-level webhook hears its type from every platform event that names its company (`companyID`), "
        "whatever the event.",
        "",
        "### Example bodies",
        "",
        f"One delivered body per type, as `webhook.types` shows it (dated {EXAMPLE_NOW}). A real one also "
        "carries `companyID` when the platform event named a company, and the further fields it carried.",
        "",
    ]
    for entry in examples:
        lines += [f"`{entry['type']}`:", "", "```json", json.dumps(entry["example"]), "```", ""]
    return lines


def platform_events():
    return [
        "## Platform events",
        "",
        "The platform reports what happened in either of two ways; both lead to the same fan-out: one message "
        "for every enabled webhook of that type, of the event and, when the report names a company, of the "
        "company.",
        "",
        "### EventBridge",
        "",
        f"An event on the stack's bus (the `PlatformEventBusName` parameter, `default` unless set) with "
        f"`source` `{PLATFORM_SOURCE}`, `detail-type` the type, and `detail` an object holding:",
        "",
        "- the type's IDs, by name (see [the catalog](#the-catalog));",
        "- optionally `companyID` (required for "
        + ", ".join(f"`{name}`" for name in sorted(COMPANY_REQUIRED)) + ");",
        "- optionally `date`, Unix seconds (the time of receipt when absent);",
        "- any further fields, which are delivered in `data` as sent (an ID that the type does not carry "
        "included).",
        "",
        "```json",
        json.dumps({"source": PLATFORM_SOURCE, "detail-type": "activityEnrollment",
                    "detail": {"eventID": "1234", "activityID": "98", "personID": "5521", "companyID": "42",
                               "date": str(EXAMPLE_NOW), "seat": "A4"}}, indent=2),
        "```",
        "",
        "An event that can never be valid (a missing or malformed ID, a delivered body over "
        f"{MAX_DELIVERED_BODY // 1024} KiB) is logged and dropped. The same EventBridge event delivered twice "
        "(a retried invocation, say) gets the same `webhook-id`, and the queue drops the copies. With `make run`, "
        "`python -m dev.platform_event activityEnrollment eventID=1234 activityID=98 personID=5521` sends one "
        "(after the `export` line that `make run` prints).",
        "",
        "### webhook.dispatch",
        "",
        "The same over HTTP, with an admin token: `POST /api/webhook.dispatch` with `type`, the type's IDs, "
        "optional `companyID`, `date` and `data` (a JSON object of further fields). It answers `202` with "
        "`{\"messageID\": \"msg_…\", \"webhooks\": N}`, N being how many enabled webhooks it was queued for. "
        "Unlike EventBridge, it refuses what is wrong with a `400` naming the field (an ID that the type does "
        f"not carry included), and a delivered body over {MAX_DELIVERED_BODY // 1024} KiB with `413` on `data`.",
        "",
        f"Send an `Idempotency-Key` header (1 to {MAX_KEY_LENGTH} printable ASCII characters) to make retries "
        f"safe: the same key with the same parameters within {KEEP_SECONDS // 3600} hours answers the first "
        "call's body again and queues nothing new; the same key with other parameters is "
        "`409 idempotency_key_reused`, and while the first call runs, `409 idempotency_key_in_progress`.",
        "",
        "```sh",
        "curl -X POST https://<api>/api/webhook.dispatch -H \"Authorization: Bearer $ADMIN_TOKEN\" \\",
        "     -H 'Idempotency-Key: enrollment-5521-98' -H 'content-type: application/json' \\",
        "     -d '{\"type\": \"activityEnrollment\", \"eventID\": \"1234\", \"activityID\": \"98\", "
        "\"personID\": \"5521\", \"data\": {\"seat\": \"A4\"}}'",
        "```",
        "",
    ]


def tokens():
    return [
        "## Tokens",
        "",
        "A token is `tok_` and 43 random characters (256 bits). The service stores only its SHA-256 and "
        "shows the clear token once, when it is made. A token reaches:",
        "",
        "- everything, for an admin token, which alone may call "
        + ", ".join(f"`{n}`" for n, m in METHODS.items() if m.admin) + ";",
        "- else the events it was made for (their event-level webhooks) and the companies it was made for "
        "(their company-level webhooks: a company grant does not reach the company's events' webhooks). "
        f"At most {MAX_GRANTED} events and companies in all.",
        "",
        "Over the API, an admin token makes tokens with `token.create` (`eventID` and/or `companyID`, one or "
        "more) and revokes them with `token.revoke` (the admin token in the `Authorization` header, the token "
        "to revoke in `tokenID`). A revoked token stops working at the next request: tokens are not cached.",
        "",
        "From the command line, against whatever backend the environment points at (AWS with your "
        "credentials and `WEBHOOKS_TABLE`, or the local run after its `export` line):",
        "",
        "```sh",
        "python -m chalicelib.tokens create --event 1234 [--event 5678] [--company 42]",
        "python -m chalicelib.tokens create --all          # an admin token",
        "python -m chalicelib.tokens revoke tok_...",
        "```",
        "",
        "`create` prints the token alone on its last line. `revoke` of an unknown token exits with status 1.",
        "",
    ]


def settings():
    def local_range(name):
        for setting, low, high in LOCAL_SETTINGS:
            if setting == name:
                return f"{low} to {high}"
        raise KeyError(name)

    return [
        "## Settings",
        "",
        "Environment variables, read when the service starts. A malformed value is an error that names the "
        "variable: `make run` refuses to start, and a deployed function fails until it is fixed.",
        "",
        "| variable | meaning | default |",
        "| --- | --- | --- |",
        "| `RETRY_SCHEDULE` | The wait before each attempt, comma-separated; each a number with a unit `ms`, "
        "`s`, `m` or `h`. One entry per attempt; at most 7 days in all. | "
        f"`{DEFAULT_RETRY_SCHEDULE}` |",
        "| `DELIVERY_TIMEOUT_SECONDS` | How long an attempt may take, in seconds: more than 0, at most 60. | "
        f"`{DEFAULT_DELIVERY_TIMEOUT_SECONDS}` |",
        "| `WEBHOOK_ALLOW_NETWORKS` | Comma-separated networks in CIDR form exempt from the destination checks "
        "(the only exemption). | empty |",
        "| `WEBHOOK_DENY_PORTS` | Comma-separated TCP ports that stay closed on the allowed networks (for "
        "instance a local AWS backend's). | empty |",
        "| `AUTO_DISABLE_AFTER` | How long an endpoint may fail without one success before its webhook is "
        f"disabled (a duration, as above). | `{DEFAULT_AUTO_DISABLE_AFTER}` |",
        "| `DELIVERY_RETENTION_DAYS` | How long the delivery log keeps a message, in days (1 to 3650). | "
        f"`{DEFAULT_RETENTION_DAYS}` |",
        "| `RATE_LIMIT_PER_SECOND` | Requests a second for each token other than an admin token (1 to 100000). "
        f"| `{DEFAULT_RATE_LIMIT_PER_SECOND}` |",
        "| `TEST_SENDS_PER_MINUTE` | `webhook.test` calls a minute for each webhook (1 to 10000). | "
        f"`{DEFAULT_TEST_SENDS_PER_MINUTE}` |",
        f"| `WEBHOOKS_TABLE` | The DynamoDB table. The stack sets it. | `{DEFAULT_TABLE_NAME}` |",
        "| `DELIVERY_QUEUE_URL` | The SQS FIFO delivery queue. The stack sets it. | empty |",
        "",
        "AWS itself is reached with the usual AWS SDK settings (credentials, `AWS_DEFAULT_REGION`, "
        "`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_DYNAMODB`).",
        "",
        "### The local run",
        "",
        "`make run` passes the settings above through to the service, and reads these:",
        "",
        "| variable | meaning | default |",
        "| --- | --- | --- |",
        f"| `PORT` | The port of the API and console on 127.0.0.1 ({local_range('PORT')}). | `8000` |",
        f"| `MOTO_PORT` | The port of the embedded moto server for SQS and EventBridge ({local_range('MOTO_PORT')}). "
        "| a free port |",
        "| `LOCAL_STATE_DIR` | Where the local run keeps its data between runs; empty keeps nothing (memory "
        "only). `make run FRESH=1` starts afresh. | `.local-state` |",
        "| `INEVENT_DEV_TOKEN` | The admin token to use, so that scripts know it in advance. | a new token, "
        "printed |",
        f"| `WEBHOOK_ALLOW_NETWORKS` | As above; an empty value counts as set. | `{LOOPBACK_NETWORKS}` |",
        "| `WEBHOOKS_TABLE` and `DELIVERY_QUEUE_URL` | Both set: use them, in your AWS account, instead of "
        "starting moto. | unset |",
        f"| `LOCAL_WORKER_CONCURRENCY` | Delivery pollers ({local_range('LOCAL_WORKER_CONCURRENCY')}). | `8` |",
        "| `LOCAL_VISIBILITY_TIMEOUT` | Seconds a received delivery stays hidden "
        f"({local_range('LOCAL_VISIBILITY_TIMEOUT')}). | the queue's `90` |",
        "| `LOCAL_FUNCTION_TIMEOUT` | Seconds the local delivery function may run "
        f"({local_range('LOCAL_FUNCTION_TIMEOUT')}). | `30` |",
        "| `AWS_DEFAULT_REGION` | The region of the local backend. | `us-east-1` |",
        "| `LOG_LEVEL` | The local worker's log level. | `INFO` |",
        "",
    ]


def rate_limits():
    return [
        "## Rate limits",
        "",
        f"- Each token other than an admin token makes at most `RATE_LIMIT_PER_SECOND` requests a second "
        f"(default {DEFAULT_RATE_LIMIT_PER_SECOND}), with bursts of twice that. The count is shared by every "
        "instance of the service, and taken once the token is known to be valid.",
        f"- `webhook.test` runs at most `TEST_SENDS_PER_MINUTE` times a minute for each webhook (default "
        f"{DEFAULT_TEST_SENDS_PER_MINUTE}), whatever the token.",
        "- API Gateway also throttles the whole stage (the stack's `ApiRateLimit` and `ApiBurstLimit` "
        "parameters, 100 a second and bursts of 200 unless set).",
        "",
        "Past a limit the answer is `429 rate_limited`; the service's own limits send a `Retry-After` header "
        "with the seconds to wait.",
        "",
    ]


def limits():
    return [
        "## Limits",
        "",
        "| what | limit |",
        "| --- | --- |",
        f"| a request body | {MAX_BODY_BYTES // 1024 // 1024} MiB (`413`) |",
        f"| parameters in a request | {MAX_FIELDS} |",
        f"| an ID | {MAX_ID_LENGTH} characters |",
        f"| a webhook `url` | {MAX_URL_LENGTH:,} characters |",
        f"| JSON nesting | {MAX_DEPTH} levels |",
        f"| the body a dispatch delivers | {MAX_DELIVERED_BODY // 1024} KiB (`413` on `data`) |",
        f"| webhooks of one event, or of one company | {MAX_WEBHOOKS} (`400 too_many_webhooks`) |",
        f"| events and companies of one token | {MAX_GRANTED} (`400`) |",
        "| messages in a page of `webhook.deliveries` | 200 (default 50) |",
        f"| messages that one `webhook.redeliver` with `since` sends | {MAX_REPLAYED:,} |",
        f"| attempts kept per message | the latest {MAX_KEPT_ATTEMPTS}, and the total count |",
        f"| an endpoint's answer kept | {MAX_RESPONSE_BYTES // 1024} KiB of UTF-8 |",
        f"| `Idempotency-Key` | {MAX_KEY_LENGTH} printable ASCII characters, remembered {KEEP_SECONDS // 3600} hours |",
        f"| a `Retry-After` honoured | {MAX_RETRY_AFTER_SECONDS // 3600} hour |",
        "",
    ]


def render():
    lines = intro() + calling() + methods() + webhook_object() + delivery() + catalog() + platform_events()
    lines += tokens() + settings() + rate_limits() + limits()
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    write_or_check(DOCUMENT, render(), "python -m dev.api_docs", argv)

if __name__ == "__main__":
    main()

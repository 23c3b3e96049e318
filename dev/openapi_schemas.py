"""The schemas of the API's answers and of the delivered bodies, for ``dev/openapi.py``."""

from chalicelib.catalog import LEVELS, SUBJECT_FIELD, TYPE_NAMES
from chalicelib.delivery.log import STATUSES
from chalicelib.delivery.signing import SIGNATURES

_STRING = {"type": "string"}
_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
_NULLABLE_DIGITS = {"type": ["string", "null"], "pattern": "^[0-9]+$"}
_COUNT = {"type": "integer", "minimum": 0}


def _object(required, properties, closed=True, **extra):
    schema = {"type": "object"}
    if closed:
        schema["additionalProperties"] = False
    schema["required"] = list(required)
    schema["properties"] = properties
    schema.update(extra)
    return schema


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


ERROR = _object(["error"], {"error": _object(["code", "message", "field"], {
    "code": {"type": "string", "description": "A stable machine code, such as missing_parameter or unsafe_url."},
    "message": {"type": "string", "minLength": 1},
    "field": {"type": ["string", "null"], "description": "The parameter at fault, if one is."},
})})

_WEBHOOK_FIELDS = {
    "webhookID": {"type": "string", "pattern": "^wh_"},
    "eventID": {**_STRING, "description": "An event-level webhook's event."},
    "companyID": {**_STRING, "description": "A company-level webhook's company."},
    "type": {"type": ["string", "null"], "enum": [*TYPE_NAMES, None],
             "description": "The webhook's type when it takes exactly one, else null (see types)."},
    "types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": [*TYPE_NAMES, "*"]},
              "description": "The types it takes, in catalog order; [\"*\"]: every type of its level, those the "
                             "catalog gains later too."},
    "url": {"type": ["string", "null"], "description": "The endpoint; null for a pull webhook."},
    "delivery": {"type": "string", "enum": ["push", "pull"],
                 "description": "push: each message is POSTed to url; pull: read with webhook.poll."},
    "date": {**_DIGITS, "description": "Creation time, Unix seconds."},
    "status": {"type": "string", "enum": ["enabled", "disabled"]},
}
# What a receiver asks of its deliveries (contract, section 14), as given and as shown.
HEADERS = {"type": "object", "maxProperties": 10,
           "propertyNames": {"pattern": "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]{1,64}$"},
           "additionalProperties": {"type": "string", "maxLength": 1024, "pattern": "^[\\x20-\\x7e]*$"},
           "description": "Header names to values; the names the service sets (content-type, content-length, host, "
                          "user-agent, connection, transfer-encoding, te, upgrade, expect, webhook-*) are refused. "
                          "{} removes them."}
FILTER = {"type": "object", "propertyNames": {"enum": ["eventID", "activityID", "personID", "speakerID"]},
          "additionalProperties": {"type": "array", "minItems": 1, "maxItems": 100,
                                   "items": {"type": "string", "minLength": 1, "maxLength": 128,
                                             "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"}},
          "description": "ID fields of the webhook's type to the IDs that get through: at most 100 IDs and "
                         "1,024 bytes of IDs (UTF-8) in all. {} removes it."}
# A webhook's template (contract, section 21), as given and as requestExample shows it.
TEMPLATE = {"oneOf": [
    _object([], {}, maxProperties=0, description="No template: {} removes one."),
    _object(["body"], {"body": {"type": "string", "description": "A Mustache template, at most 4 KiB of UTF-8."},
                       "contentType": {"enum": ["application/json", "text/plain"],
                                       "description": "The body's content type; application/json when left out."}}),
    _object(["preset"], {"preset": {"enum": ["slack", "teams"]}}),
], "description": "The body to send instead of the usual one, rendered over it; or a preset for a chat channel."}
_WEBHOOK_FIELDS.update({
    "headers": {"type": "array", "maxItems": 10, "items": _STRING,
                "description": "The names of the webhook's own headers, in the order given; their values are never shown."},
    "rateLimit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000,
                  "description": "At most this many attempts a second to the endpoint; null: no limit."},
    "filter": {"oneOf": [{"type": "null"}, FILTER],
               "description": "Only platform events with these IDs reach the webhook; null: every one does."},
})
# Signatures without a shared secret (contract, section 19).
_PUBLIC_KEY = {"type": "string", "pattern": "^whpk_[A-Za-z0-9+/]{43}=$",
               "description": "whpk_ and the base64 of the 32-byte Ed25519 public key that verifies v1a signatures."}
_WEBHOOK_FIELDS.update({
    "signature": {"type": "string", "enum": list(SIGNATURES),
                  "description": "hmac: v1 signatures, made with the secret; ed25519: v1a, verified with publicKey."},
    "publicKey": {"oneOf": [{"type": "null"}, _PUBLIC_KEY],
                  "description": "An ed25519 webhook's public key (null for hmac webhooks)."},
    "previousPublicKey": {"oneOf": [{"type": "null"}, _PUBLIC_KEY],
                          "description": "For 24 hours after webhook.rotateSecret, the rotated-out public key, whose "
                                         "signature every delivery still carries after the new one's; else null."},
})
# Endpoints that ask for credentials (contract, section 20): as given, and as shown (never the client secret).
AUTH = {"oneOf": [
    {"type": "object", "maxProperties": 0, "description": "{} removes it."},
    _object(["type", "tokenUrl", "clientID", "clientSecret"], {
        "type": {"const": "oauth2"},
        "tokenUrl": {"type": "string", "minLength": 1, "maxLength": 2048,
                     "description": "The token endpoint, which meets the same destination checks as url."},
        "clientID": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[\\x20-\\x7e]*$"},
        "clientSecret": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[\\x20-\\x7e]*$"},
        "scope": {"type": "string", "maxLength": 1024, "description": "Scopes separated by spaces (optional)."}})]}
_WEBHOOK_FIELDS["auth"] = {
    "oneOf": [{"type": "null"}, _object(["type", "tokenUrl", "clientID", "scope"], {
        "type": {"const": "oauth2"}, "tokenUrl": _STRING, "clientID": _STRING, "scope": {"type": ["string", "null"]}})],
    "description": "The OAuth 2.0 client-credentials grant whose access token every delivery carries as "
                   "Authorization: Bearer, or null."}
# A description (contract, section 22): printable text, no controls, line separators, bidirectional
# controls or zero-width characters (chalicelib.validation.check_description also refuses
# unassigned and private-use code points, which a pattern cannot name).
DESCRIPTION_TEXT = {"type": "string", "maxLength": 200,
                    "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029\\u200B\\u200E\\u200F"
                               "\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u2069\\uFEFF]*$"}
_WEBHOOK_FIELDS["description"] = {**DESCRIPTION_TEXT, "description": "The owner's own words for the webhook; \"\" "
                                  "when none."}
_ONE_OWNER = {"oneOf": [{"required": ["eventID"]}, {"required": ["companyID"]}]}
_WEBHOOK_REQUIRED = ["webhookID", "type", "types", "url", "delivery", "date", "status", "headers", "rateLimit", "filter",
                     "signature", "publicKey", "previousPublicKey", "auth", "description"]

_ATTEMPT = _object(["attempt", "date", "statusCode", "durationMs", "error", "response"], {
    "attempt": {"type": "integer", "minimum": 1},
    "date": _DIGITS,
    "statusCode": {"type": ["integer", "null"]},
    "durationMs": _COUNT,
    "error": {"type": ["string", "null"]},
    "response": {"type": "string", "description": "At most the first 2 KiB (UTF-8) of the answer."},
})
_MESSAGE_FIELDS = {
    "messageID": _STRING,
    "webhookID": _STRING,
    "type": _STRING,
    "status": {"type": "string", "enum": list(STATUSES)},
    "date": _DIGITS,
    "attempts": {"type": "array", "maxItems": 50, "items": _ref("Attempt"),
                 "description": "The latest 50 attempts; the last one's number is how many were made."},
    "nextAttemptDate": _NULLABLE_DIGITS,
}
_SIGNED_HEADERS = _object(["content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"],
                          {}, closed=False, additionalProperties={"type": "string"})

ANSWERS = {
    "Webhook": _object(_WEBHOOK_REQUIRED, _WEBHOOK_FIELDS, **_ONE_OWNER),
    "WebhookCreated": _object(_WEBHOOK_REQUIRED, {
        **_WEBHOOK_FIELDS, "secret": {"type": "string", "pattern": "^whsec_",
                                      "description": "An hmac webhook's signing secret, shown this once (an ed25519 "
                                                     "webhook has none: its publicKey verifies)."}},
        allOf=[_ONE_OWNER, {"oneOf": [
            {"required": ["secret"], "properties": {"signature": {"const": "hmac"}}},
            {"not": {"required": ["secret"]}, "properties": {"signature": {"const": "ed25519"}}}]}]),
    "WebhookList": _object(["count", "data"], {"count": _COUNT, "data": {"type": "array", "items": _ref("Webhook")}}),
    "RequestExample": _object(["method", "url", "headers", "body", "payload"], {
        "method": {"const": "POST"}, "url": {"type": ["string", "null"], "description": "null for a pull webhook."},
        "headers": _SIGNED_HEADERS,
        "body": {"type": "string", "description": "The exact text that is sent: JSON, or what the template made."},
        "payload": {"type": ["object", "array", "string", "number", "boolean", "null"],
                    "description": "The same body, parsed (null for a text/plain template's)."},
        "template": {"oneOf": [{"type": "null"}, TEMPLATE],
                     "description": "The template that shaped the body (the webhook's own, or the one tried)."},
        "publicKey": {**_PUBLIC_KEY, "description": "An ed25519 webhook's public key, which verifies the example's "
                                                    "v1a signature (hmac webhooks: absent)."}}),
    "ResponseExample": _object(["status", "headers", "body", "rules"], {
        "status": {"const": 200}, "headers": {"type": "object"}, "body": {"type": "object"},
        "rules": _object(["success", "timeoutSeconds", "gone", "retrySchedule"], {
            "success": _STRING, "timeoutSeconds": {"type": "number"}, "gone": _STRING,
            "retrySchedule": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}})}),
    "TypeList": _object(["count", "data"], {"count": _COUNT, "data": {"type": "array", "items": _object(
        ["type", "description", "levels", "subject", "fields", "example"], {
            "type": {"type": "string", "enum": list(TYPE_NAMES)}, "description": _STRING,
            "levels": {"type": "array", "items": {"type": "string", "enum": list(LEVELS)}},
            "subject": {"type": "string", "enum": list(SUBJECT_FIELD)},
            "fields": {"type": "array", "items": _STRING},
            "example": {"type": "object", "description": "A delivered body of this type."}})}}),
    "Dispatched": _object(["messageID", "webhooks"], {"messageID": {"type": "string", "pattern": "^msg_"},
                                                       "webhooks": _COUNT}),
    "Attempt": _ATTEMPT,
    "Message": _object(list(_MESSAGE_FIELDS), _MESSAGE_FIELDS),
    "MessageView": _object(list(_MESSAGE_FIELDS) + ["request"], {**_MESSAGE_FIELDS, "request": {"oneOf": [
        {"type": "null"},
        _object(["headers", "body"], {"headers": _SIGNED_HEADERS, "body": {
            "type": "string", "description": "The exact body the latest attempt sent."}})]}}),
    "DeliveryPage": _object(["count", "data", "cursor"], {
        "count": _COUNT, "data": {"type": "array", "items": _ref("Message")}, "cursor": {"type": ["string", "null"]}}),
    "Stats": _object(["webhookID", "window", "delivered", "failed", "pending", "skipped", "successRate",
                      "p50DurationMs", "p95DurationMs", "lastSuccessDate", "failingSince", "status", "disabledReason",
                      "heldToShare"], {
        "webhookID": _STRING,
        "window": {**_COUNT, "maximum": 100, "description": "How many of the latest messages were looked at."},
        "delivered": _COUNT, "failed": _COUNT, "pending": _COUNT, "skipped": _COUNT,
        "successRate": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                        "description": "delivered / (delivered + failed); null with no finished message."},
        "p50DurationMs": {"type": ["integer", "null"]}, "p95DurationMs": {"type": ["integer", "null"]},
        "lastSuccessDate": _NULLABLE_DIGITS, "failingSince": _NULLABLE_DIGITS,
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabledReason": {"type": ["string", "null"], "description": "Why the service disabled it, if it did."},
        "heldToShare": {"oneOf": [{"type": "null"}, _object(["since", "reason"], {
            "since": {**_NULLABLE_DIGITS, "type": "string"},
            "reason": {"type": "string", "description": "slow: or failing:, with what its attempts showed."}})],
            "description": "Since when (Unix seconds) and why the webhook is held to its share of the delivery "
                           "capacity (section 16), or null."}}),
    "Queued": _object(["queued"], {"queued": _COUNT}),
    "TestResult": _object(["messageID", "statusCode", "durationMs", "error", "response"], {
        "messageID": {"type": "string", "pattern": "^msg_", "description": "The test's record in the delivery log."},
        "statusCode": {"type": ["integer", "null"]}, "durationMs": _COUNT, "error": {"type": ["string", "null"]},
        "response": _STRING}),
    "Trace": _object(["messageID", "type", "date", "data"], {
        "messageID": _STRING, "type": {"type": "string", "enum": list(TYPE_NAMES)}, "date": _DIGITS,
        "data": {"type": "array", "description": "Every webhook of the level that the message was queued for (or kept "
                 "as skipped for, when disabled), in creation order, as the token may see them.",
                 "items": _object(["webhookID", "url", "delivery", "status", "attempts", "lastStatusCode"], {
                     "webhookID": _STRING, "url": {"type": ["string", "null"]},
                     "delivery": {"type": "string", "enum": ["push", "pull"]},
                     "status": {"type": "string", "enum": list(STATUSES),
                                "description": "pending also when no attempt was made yet."},
                     "attempts": {**_COUNT, "description": "How many attempts were made."},
                     "lastStatusCode": {"type": ["integer", "null"],
                                        "description": "The latest attempt's HTTP status; null with no answer."}})}}),
    "RotatedSecret": _object(["webhookID"], {
        "webhookID": _STRING, "secret": {"type": "string", "pattern": "^whsec_", "description": "An hmac webhook's."},
        "publicKey": {**_PUBLIC_KEY, "description": "An ed25519 webhook's new public key."}},
        oneOf=[{"required": ["secret"]}, {"required": ["publicKey"]}]),
    "TokenCreated": _object(["tokenID", "events", "companies"], {
        "tokenID": _STRING, "events": {"type": "array", "items": _STRING},
        "companies": {"type": "array", "items": _STRING},
        "webhooks": {"type": "array", "items": _STRING,
                     "description": "A device's token: the pull webhooks it may poll (it may do nothing else)."}}),
    "PollPage": _object(["data", "cursor", "more"], {
        "data": {"type": "array", "items": _object(["messageID", "headers", "body"], {
            "messageID": {"type": "string", "pattern": "^msg_", "description": "Its webhook-id."},
            "headers": _SIGNED_HEADERS,
            "body": {"type": "string", "description": "The exact JSON text a push delivery of it would send."}}),
            "description": "The messages after the cursor, in dispatch order, each signed now."},
        "cursor": {"type": "string", "description": "Give it to the next poll: the messages after these."},
        "more": {"type": "boolean", "description": "A poll with this cursor would return messages at once."}}),
    "Revoked": _object(["revoked"], {"revoked": {"const": True}}),
    "ErasureStarted": _object(["erasureID"], {"erasureID": {"type": "string", "pattern": "^era_",
                                                            "description": "Ask webhook.erasure how far it got."}}),
    "Erasure": _object(["erasureID", "status", "erased"], {
        "erasureID": {"type": "string", "pattern": "^era_"},
        "status": {"type": "string", "enum": ["running", "done"],
                   "description": "done: nothing about the person is left in the logs, nor will be sent."},
        "erased": {**_COUNT, "description": "Messages about the person deleted so far."}}),
}

WEBHOOK_HEADERS = [
    {"name": name, "in": "header", "required": True, "description": description, "schema": schema}
    for name, description, schema in (
        ("webhook-id", "The message; the same on every retry and replay of it.", {"type": "string", "pattern": "^msg_"}),
        ("webhook-timestamp", "When this attempt was signed, Unix seconds.", {"type": "string", "pattern": "^[0-9]+$"}),
        ("webhook-signature", "v1,<base64 HMAC-SHA256>, space-separated when two secrets sign (after a rotation).",
         {"type": "string", "pattern": "^v1,"}),
        ("user-agent", "Names the service.", {"type": "string"}),
    )
]


def delivered_body(webhook_type):
    """The JSON schema of the body a webhook of ``webhook_type`` receives (contract, sections 4 and 11)."""
    if not webhook_type.dispatchable:
        data = notice_data(webhook_type)
    else:
        ids = {name: {"type": "string"} for name in webhook_type.fields}
        data = _object(list(webhook_type.fields) + ["date"], {
            **ids, "companyID": {"type": "string", "description": "When the platform named the company."},
            "date": {"type": "string", "pattern": "^[0-9]+$", "description": "When it happened, Unix seconds."},
        }, closed=False, description="The type's IDs, companyID, date, and any further fields the platform sent.")
    return _object(["type", "timestamp", "webhookID", "sequence", "data"], {
        "type": {"const": webhook_type.name},
        "timestamp": {"type": "string", "format": "date-time"},
        "webhookID": {"type": "string", "pattern": "^wh_"},
        "sequence": {"type": "integer", "minimum": 0,
                     "description": f"This webhook's count of messages about this {webhook_type.subject}: 1, 2, 3...; "
                                    "0 in a test send (webhook.test), which takes no number."},
        "data": data,
    })


_NOTICE_FIELDS = {
    "eventID": ({"type": "string"}, "The event whose webhook it is (an event-level webhook)."),
    "companyID": ({"type": "string"}, "The company whose webhook it is (a company-level webhook)."),
    "webhookID": ({"type": "string", "pattern": "^wh_"}, "The webhook concerned (never the one receiving this)."),
    "url": ({"type": "string"}, "Its URL."),
    "types": ({"type": "array", "items": {"type": "string", "enum": [*TYPE_NAMES, "*"]}},
              "The concerned webhook's types (or [\"*\"], every type of its level)."),
    "reason": ({"type": "string"}, "Why the service disabled it."),
    "failingSince": ({"type": ["string", "null"]}, "When its run of failures began, Unix seconds (null after a 410)."),
    "messageID": ({"type": "string", "pattern": "^msg_"}, "The message given up."),
    "attempts": ({"type": "integer", "minimum": 1}, "How many attempts were made."),
    "lastStatusCode": ({"type": "string"}, "The last attempt's HTTP status, absent when no answer came."),
    "lastError": ({"type": ["string", "null"]}, "What went wrong with the last attempt."),
    "alsoFailed": ({"type": "integer", "minimum": 0},
                   "Messages to that webhook given up since the previous messageFailed and not reported one by one."),
}


def notice_data(webhook_type):
    """The ``data`` of the service's own notices (contract, section 15)."""
    properties = {name: {**schema, "description": text} for name, (schema, text) in _NOTICE_FIELDS.items()
                  if name in webhook_type.fields or name in ("eventID", "companyID", "lastStatusCode")
                  and (name != "lastStatusCode" or "attempts" in webhook_type.fields)}
    if "messageID" in webhook_type.fields:
        properties["type"] = {"type": "string", "enum": list(TYPE_NAMES), "description": "The message's type"}
    else:
        properties["type"] = {"type": ["string", "null"], "enum": [*TYPE_NAMES, None],
                              "description": "The concerned webhook's type, null when it takes several (see types)"}
    return {**_object(list(webhook_type.fields), properties, closed=True,
                      description="The webhook concerned, and its owner: eventID or companyID."),
            "oneOf": [{"required": ["eventID"]}, {"required": ["companyID"]}]}

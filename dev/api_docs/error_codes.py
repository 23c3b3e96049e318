"""Every error code the service answers, in the table of docs/api.md under "Answers and errors"."""

from chalicelib import errors
from chalicelib.api.edge import MAX_BODY_BYTES
from chalicelib.api.idempotency import KEEP_SECONDS, MAX_KEY_LENGTH
from chalicelib.delivery.destinations import MAX_URL_LENGTH, InvalidURL, UnsafeDestination
from chalicelib.occurrences import MAX_DELIVERED_BODY
from dev.api_docs.values import MAX_WEBHOOKS

# (code, the error class it is raised as, when). The codes that are not the service's own (API
# Gateway's) are rows of the template.
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
     f"The `Idempotency-Key` was used with other parameters in the last {KEEP_SECONDS // 3600} hours."),
    ("idempotency_key_in_progress", errors.Unavailable,
     "A dispatch with the same `Idempotency-Key` is still running: try again after `Retry-After` seconds, "
     "with the same key; the answer is then the first call's."),
    ("payload_too_large", errors.PayloadTooLarge,
     f"The request body is over {MAX_BODY_BYTES // 1024 // 1024} MiB; or (`field: \"data\"`) the body that "
     f"`webhook.dispatch` would deliver is over {MAX_DELIVERED_BODY // 1024} KiB."),
    ("unsupported_media_type", errors.InvalidParameter,
     "The body is neither JSON nor `application/x-www-form-urlencoded`."),
    ("rate_limited", errors.RateLimited,
     "Too many requests: wait the seconds that the `Retry-After` header gives."),
    ("unavailable", errors.Unavailable,
     "AWS throttled the service or could not be reached: try again after `Retry-After` seconds (a "
     "`webhook.dispatch` with the same `Idempotency-Key`, so that it is queued once whatever the first "
     "call did)."),
    ("internal_error", errors.InternalError, "A bug in the service. No input, however malformed, should cause one."),
)


def values():
    """The rows of the error table."""
    return {"errors": "\n".join(f"| `{code}` | `{cls.status}` | {when} |" for code, cls, when in ERROR_CODES)}

"""What docs/api.md names from the service's code: limits, defaults and names, each the value of a
placeholder of the same meaning; the retry schedule; and every error code the service answers."""

from chalicelib import errors
from chalicelib.api.delivery_methods import STATS_WINDOW, TEST_TYPE
from chalicelib.api.edge import MAX_BODY_BYTES, MAX_FIELDS
from chalicelib.api.idempotency import KEEP_SECONDS, MAX_KEY_LENGTH
from chalicelib.api.webhook_methods import ROTATION_OVERLAP_SECONDS
from chalicelib.catalog import COMPANY_REQUIRED
from chalicelib.delivery.destinations import MAX_URL_LENGTH, InvalidURL, UnsafeDestination
from chalicelib.delivery.log import MAX_KEPT_ATTEMPTS, STATUSES
from chalicelib.delivery.sender import MAX_RESPONSE_BYTES, USER_AGENT
from chalicelib.delivery.worker import MAX_RETRY_AFTER_SECONDS
from chalicelib.dispatch.fanout import PLATFORM_SOURCE
from chalicelib.dispatch.replays import MAX_REPLAYED
from chalicelib.occurrences import MAX_DELIVERED_BODY
from chalicelib.pull.poll import MAX_WAIT_SECONDS
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
from chalicelib.store.tokens import MAX_GRANTED
from chalicelib.strict_json import MAX_DEPTH
from chalicelib.templates.webhook_template import MAX_STEPS as MAX_TEMPLATE_STEPS
from chalicelib.validation import MAX_DESCRIPTION_LENGTH, MAX_ID_LENGTH
from dev.run import LOCAL_SETTINGS, LOOPBACK_NETWORKS

MAX_WEBHOOKS = Settings.from_env({}).max_webhooks_per_owner


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


def _long_duration(ms):
    seconds = ms // 1000
    parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    text = " ".join(f"{value}{unit}" for value, unit in parts if value)
    return text or "0s"


def _schedule():
    """Each attempt's wait and the time since the message was queued, as the schedule's table shows them."""
    rows, total = [], 0
    for delay in parse_retry_schedule(DEFAULT_RETRY_SCHEDULE):
        total += delay
        rows.append((format_duration(delay), _long_duration(total)))
    return rows


def values():
    """The figures, by placeholder name, and the error codes (``errors``)."""
    return {
        # limits
        "max_body_mib": MAX_BODY_BYTES // 1024 // 1024,
        "max_fields": MAX_FIELDS,
        "max_depth": MAX_DEPTH,
        "max_id_length": MAX_ID_LENGTH,
        "max_description": MAX_DESCRIPTION_LENGTH,
        "max_url_length": f"{MAX_URL_LENGTH:,}",
        "max_webhooks": MAX_WEBHOOKS,
        "max_granted": MAX_GRANTED,
        "max_delivered_body_kib": MAX_DELIVERED_BODY // 1024,
        "max_key_length": MAX_KEY_LENGTH,
        "idempotency_hours": KEEP_SECONDS // 3600,
        "max_replayed": f"{MAX_REPLAYED:,}",
        "max_kept_attempts": MAX_KEPT_ATTEMPTS,
        "max_response_kib": MAX_RESPONSE_BYTES // 1024,
        "max_retry_after_hours": MAX_RETRY_AFTER_SECONDS // 3600,
        "rotation_overlap_hours": ROTATION_OVERLAP_SECONDS // 3600,
        "stats_window": STATS_WINDOW,
        "max_wait_seconds": MAX_WAIT_SECONDS,
        "template_steps": f"{MAX_TEMPLATE_STEPS:,}",
        # names
        "test_type": TEST_TYPE,
        "user_agent": USER_AGENT,
        "platform_source": PLATFORM_SOURCE,
        "company_required": ", ".join(f"`{name}`" for name in sorted(COMPANY_REQUIRED)),
        "delivery_statuses": ", ".join(f"`{status}`" for status in STATUSES),
        # settings and their defaults
        "default_retry_schedule": DEFAULT_RETRY_SCHEDULE,
        "retry_attempts": len(parse_retry_schedule(DEFAULT_RETRY_SCHEDULE)),
        "retry_schedule": _schedule(),
        "default_delivery_timeout_seconds": DEFAULT_DELIVERY_TIMEOUT_SECONDS,
        "default_auto_disable_after": DEFAULT_AUTO_DISABLE_AFTER,
        "default_retention_days": DEFAULT_RETENTION_DAYS,
        "default_rate_limit_per_second": DEFAULT_RATE_LIMIT_PER_SECOND,
        "default_test_sends_per_minute": DEFAULT_TEST_SENDS_PER_MINUTE,
        "default_table_name": DEFAULT_TABLE_NAME,
        # the local run's
        "loopback_networks": LOOPBACK_NETWORKS,
        "errors": ERROR_CODES,
        "ranges": {name: f"{low} to {high}" for name, low, high in LOCAL_SETTINGS},
    }

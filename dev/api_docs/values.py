"""The figures docs/api.md gives: limits, defaults and names that the service's code defines, each
the value of a placeholder of the same meaning, and the retry schedule's table."""

from chalicelib.api.delivery_methods import STATS_WINDOW, TEST_TYPE
from chalicelib.api.edge import MAX_BODY_BYTES, MAX_FIELDS
from chalicelib.api.idempotency import KEEP_SECONDS, MAX_KEY_LENGTH
from chalicelib.api.webhook_methods import ROTATION_OVERLAP_SECONDS
from chalicelib.catalog import COMPANY_REQUIRED
from chalicelib.delivery.destinations import MAX_URL_LENGTH
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


def _long_duration(ms):
    seconds = ms // 1000
    parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    text = " ".join(f"{value}{unit}" for value, unit in parts if value)
    return text or "0s"


def _schedule_rows():
    rows, total = [], 0
    for number, delay in enumerate(parse_retry_schedule(DEFAULT_RETRY_SCHEDULE), 1):
        total += delay
        rows.append(f"| {number} | {format_duration(delay)} | {_long_duration(total)} |")
    return "\n".join(rows)


def values():
    """The figures, by placeholder name."""
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
        # A Mustache tag written in the prose: {{open}}type{{close}} is {{type}}.
        "open": "{{",
        "close": "}}",
        # names
        "test_type": TEST_TYPE,
        "user_agent": USER_AGENT,
        "platform_source": PLATFORM_SOURCE,
        "company_required": ", ".join(f"`{name}`" for name in sorted(COMPANY_REQUIRED)),
        "delivery_statuses": ", ".join(f"`{status}`" for status in STATUSES),
        # settings and their defaults
        "default_retry_schedule": DEFAULT_RETRY_SCHEDULE,
        "retry_attempts": len(parse_retry_schedule(DEFAULT_RETRY_SCHEDULE)),
        "retry_schedule": _schedule_rows(),
        "default_delivery_timeout_seconds": DEFAULT_DELIVERY_TIMEOUT_SECONDS,
        "default_auto_disable_after": DEFAULT_AUTO_DISABLE_AFTER,
        "default_retention_days": DEFAULT_RETENTION_DAYS,
        "default_rate_limit_per_second": DEFAULT_RATE_LIMIT_PER_SECOND,
        "default_test_sends_per_minute": DEFAULT_TEST_SENDS_PER_MINUTE,
        "default_table_name": DEFAULT_TABLE_NAME,
        # the local run's
        "loopback_networks": LOOPBACK_NETWORKS,
        **{f"range:{name}": f"{low} to {high}" for name, low, high in LOCAL_SETTINGS},
    }

"""Settings read from the environment when the service starts (contract, section 7)."""

import hmac
import ipaddress
import math
import os
import re
from dataclasses import dataclass

from chalicelib.errors import SettingsError

DEFAULT_RETRY_SCHEDULE = "0s,5s,5m,30m,2h,5h,10h,10h"
DEFAULT_DELIVERY_TIMEOUT_SECONDS = "10"
DEFAULT_TABLE_NAME = "inevent-webhooks"
DEFAULT_AUTO_DISABLE_AFTER = "24h"
DEFAULT_RETENTION_DAYS = "30"
DEFAULT_RATE_LIMIT_PER_SECOND = "50"
DEFAULT_TEST_SENDS_PER_MINUTE = "10"
DEFAULT_HELD_WEBHOOK_BATCHES = "2"  # an organizer's share for its slow webhooks: batches at once (docs/deploy.md)
MAX_WEBHOOKS_PER_OWNER = 200  # webhooks an event, or a company, may have (contract, section 10)

# The prod stage's delivery queue (.chalice/resources.json names it after the stack).
DEFAULT_DELIVERY_QUEUE_NAME = "inevent-webhooks-deliveries.fifo"
DEFAULT_ERASURE_QUEUE_NAME = "inevent-webhooks-erasures"  # the prod stage's, as .chalice/resources.json names it

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
# SQS keeps a message at most 14 days; a schedule must fit well inside that.
_MAX_TOTAL_RETRY_MS = 7 * 24 * 3_600_000


def delivery_queue_name(environ=None):
    """The name of the queue the delivery function's SQS event source reads.

    Chalice reads it from ``app.py``'s decorator when it imports the app to package or deploy a
    stage, and it imports the app with that stage's ``environment_variables`` of
    ``.chalice/config.json`` already set: so each stage names its own queue there
    (``DELIVERY_QUEUE_NAME``). Unset (tests, the local run), it is the prod stage's.
    """
    env = os.environ if environ is None else environ
    return env.get("DELIVERY_QUEUE_NAME") or DEFAULT_DELIVERY_QUEUE_NAME


def erasure_queue_name(environ=None):
    """The name of the queue the erasure function's SQS event source reads: each stage names its
    own (``ERASURE_QUEUE_NAME``), read as :func:`delivery_queue_name` is; unset, the prod stage's."""
    env = os.environ if environ is None else environ
    return env.get("ERASURE_QUEUE_NAME") or DEFAULT_ERASURE_QUEUE_NAME


def parse_duration(text):
    """Parse one duration such as ``"5m"`` or ``"250ms"`` into whole milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise SettingsError(
            f"{text!r} is not a duration: use a number with a unit ms, s, m or h, such as 5s"
        )
    return int(round(float(match.group(1)) * _UNITS_MS[match.group(2)]))


def format_duration(ms):
    """Render milliseconds in the largest unit that divides them exactly (``300000`` -> ``"5m"``)."""
    for unit in ("h", "m", "s"):
        if ms and ms % _UNITS_MS[unit] == 0:
            return f"{ms // _UNITS_MS[unit]}{unit}"
    return "0s" if ms == 0 else f"{ms}ms"


def parse_retry_schedule(text):
    """Parse ``RETRY_SCHEDULE``: the delays before each attempt, one entry per attempt."""
    entries = [part for part in text.split(",")]
    if not text.strip() or any(not part.strip() for part in entries):
        raise SettingsError("RETRY_SCHEDULE must list at least one delay, such as 0s,5s,5m")
    schedule = tuple(parse_duration(part) for part in entries)
    if sum(schedule) > _MAX_TOTAL_RETRY_MS:
        raise SettingsError("RETRY_SCHEDULE adds up to more than 7 days, longer than a queue keeps a message")
    return schedule


def parse_networks(text):
    """Parse ``WEBHOOK_ALLOW_NETWORKS``: comma-separated CIDR networks, empty for none."""
    networks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise SettingsError(f"WEBHOOK_ALLOW_NETWORKS: {part!r} is not a network in CIDR form") from exc
    return tuple(networks)


def _whole_number(env, name, default, lowest, highest):
    text = env.get(name, default)
    if not (text.isascii() and text.isdigit() and lowest <= int(text) <= highest):
        raise SettingsError(f"{name} must be a whole number from {lowest} to {highest}")
    return int(text)


def parse_ports(text):
    """Parse ``WEBHOOK_DENY_PORTS``: comma-separated TCP ports, empty for none."""
    ports = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not (part.isascii() and part.isdigit() and 1 <= int(part) <= 65535):
            raise SettingsError(f"WEBHOOK_DENY_PORTS: {part!r} is not a port from 1 to 65535")
        ports.append(int(part))
    return tuple(ports)


@dataclass(frozen=True)
class Settings:
    """What the service is configured to do; built once per process by :meth:`from_env` (with
    an empty environment, the defaults)."""

    table_name: str
    queue_url: str
    retry_schedule_ms: tuple
    delivery_timeout_seconds: float
    allow_networks: tuple
    deny_ports: tuple
    delivery_retention_days: int
    auto_disable_after_ms: int
    rate_limit_per_second: int
    test_sends_per_minute: int
    held_webhook_batches: int = int(DEFAULT_HELD_WEBHOOK_BATCHES)
    max_webhooks_per_owner: int = MAX_WEBHOOKS_PER_OWNER
    event_bus_name: str = "default"  # where the service's notices go (source inevent.webhooks)
    erasure_queue_url: str = ""
    # How long an erasure waits, after marking its webhooks, before it reads their logs: longer
    # than a delivery invocation or an API call can run, so none that began before the marks
    # can write a record about the person after the erasure has read past it.
    erasure_settle_seconds: int = 35
    allowed_destinations_only: bool = False  # WEBHOOK_DESTINATIONS=allowed-only
    local_admin_token: str = ""  # INEVENT_DEV_TOKEN: the local run's chosen admin token, whatever its form
    # TEST_SEND_FUNCTION: the function that makes webhook.test's POST from the fixed egress
    # addresses (chalicelib/delivery/test_sends.py); empty: the API makes it.
    test_send_function: str = ""

    @classmethod
    def from_env(cls, environ=None):
        env = os.environ if environ is None else environ
        timeout_text = env.get("DELIVERY_TIMEOUT_SECONDS", DEFAULT_DELIVERY_TIMEOUT_SECONDS)
        try:
            timeout = float(timeout_text)
        except ValueError as exc:
            raise SettingsError("DELIVERY_TIMEOUT_SECONDS must be a number of seconds") from exc
        if not (0 < timeout <= 60) or math.isnan(timeout):
            raise SettingsError("DELIVERY_TIMEOUT_SECONDS must be more than 0 and at most 60")
        retention = _whole_number(env, "DELIVERY_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1, 3650)
        rate = _whole_number(env, "RATE_LIMIT_PER_SECOND", DEFAULT_RATE_LIMIT_PER_SECOND, 1, 100_000)
        test_sends = _whole_number(env, "TEST_SENDS_PER_MINUTE", DEFAULT_TEST_SENDS_PER_MINUTE, 1, 10_000)
        held_batches = _whole_number(env, "HELD_WEBHOOK_BATCHES", DEFAULT_HELD_WEBHOOK_BATCHES, 1, 1000)
        auto_disable = parse_duration(env.get("AUTO_DISABLE_AFTER", DEFAULT_AUTO_DISABLE_AFTER))
        if auto_disable <= 0:
            raise SettingsError("AUTO_DISABLE_AFTER must be more than 0")
        destinations = env.get("WEBHOOK_DESTINATIONS", "public")
        if destinations not in ("public", "allowed-only"):
            raise SettingsError("WEBHOOK_DESTINATIONS must be public or allowed-only")
        return cls(
            table_name=env.get("WEBHOOKS_TABLE", DEFAULT_TABLE_NAME),
            queue_url=env.get("DELIVERY_QUEUE_URL", ""),
            retry_schedule_ms=parse_retry_schedule(env.get("RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE)),
            delivery_timeout_seconds=timeout,
            allow_networks=parse_networks(env.get("WEBHOOK_ALLOW_NETWORKS", "")),
            deny_ports=parse_ports(env.get("WEBHOOK_DENY_PORTS", "")),
            delivery_retention_days=retention,
            auto_disable_after_ms=auto_disable,
            rate_limit_per_second=rate,
            test_sends_per_minute=test_sends,
            held_webhook_batches=held_batches,
            event_bus_name=env.get("EVENT_BUS_NAME") or "default",
            erasure_queue_url=env.get("ERASURE_QUEUE_URL", ""),
            erasure_settle_seconds=_whole_number(env, "ERASURE_SETTLE_SECONDS", "35", 0, 900),
            allowed_destinations_only=destinations == "allowed-only",
            local_admin_token=env.get("INEVENT_DEV_TOKEN", ""),
            test_send_function=env.get("TEST_SEND_FUNCTION", ""),
        )

    def is_local_admin_token(self, token):
        """True if ``token`` is the admin token the local run was told to use (``INEVENT_DEV_TOKEN``),
        which is then accepted though it is not in the form the service issues."""
        if not self.local_admin_token:
            return False
        return hmac.compare_digest(token.encode("utf-8", "surrogatepass"), self.local_admin_token.encode())

    def describe_rules(self):
        """The delivery rules as ``webhook.responseExample`` shows them."""
        timeout = self.delivery_timeout_seconds
        return {
            "success": "any 2xx status within the timeout",
            "timeoutSeconds": int(timeout) if timeout == int(timeout) else timeout,
            "gone": "410 disables the webhook",
            "retrySchedule": [format_duration(ms) for ms in self.retry_schedule_ms],
        }

"""Settings read from the environment when the service starts (contract, section 7)."""

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

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
# SQS keeps a message at most 14 days; a schedule must fit well inside that.
_MAX_TOTAL_RETRY_MS = 7 * 24 * 3_600_000


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


@dataclass(frozen=True)
class Settings:
    """What the service is configured to do; built once per process by :meth:`from_env`."""

    table_name: str = DEFAULT_TABLE_NAME
    queue_url: str = ""
    retry_schedule_ms: tuple = tuple(parse_retry_schedule(DEFAULT_RETRY_SCHEDULE))
    delivery_timeout_seconds: float = 10.0
    allow_networks: tuple = ()
    max_webhooks_per_event: int = 200
    delivery_retention_days: int = 30
    auto_disable_after_ms: int = 24 * 3_600_000

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
        retention = env.get("DELIVERY_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
        if not retention.isdigit() or not 1 <= int(retention) <= 3650:
            raise SettingsError("DELIVERY_RETENTION_DAYS must be a whole number of days from 1 to 3650")
        auto_disable = parse_duration(env.get("AUTO_DISABLE_AFTER", DEFAULT_AUTO_DISABLE_AFTER))
        if auto_disable <= 0:
            raise SettingsError("AUTO_DISABLE_AFTER must be more than 0")
        return cls(
            table_name=env.get("WEBHOOKS_TABLE", DEFAULT_TABLE_NAME),
            queue_url=env.get("DELIVERY_QUEUE_URL", ""),
            retry_schedule_ms=parse_retry_schedule(env.get("RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE)),
            delivery_timeout_seconds=timeout,
            allow_networks=parse_networks(env.get("WEBHOOK_ALLOW_NETWORKS", "")),
            delivery_retention_days=int(retention),
            auto_disable_after_ms=auto_disable,
        )

    @property
    def max_attempts(self):
        return len(self.retry_schedule_ms)

    def describe_rules(self):
        """The delivery rules as ``webhook.responseExample`` shows them."""
        timeout = self.delivery_timeout_seconds
        return {
            "success": "any 2xx status within the timeout",
            "timeoutSeconds": int(timeout) if timeout == int(timeout) else timeout,
            "gone": "410 disables the webhook",
            "retrySchedule": [format_duration(ms) for ms in self.retry_schedule_ms],
        }

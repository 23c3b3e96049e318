"""Platform events (an enrollment or a dismissal) and the body that a delivery carries."""

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from chalicelib.errors import InvalidParameter, PayloadTooLarge

EVENT_TYPES = ("activityEnrollment", "activityDismissal")
MAX_DELIVERED_BODY = 64 * 1024
MAX_ID_LENGTH = 128
_PRINTABLE_ID = re.compile(r"^[^\x00-\x1f\x7f-\x9f]+$")
_CORE_FIELDS = ("eventID", "activityID", "personID", "date")


def check_type(value, name="type"):
    """Return ``value`` if it is one of the webhook types, else raise a 400 on ``name``."""
    if value not in EVENT_TYPES:
        raise InvalidParameter(f"{name} must be one of {', '.join(EVENT_TYPES)}", field=name, code="invalid_type")
    return value


def check_identifier(value, name):
    """An ID as the platform gives it (a string, or a whole number), returned as a string."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidParameter(f"{name} must be a string", field=name)
    text = str(value)
    if not text or not text.strip():
        raise InvalidParameter(f"{name} must not be empty", field=name)
    if len(text) > MAX_ID_LENGTH:
        raise InvalidParameter(f"{name} must be at most {MAX_ID_LENGTH} characters", field=name)
    if not _PRINTABLE_ID.match(text) or text != text.strip():
        raise InvalidParameter(f"{name} must not contain control characters or surrounding spaces", field=name)
    return text


def check_unix_seconds(value, name="date"):
    """Unix seconds, given as a whole number or a string of digits; returned as a string."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidParameter(f"{name} must be Unix seconds", field=name)
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 11:
        raise InvalidParameter(f"{name} must be Unix seconds, such as 1764273600", field=name)
    return str(int(text))


@dataclass(frozen=True)
class PlatformEvent:
    """A person enrolled in, or left, an activity of an event."""

    type: str
    event_id: str
    activity_id: str
    person_id: str
    date: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, type, eventID, activityID, personID, date=None, data=None, now=None):
        """Validate the platform's fields; raise :class:`InvalidParameter` naming the bad one."""
        extra = {} if data is None else data
        if not isinstance(extra, dict):
            raise InvalidParameter("data must be a JSON object", field="data")
        clash = [name for name in _CORE_FIELDS if name in extra]
        if clash:
            raise InvalidParameter(f"data must not repeat {clash[0]}, which is given on its own", field="data")
        return cls(
            type=check_type(type),
            event_id=check_identifier(eventID, "eventID"),
            activity_id=check_identifier(activityID, "activityID"),
            person_id=check_identifier(personID, "personID"),
            date=check_unix_seconds(date) if date is not None else str(int(now if now is not None else time.time())),
            extra=extra,
        )

    def data(self):
        return {
            "eventID": self.event_id,
            "activityID": self.activity_id,
            "personID": self.person_id,
            "date": self.date,
            **self.extra,
        }


def iso_timestamp(seconds):
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def delivery_body(type, webhook_id, data, timestamp, sequence):
    """The exact JSON text a webhook receives (contract, section 4).

    ``sequence`` counts this webhook's messages about one person, 1, 2, 3..., in the order they
    are first attempted, which is the order the platform reported them: a receiver can check
    order, and see a gap where a message was given up.
    """
    body = json.dumps(
        {
            "type": type,
            "timestamp": iso_timestamp(timestamp),
            "webhookID": webhook_id,
            "sequence": sequence,
            "data": data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    if len(body.encode("utf-8")) > MAX_DELIVERED_BODY:
        raise PayloadTooLarge(
            f"the delivered body would exceed {MAX_DELIVERED_BODY // 1024} KiB", field="data"
        )
    return body


def check_body_size(type, webhook_id, data, timestamp):
    """Raise :class:`PayloadTooLarge` if the body could exceed the limit once it is numbered."""
    delivery_body(type, webhook_id, data, timestamp, sequence=10**15)

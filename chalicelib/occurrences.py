"""Occurrences: what the platform reports happened (a person enrolled, an activity changed...),
and the body that a delivery of one carries (contract, sections 4, 5 and 11).

"Occurrence" and not "event": on this platform an event is a conference, and to Lambda an
event is an invocation's input.
"""

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from chalicelib.catalog import COMPANY_REQUIRED, EXAMPLE_IDS, WebhookType
from chalicelib.errors import InvalidParameter, MissingParameter, PayloadTooLarge
from chalicelib.validation import check_identifier, check_type, check_unix_seconds

MAX_DELIVERED_BODY = 64 * 1024
_SAMPLE_WEBHOOK_ID = "wh_" + "0" * 26  # as long as a real webhookID, to measure a body


@dataclass(frozen=True)
class Occurrence:
    """One thing that happened on the platform: its type, the type's IDs, the company when the
    platform named one, when it happened (Unix seconds) and any further fields."""

    type: WebhookType
    ids: dict
    company_id: str | None
    date: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, type, ids, company_id=None, date=None, data=None, now=None):
        """Validate a report; raise :class:`InvalidParameter` naming the bad field.

        ``ids`` maps ID names to the values given; each ID of the type is required, and an ID
        the type does not carry is refused.
        """
        webhook_type = check_type(type)
        if not webhook_type.dispatchable:
            raise InvalidParameter(f"{webhook_type.name} is sent by the service itself about its webhooks: the "
                                   "platform cannot dispatch it", field="type", code="invalid_type")
        extra = {} if data is None else data
        if not isinstance(extra, dict):
            raise InvalidParameter("data must be a JSON object", field="data")
        given = {name: value for name, value in ids.items() if value is not None}
        for name in given:
            if name not in webhook_type.fields:
                raise InvalidParameter(f"{webhook_type.name} carries no {name}: it carries "
                                       f"{', '.join(webhook_type.fields)}", field=name)
        checked = {}
        for name in webhook_type.fields:
            if name not in given:
                raise MissingParameter(f"{name} is required for {webhook_type.name}", field=name)
            checked[name] = check_identifier(given[name], name)
        if company_id is not None:
            company_id = check_identifier(company_id, "companyID")
        elif webhook_type.name in COMPANY_REQUIRED:
            raise MissingParameter(f"companyID is required for {webhook_type.name}", field="companyID")
        clash = [name for name in (*webhook_type.fields, "companyID", "date") if name in extra]
        if clash:
            raise InvalidParameter(f"data must not repeat {clash[0]}, which is given on its own", field="data")
        when = check_unix_seconds(date) if date is not None else str(int(now if now is not None else time.time()))
        return cls(webhook_type, checked, company_id, when, extra)

    @classmethod
    def example(cls, webhook_type, now, eventID=None, companyID=None):
        """A made-up occurrence of ``webhook_type``, with the example IDs (and the event or
        company given)."""
        ids = {name: EXAMPLE_IDS[name] for name in webhook_type.fields}
        if eventID is not None:
            ids["eventID"] = eventID
        if companyID is None and webhook_type.name in COMPANY_REQUIRED:
            companyID = EXAMPLE_IDS["companyID"]
        return cls(webhook_type, ids, companyID, str(int(now)))

    @property
    def event_id(self):
        return self.ids["eventID"]

    @property
    def subject(self):
        """What order is kept per, and sequence numbers count: ``person:5521``, ``event:1234``..."""
        return f"{self.type.subject}:{self.ids[self.type.subject_field]}"

    def data(self):
        company = {} if self.company_id is None else {"companyID": self.company_id}
        return {**self.ids, **company, "date": self.date, **self.extra}


def example_data(webhook_type, now, eventID=None, companyID=None):
    """The ``data`` of a made-up delivery of ``webhook_type`` (for the event or company given)."""
    if webhook_type.dispatchable:
        return Occurrence.example(webhook_type, now, eventID=eventID, companyID=companyID).data()
    owner = {"companyID": companyID} if companyID is not None else {"eventID": eventID or EXAMPLE_IDS["eventID"]}
    return {**owner, **dict(webhook_type.example)}


def iso_timestamp(seconds):
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def delivery_body(type, webhook_id, data, timestamp, sequence):
    """The exact JSON text a webhook receives (contract, section 4).

    ``sequence`` counts this webhook's messages about one subject, 1, 2, 3..., in the order
    they are first attempted, which is the order the platform reported them: a receiver can
    check order, and see a gap where a message was given up.
    """
    return json.dumps(
        {"type": type, "timestamp": iso_timestamp(timestamp), "webhookID": webhook_id, "sequence": sequence,
         "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def check_body_size(occurrence, timestamp):
    """Raise :class:`PayloadTooLarge` if the body delivered for ``occurrence`` would exceed 64 KiB.

    Measured as its first delivery to a webhook (sequence 1); a later message about the same
    subject is a few digits longer, and is sent all the same.
    """
    body = delivery_body(occurrence.type.name, _SAMPLE_WEBHOOK_ID, occurrence.data(), timestamp, sequence=1)
    if len(body.encode("utf-8")) > MAX_DELIVERED_BODY:
        raise PayloadTooLarge(f"the delivered body would exceed {MAX_DELIVERED_BODY // 1024} KiB", field="data")

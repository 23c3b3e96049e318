"""What a receiver asks of its deliveries (contract, section 14): headers of its own, a rate it
can take, and a filter on the IDs it cares about. Each check returns the value in its one stored
form, or raises :class:`InvalidParameter` on that parameter. Error messages never repeat a
header's value: values are secrets."""

import re

from chalicelib import strict_json
from chalicelib.catalog import EVENT
from chalicelib.errors import InvalidParameter

MAX_HEADERS = 10
MAX_HEADER_NAME = 64
MAX_HEADER_VALUE = 1024
MAX_RATE_LIMIT = 1000
MAX_FILTER_IDS = 100
# The headers the service sets on every delivery: a receiver's own may not replace them.
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "user-agent", "connection",
                              "transfer-encoding", "te", "upgrade", "expect"})
RESERVED_PREFIX = "webhook-"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$")  # RFC 9110's token
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


def json_object(value, name):
    """A parameter that is a JSON object: as a JSON body gives it, or its JSON text (a query or
    form value)."""
    if isinstance(value, str):
        try:
            value = strict_json.loads(value)
        except strict_json.StrictJSONError as exc:
            raise InvalidParameter(f"{name} must be a JSON object: it {exc}", field=name) from exc
    if not isinstance(value, dict):
        raise InvalidParameter(f"{name} must be a JSON object", field=name)
    return value


def check_headers(value):
    """``headers`` as ``((name, value), ...)`` in the order given; ``()`` for ``{}``."""
    headers = json_object(value, "headers")
    if len(headers) > MAX_HEADERS:
        raise InvalidParameter(f"headers may name at most {MAX_HEADERS} headers", field="headers")
    seen = set()
    for name, text in headers.items():
        if not _TOKEN.match(name):
            raise InvalidParameter(f"a header name must be 1 to {MAX_HEADER_NAME} characters of an HTTP token "
                                   "(letters, digits and !#$%&'*+-.^_`|~)", field="headers")
        lower = name.lower()
        if lower in RESERVED_HEADERS or lower.startswith(RESERVED_PREFIX):
            raise InvalidParameter(f"the service sets {name} itself; it cannot be given in headers", field="headers")
        if lower in seen:
            raise InvalidParameter(f"headers names {name} twice", field="headers")
        seen.add(lower)
        if not isinstance(text, str) or len(text) > MAX_HEADER_VALUE or not _PRINTABLE.match(text):
            raise InvalidParameter(f"the value of header {name} must be a string of at most {MAX_HEADER_VALUE} "
                                   "printable ASCII characters", field="headers")
    return tuple(headers.items())


def check_rate_limit(value):
    """``rateLimit`` as attempts a second, or None for no limit (0)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RATE_LIMIT:
        raise InvalidParameter(f"rateLimit must be a whole number from 1 to {MAX_RATE_LIMIT} (0: no limit)",
                               field="rateLimit")
    return value or None


def filter_fields(webhook_types, level):
    """The ID fields a webhook of ``webhook_types`` at ``level`` may filter on: the IDs that every
    one of its types carries, but not eventID at the event level (an event-level webhook hears
    one event only)."""
    return tuple(f for f in webhook_types[0].fields if not (f == "eventID" and level == EVENT)
                 and all(f in t.fields for t in webhook_types[1:]))


def check_filter(value, webhook_types, level):
    """``filter`` as ``{field: [IDs]}``, or None for ``{}`` (no filter), for a webhook that takes
    ``webhook_types`` (:class:`chalicelib.catalog.WebhookType`, one or more)."""
    given = json_object(value, "filter")
    allowed = filter_fields(webhook_types, level)
    result = {}
    for field, ids in given.items():
        if field not in allowed:
            can = ", ".join(allowed) if allowed else "no field"
            webhook = (f"a {webhook_types[0].name} webhook" if len(webhook_types) == 1 else
                       "a webhook of these types (filter fields are the IDs every one of them carries)")
            raise InvalidParameter(f"{webhook} at the {level} level can filter on {can}, not {field[:64]}",
                                   field="filter")
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_FILTER_IDS:
            raise InvalidParameter(f"filter's {field} must be a list of 1 to {MAX_FILTER_IDS} IDs", field="filter")
        if not all(isinstance(i, str) and 0 < len(i) <= 128 for i in ids):
            raise InvalidParameter(f"filter's {field} must list IDs as strings of 1 to 128 characters",
                                   field="filter")
        result[field] = list(dict.fromkeys(ids))
    return result or None


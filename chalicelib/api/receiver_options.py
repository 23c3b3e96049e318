"""What a receiver asks of its deliveries (contract, section 14): headers of its own, a rate it
can take, and a filter on the IDs it cares about. Each check returns the value in its one stored
form, or raises :class:`InvalidParameter` on that parameter. Error messages never repeat a
header's value: values are secrets."""

import re

from chalicelib import strict_json
from chalicelib.catalog import EVENT
from chalicelib.errors import InvalidParameter
from chalicelib.validation import check_identifier

MAX_HEADERS = 10
MAX_HEADER_NAME = 64
MAX_HEADER_VALUE = 1024
MAX_RATE_LIMIT = 1000
MAX_FILTER_IDS = 100  # in one field's list
# A filter in all: it travels in its owner's listing, which webhook.find and every fan-out read, one
# Query page (1 MB) for an owner's 200 webhooks. At these bounds a filter stores at most 1,170 bytes
# (3 fields; DynamoDB counts each list element's byte and the names), and answers about 1.5 KB of JSON.
MAX_FILTER_IDS_IN_ALL = 100
MAX_FILTER_BYTES = 1024  # of the IDs' UTF-8, in all
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


def filter_fields(webhook_type, level):
    """The ID fields a webhook of ``webhook_type`` at ``level`` may filter on: the type's IDs, but
    not eventID at the event level (an event-level webhook hears one event only)."""
    return tuple(f for f in webhook_type.fields if not (f == "eventID" and level == EVENT))


def check_filter(value, webhook_type, level):
    """``filter`` as ``{field: [IDs]}``, or None for ``{}`` (no filter). Each ID is checked as every
    other ID is (:func:`chalicelib.validation.check_identifier`: one that the platform could never
    send, with control characters or surrounding spaces, could never match), and the filter in
    all holds at most ``MAX_FILTER_IDS_IN_ALL`` IDs and ``MAX_FILTER_BYTES`` bytes of them."""
    given = json_object(value, "filter")
    allowed = filter_fields(webhook_type, level)
    result, count, size = {}, 0, 0
    for field, ids in given.items():
        if field not in allowed:
            can = ", ".join(allowed) if allowed else "no field"
            raise InvalidParameter(f"a {webhook_type.name} webhook at the {level} level can filter on {can}, "
                                   f"not {field[:64]}", field="filter")
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_FILTER_IDS:
            raise InvalidParameter(f"filter's {field} must be a list of 1 to {MAX_FILTER_IDS} IDs", field="filter")
        for each in ids:
            if not isinstance(each, str):
                raise InvalidParameter(f"filter's {field} must list IDs as strings", field="filter")
            try:
                check_identifier(each, "an ID")
            except InvalidParameter as exc:
                raise InvalidParameter(f"in filter's {field}, {exc.message}", field="filter") from exc
        result[field] = list(dict.fromkeys(ids))
        count += len(result[field])
        size += sum(len(each.encode("utf-8")) for each in result[field])
    if count > MAX_FILTER_IDS_IN_ALL or size > MAX_FILTER_BYTES:
        raise InvalidParameter(f"a filter may hold at most {MAX_FILTER_IDS_IN_ALL} IDs and {MAX_FILTER_BYTES:,} "
                               f"bytes of IDs in all (this one: {count} IDs, {size:,} bytes)", field="filter")
    return result or None


"""What a receiver asks of its deliveries (contract, sections 14 and 20): headers of its own, a
rate it can take, a filter on the IDs it cares about, and the OAuth client whose access token its
endpoint asks for. Each check returns the value in its one stored form, or raises
:class:`InvalidParameter` on that parameter. Error messages never repeat a header's value nor a
client secret: they are secrets."""

import re

from chalicelib import strict_json
from chalicelib.catalog import EVENT
from chalicelib.delivery.destinations import InvalidURL
from chalicelib.errors import InvalidParameter
from chalicelib.store.webhook_record import EndpointAuth
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
AUTH_TYPES = ("oauth2",)
AUTH_KEYS = ("type", "tokenUrl", "clientID", "clientSecret", "scope")
MAX_CLIENT_ID = 256
MAX_CLIENT_SECRET = 1024
MAX_SCOPE = 1024
# RFC 6749, 3.3: scope tokens of %x21 / %x23-5B / %x5D-7E, separated by single spaces.
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$")


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
    ``webhook_types`` (:class:`chalicelib.catalog.WebhookType`, one or more). Each ID is checked as
    every other ID is (:func:`chalicelib.validation.check_identifier`: one that the platform could
    never send, with control characters or surrounding spaces, could never match), and the filter
    in all holds at most ``MAX_FILTER_IDS_IN_ALL`` IDs and ``MAX_FILTER_BYTES`` bytes of them."""
    given = json_object(value, "filter")
    allowed = filter_fields(webhook_types, level)
    result, count, size = {}, 0, 0
    for field, ids in given.items():
        if field not in allowed:
            can = ", ".join(allowed) if allowed else "no field"
            webhook = (f"a {webhook_types[0].name} webhook" if len(webhook_types) == 1 else
                       "a webhook of these types (filter fields are the IDs every one of them carries)")
            raise InvalidParameter(f"{webhook} at the {level} level can filter on {can}, not {field[:64]}",
                                   field="filter")
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


def check_auth(value, policy):
    """``auth`` as an :class:`EndpointAuth`, or None for ``{}`` (no auth): ``{"type": "oauth2",
    "tokenUrl", "clientID", "clientSecret", "scope" (optional)}``, the tokenUrl passing the
    destination checks as a webhook's url does (section 8)."""
    given = json_object(value, "auth")
    if not given:
        return None
    unknown = [key for key in given if key not in AUTH_KEYS]
    if unknown:
        raise InvalidParameter(f"auth takes {', '.join(AUTH_KEYS)}; not {unknown[0][:64]}", field="auth")
    if given.get("type") not in AUTH_TYPES:
        raise InvalidParameter(f"auth's type must be {' or '.join(AUTH_TYPES)}", field="auth")
    for key in ("tokenUrl", "clientID", "clientSecret"):
        if key not in given:
            raise InvalidParameter(f"auth needs {key}", field="auth")
    client_id, client_secret, scope = given["clientID"], given["clientSecret"], given.get("scope")
    for name, text, longest in (("clientID", client_id, MAX_CLIENT_ID), ("clientSecret", client_secret,
                                                                          MAX_CLIENT_SECRET)):
        if not isinstance(text, str) or not 0 < len(text) <= longest or not _PRINTABLE.match(text):
            raise InvalidParameter(f"auth's {name} must be 1 to {longest} printable ASCII characters", field="auth")
    if scope is not None and (not isinstance(scope, str) or len(scope) > MAX_SCOPE or not _SCOPE.match(scope)):
        raise InvalidParameter(f"auth's scope must be up to {MAX_SCOPE} characters of OAuth scope tokens separated "
                               "by spaces", field="auth")
    token_url = given["tokenUrl"]
    try:
        policy.check(token_url)
    except InvalidURL as exc:
        raise InvalidParameter(f"auth's tokenUrl: {exc.message.removeprefix('url ')}", field="auth",
                               code=exc.code) from exc
    return EndpointAuth(token_url=token_url, client_id=client_id, client_secret=client_secret, scope=scope)


def has_authorization_header(headers):
    """Whether the receiver's own ``headers`` (``((name, value), ...)``) set Authorization."""
    return any(name.lower() == "authorization" for name, _ in headers)

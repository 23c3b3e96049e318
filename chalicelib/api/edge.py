"""The HTTP edge: turns a request into a method call, and a result or error into JSON.

This is the only place that knows about status codes and the error shape (contract, section 1).
"""

import json
import time
from typing import TYPE_CHECKING
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError
from chalice import Response

from chalicelib import observability, strict_json

# The method modules register their methods on import.
from chalicelib.api import delivery_methods, erasure_methods, pull_methods, webhook_methods  # noqa: F401
from chalicelib.api.forms import FormError, parse_form
from chalicelib.api.idempotency import check_key
from chalicelib.api.receiver_options import json_object
from chalicelib.api.registry import METHODS
from chalicelib.errors import (
    Forbidden,
    InternalError,
    InvalidParameter,
    MethodNotAllowed,
    MissingParameter,
    PayloadTooLarge,
    ServiceError,
    Unauthorized,
    Unavailable,
    UnknownMethod,
    UnknownParameter,
    UnsupportedMediaType,
)
from chalicelib.ids import hash_token, is_issued_token
from chalicelib.store.tokens import Grant
from chalicelib.validation import check_identifier

if TYPE_CHECKING:  # the composition root is above the edge: only its type is named here
    from chalicelib.services import Services

logger = observability.logger

MAX_BODY_BYTES = 1024 * 1024
MAX_FIELDS = 200
# Values a JSON body may hold, counted on its text (commas and colons) before it is parsed: no
# call that can succeed comes near it (a dispatch's delivered body is at most 64 KiB), and it
# keeps what a caller without a token can make the parser build to a few milliseconds.
MAX_BODY_VALUES = 65536
JSON_HEADERS = {"Content-Type": "application/json"}


def handle(request, services_factory, path_method=None, clock=time.time):
    """Answer one API request; never raises, and never answers 5xx for bad input."""
    try:
        status, body = _call(request, services_factory, path_method, clock)
        headers = JSON_HEADERS
    except ServiceError as exc:
        status, body = exc.status, exc.to_body()
        headers = {**JSON_HEADERS, **exc.headers}
    except BotoCoreError as exc:  # AWS could not be reached in time: nothing was accepted, try again
        logger.warning("AWS unavailable", extra={"method": (path_method or "api")[:100], "reason": type(exc).__name__})
        error = Unavailable("the service is busy; try again in a moment")
        status, body, headers = error.status, error.to_body(), {**JSON_HEADERS, "Retry-After": "1"}
    except Exception:  # noqa: BLE001 - a bug: log it, answer in the contract's shape
        logger.exception("unexpected error", extra={"method": (path_method or "api")[:100]})
        error = InternalError("an unexpected error occurred")
        status, body, headers = error.status, error.to_body(), JSON_HEADERS
    # ASCII-only JSON: whatever text a caller sent, the answer is always encodable.
    return Response(body=json.dumps(body), status_code=status, headers=headers)


def _call(request, services_factory, path_method, clock):
    # Until the token is known to exist, only linear, C-speed work runs: the header's token is
    # checked for form first (constant), the body is parsed but its values not yet walked.
    services = services_factory()
    header_token = _header_token(request, services.settings)
    values, json_body = _parameters(request)
    action = values.pop("action", None)
    name = path_method
    if name is None:
        name = _single_string(action, "action")
        if name is None:
            raise MissingParameter("action is required: the method to call, such as webhook.find", field="action")
    elif action is not None and _single_string(action, "action") != name:
        raise InvalidParameter("action names a different method than the path", field="action")
    method = METHODS.get(name)
    if method is None:
        raise UnknownMethod(f"there is no method {name[:100]!r}", field="action" if path_method is None else None)
    if request.method not in method.verbs:
        raise MethodNotAllowed(f"{name} accepts {' and '.join(sorted(method.verbs))} only",
                               headers={"Allow": ", ".join(sorted(method.verbs))})
    now = clock()
    token_hash, grant = _authenticate(header_token, values, services)
    _check_parameters(values, json_body)
    if not grant.admin:
        settings = services.settings
        services.limits.take(f"TOK#{token_hash}", settings.rate_limit_per_second, 2 * settings.rate_limit_per_second,
                             now, f"at most {settings.rate_limit_per_second} a second for this token")
    if "tokenID" not in method.param_names:
        values.pop("tokenID", None)  # with the header authenticating, a tokenID carries nothing more
    if method.admin and not grant.admin:
        raise Forbidden(f"{name} needs an admin token")
    if not grant.may_call(name):
        raise Forbidden("this token is a device's: it may call webhook.poll on its webhooks, and nothing else")
    unknown = sorted(set(values) - method.param_names)
    if unknown:
        raise UnknownParameter(f"{name} takes no parameter {unknown[0][:100]!r}", field=unknown[0][:100])
    key = request.headers.get("idempotency-key") if method.idempotent else None
    return method.function(Context(services, grant, now, None if key is None else check_key(key)), Params(values))


@dataclass(frozen=True)
class Context:
    """What a method runs with besides its parameters: the services, the caller's grant, the
    time of the call, and the ``Idempotency-Key`` header if one came."""

    services: "Services"
    grant: Grant
    now: float
    idempotency_key: str | None = None


class _FormFields(dict):
    """The fields of a form body (its values are checked as parameters, not as JSON)."""


class Repeated(list):
    """The values a query string or form gave one name (a JSON array is a plain list)."""


class Params:
    """A method's parameters, merged from the query string and the body (body wins).

    Query and form values arrive as :class:`Repeated` strings; JSON values as they were sent.
    """

    def __init__(self, values):
        self._values = values

    def raw(self, name):
        value = self._values.get(name)
        if isinstance(value, Repeated):
            if len(value) > 1:
                raise InvalidParameter(f"{name} is given more than once", field=name)
            value = value[0] if value else None
        elif isinstance(value, (list, dict)) and name != "data":
            raise InvalidParameter(f"{name} must be a single value", field=name)
        return value

    def required(self, name):
        value = self.raw(name)
        if value is None:
            raise MissingParameter(f"{name} is required", field=name)
        return value

    def identifier(self, name):
        return check_identifier(self.required(name), name)

    def optional_identifier(self, name):
        value = self.raw(name)
        return None if value is None else check_identifier(value, name)

    def whole_number(self, name, lowest, highest, default):
        """A whole number from ``lowest`` to ``highest``: plain ASCII digits, or a JSON integer."""
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise InvalidParameter(f"{name} must be a whole number from {lowest} to {highest}", field=name)
        return value

    def json_object(self, name):
        """A JSON object parameter, given as itself in a JSON body or as its JSON text; None if absent."""
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, Repeated):
            value = self.raw(name)
        return json_object(value, name)

    def many(self, name, required=True):
        """A parameter that may repeat, or be a comma-separated list, or a JSON array."""
        value = self._values.get(name)
        if value is None:
            if required:
                raise MissingParameter(f"{name} is required", field=name)
            return []
        if value == []:
            raise InvalidParameter(f"{name} must name one or more IDs", field=name)
        items = value if isinstance(value, list) else [value]
        result = []
        for item in items:
            parts = item.split(",") if isinstance(item, str) else [item]
            result.extend(check_identifier(part.strip() if isinstance(part, str) else part, name) for part in parts)
        return list(dict.fromkeys(result))

    def names(self, name):
        """A parameter that lists names: a JSON array, or a comma-separated list (a query or form
        value, which may also repeat); None if absent. The items are not checked here."""
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, list) and not isinstance(value, Repeated):
            return list(value)
        result = []
        for item in value if isinstance(value, Repeated) else [value]:
            if isinstance(item, str):
                result.extend(part.strip() for part in item.split(","))
            else:
                result.append(item)
        return result

    def given(self):
        """The parameters as given, for comparing two calls (``Repeated`` as plain lists)."""
        return {name: list(value) if isinstance(value, Repeated) else value for name, value in self._values.items()}


def _header_token(request, settings):
    """The token of the ``Authorization`` header, refused at once if it is not in the issued
    form (None when there is no header: the token is then the ``tokenID`` parameter)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be: Bearer <token>")
    return _well_formed(token.strip(), settings)


def _well_formed(token, settings):
    # A token that cannot have been issued costs no read of the table; the message is the
    # same as for an unknown token, so form tells a caller nothing more.
    if not is_issued_token(token) and not settings.is_local_admin_token(token):
        raise Unauthorized("the token is not valid")
    return token


def _authenticate(header_token, values, services):
    token = header_token
    if token is None:
        token = _single_string(values.pop("tokenID", None), "tokenID")
        if not token:
            raise Unauthorized("a token is required: an Authorization: Bearer header or a tokenID parameter")
        token = _well_formed(token, services.settings)
    token_hash = hash_token(token)
    grant = services.tokens.get(token_hash)
    if grant is None:
        raise Unauthorized("the token is not valid")
    return token_hash, grant


def _single_string(value, name):
    if isinstance(value, Repeated):
        if len(value) != 1:
            raise InvalidParameter(f"{name} is given more than once", field=name)
        value = value[0]
    if value is not None and not isinstance(value, str):
        raise InvalidParameter(f"{name} must be a string", field=name)
    return value


def _parameters(request):
    """Query parameters overlaid by body parameters, each a list of strings or a JSON value; and
    the JSON body as parsed (None for another carrier), whose values are checked later."""
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body must be at most {MAX_BODY_BYTES // 1024 // 1024} MiB")
    values = {}
    for name, items in (_query(request) or {}).items():
        values[name] = items
    body = _body(request, raw)
    values.update(body)
    if len(values) > MAX_FIELDS:
        raise InvalidParameter("too many parameters")
    return values, body if isinstance(body, dict) and not isinstance(body, _FormFields) else None


def _check_parameters(values, json_body):
    """Refuse a parameter name or value that cannot be text or delivered JSON (section 10)."""
    if json_body is not None:
        try:
            strict_json.check(json_body)
        except strict_json.StrictJSONError as exc:
            raise InvalidParameter(f"the request body {exc}", code="invalid_body") from exc
    for name in values:
        _check_text(name, None)
    for name, value in values.items():
        _check_text(value, name)


def _query(request):
    params = request.query_params
    if not params:
        return {}
    if len(params) > MAX_FIELDS:  # before a list is made for each
        raise InvalidParameter("too many parameters")
    return {name: Repeated(params.getlist(name)) for name in params}


def _body(request, raw):
    if not raw.strip():
        return {}
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if not content_type:
        content_type = "application/json" if raw.lstrip().startswith(b"{") else "application/x-www-form-urlencoded"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParameter("the request body is not valid UTF-8", code="invalid_body") from exc
    if content_type == "application/json" or content_type.endswith("+json"):
        if text.count(",") + text.count(":") > MAX_BODY_VALUES:
            raise PayloadTooLarge(f"the request body must hold at most {MAX_BODY_VALUES} values")
        try:
            body = strict_json.parse(text)  # its values are checked once the caller is known
        except strict_json.StrictJSONError as exc:
            raise InvalidParameter(f"the request body {exc}", code="invalid_body") from exc
        if not isinstance(body, dict):
            raise InvalidParameter("the JSON body must be an object of parameters", code="invalid_body")
        for name, value in body.items():
            if value is None:
                raise InvalidParameter(f"{name[:100]} must not be null: leave it out instead", field=name[:100])
        return body
    if content_type == "application/x-www-form-urlencoded":
        try:
            return _FormFields((name, Repeated(values)) for name, values in parse_form(text, MAX_FIELDS).items())
        except FormError as exc:
            raise InvalidParameter("the form body is not valid", code="invalid_body") from exc
    raise UnsupportedMediaType("send parameters as application/json or application/x-www-form-urlencoded")


def _check_text(value, field):
    """Refuse what cannot be text or JSON that is delivered (section 10), in any parameter.

    ``field`` is the parameter the value belongs to, or None when a parameter name is bad.
    """
    try:
        strict_json.check(value)
    except strict_json.StrictJSONError as exc:
        label = field[:100] if field else "a parameter name"
        raise InvalidParameter(f"{label} {exc}", field=field and field[:100]) from exc

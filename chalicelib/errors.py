"""Domain errors. Only the HTTP edge (chalicelib.api.edge) turns them into status codes."""


class ServiceError(Exception):
    """An error a caller can act on: it carries the contract's code, message and field."""

    status = 400
    code = "invalid_request"

    def __init__(self, message, field=None, code=None, headers=None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}  # HTTP headers the answer needs, such as Allow on a 405
        if code:
            self.code = code

    def to_body(self):
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class InvalidParameter(ServiceError):
    status = 400
    code = "invalid_parameter"


class MissingParameter(InvalidParameter):
    code = "missing_parameter"


class UnknownParameter(InvalidParameter):
    code = "unknown_parameter"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class UnknownMethod(NotFound):
    code = "unknown_method"


class MethodNotAllowed(ServiceError):
    status = 405
    code = "method_not_allowed"


class Conflict(ServiceError):
    status = 409
    code = "duplicate"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"


class InternalError(ServiceError):
    """A bug: the caller is told so in the one error shape, and the details are only logged."""

    status = 500
    code = "internal_error"


class Unavailable(ServiceError):
    """AWS throttled us or could not be reached, or the same call is still running: the caller
    may retry, after ``Retry-After`` seconds."""

    status = 503
    code = "unavailable"

    def __init__(self, message, field=None, code=None, headers=None):
        super().__init__(message, field, code, {"Retry-After": "1", **(headers or {})})


class SettingsError(ValueError):
    """A setting in the environment is malformed; raised when the service starts."""

"""The headers every answer carries: the console loads nothing from elsewhere and cannot be
framed, and no answer is sniffed into another type (issue 19).

The console is three files of its own (chalicelib/console/) that call only this origin; its
icon is a ``data:`` image in the page. The policy allows exactly that, and the API's JSON
answers carry the same headers (they load nothing at all).
"""

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def with_security_headers(headers):
    """``headers`` with :data:`SECURITY_HEADERS` added (an answer's own values win)."""
    return {**SECURITY_HEADERS, **(headers or {})}

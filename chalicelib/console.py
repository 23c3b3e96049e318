"""The web console served at ``/``, and the API description served at ``/openapi.yaml``."""

import functools
import pathlib

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>InEvent webhooks</title></head>
<body>
<h1>InEvent webhooks</h1>
<p>The API is at <code>/api/&lt;method&gt;</code> and <code>/api/?action=&lt;method&gt;</code>:
webhook.create, webhook.find, webhook.remove, webhook.requestExample, webhook.responseExample,
webhook.dispatch, token.create, token.revoke.</p>
</body>
</html>
"""


def page():
    """The console's HTML."""
    return _PAGE


@functools.lru_cache(maxsize=1)
def openapi():
    """The OpenAPI document, read on first use."""
    return (pathlib.Path(__file__).parent / "openapi.yaml").read_text()

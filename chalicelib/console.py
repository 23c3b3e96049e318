"""The web console served at ``/``, and the API description served at ``/openapi.yaml`` and, for
the console, as JSON at ``/openapi.json``.

The console is three static files in ``console/``: no build step, nothing from the internet. It
builds its list of methods and their fields from ``openapi.json``, which ``python -m dev.api_docs``
writes from the method registry next to the YAML (PyYAML is not in the Lambda bundle).
"""

import functools
import os
import pathlib
import re

_HERE = pathlib.Path(__file__).parent
# Set by the local run's API server (dev/api_server.py), never on Lambda: the page then keeps the
# help written for a developer on a laptop ("make run prints an admin token").
LOCAL_RUN_FLAG = "INEVENT_LOCAL_RUN"
_LOCAL_ONLY = re.compile(r"<!-- local run -->.*?<!-- /local run -->", re.DOTALL)
_DEPLOYED_ONLY = re.compile(r"<!-- deployed -->(.*?)<!-- /deployed -->", re.DOTALL)
ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


@functools.lru_cache(maxsize=None)
def _read(name):
    return (_HERE / name).read_text()


def page(environ=None):
    """The console's HTML. Outside the local run, what is written for a developer on a laptop
    (between ``<!-- local run -->`` markers) is left out, and the ``<!-- deployed -->`` text is
    shown instead."""
    env = os.environ if environ is None else environ
    return _page(env.get(LOCAL_RUN_FLAG) == "1")


@functools.lru_cache(maxsize=2)
def _page(local):
    html = _read("console/index.html")
    if local:
        return _DEPLOYED_ONLY.sub("", html).replace('data-run="deployed"', 'data-run="local"')
    return _DEPLOYED_ONLY.sub(r"\1", _LOCAL_ONLY.sub("", html))


def asset(name):
    """``(text, content type)`` of a console file, or None for a name that is not one."""
    if name not in ASSETS:
        return None
    return _read(f"console/{name}"), ASSETS[name]


def openapi():
    """The OpenAPI document, read on first use."""
    return _read("openapi.yaml")


def openapi_json():
    """The same OpenAPI document as JSON, read on first use."""
    return _read("openapi.json")

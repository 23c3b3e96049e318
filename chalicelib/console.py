"""The web console served at ``/``, and the API description served at ``/openapi.yaml`` and, for
the console, as JSON at ``/openapi.json``.

The console is three static files in ``console/``: no build step, nothing from the internet. It
builds its list of methods and their fields from ``openapi.json``, which ``python -m dev.openapi``
writes from the method registry next to the YAML (PyYAML is not in the Lambda bundle).
"""

import functools
import pathlib

_HERE = pathlib.Path(__file__).parent
ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


@functools.lru_cache(maxsize=None)
def _read(name):
    return (_HERE / name).read_text()


def page():
    """The console's HTML."""
    return _read("console/index.html")


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

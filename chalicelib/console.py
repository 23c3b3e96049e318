"""The web console served at ``/``, and the API description served at ``/openapi.yaml``.

The console is three static files in ``console/``: no build step, nothing from the internet.
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

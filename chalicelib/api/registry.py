"""The method registry: everything a method is, in one place.

A method is its name, verbs, parameters (each with its kind, whether it is required and what
it means), a summary, the answer's status and schema, and the function that runs it. The HTTP
edge (``chalicelib.api.edge``) dispatches on it, ``dev/openapi.py`` generates ``openapi.yaml`` from
it, and the console builds its forms from that document: a method is added in one place.
"""

from dataclasses import dataclass
from typing import Callable

READ = frozenset({"GET", "POST"})
WRITE = frozenset({"POST"})

# The kinds of parameter, and what each accepts (the OpenAPI generator turns them into schemas).
KINDS = {
    "id": "an ID: 1 to 128 characters, no control characters, or a whole number",
    "ids": "one or more IDs: repeat the parameter, or give a comma-separated list",
    "url": "an absolute http or https URL",
    "type": "a webhook type of the catalog",
    "types": "webhook types of the catalog: a JSON array, or a comma-separated list; or * alone (every type)",
    "status": "a delivery status",
    "limit": "a whole number from 1 to 200",
    "seconds": "Unix seconds, ASCII digits",
    "cursor": "a cursor from an earlier page",
    "object": "a JSON object (or its JSON text)",
    "headers": "a JSON object (or its JSON text) of at most 10 header names to string values",
    "filter": "a JSON object (or its JSON text) from ID fields to lists of 1 to 100 IDs",
    "rate": "a whole number from 0 to 1000",
    "template": 'a JSON object (or its JSON text): {"body", "contentType"} or {"preset"}',
    "token": "a token",
    "delivery": "push or pull",
    "count": "a whole number from 1 to 500",
    "wait": "whole seconds from 0 to 20",
    "signature": "hmac or ed25519",
    "auth": "a JSON object (or its JSON text): type oauth2, tokenUrl, clientID, clientSecret and optional scope",
    "text": "0 to 200 characters of printable text",
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    summary: str
    required: bool = False


@dataclass(frozen=True)
class Method:
    name: str
    function: Callable
    verbs: frozenset
    params: tuple
    summary: str
    status: int = 200
    answer: str = ""  # the name of the answer's schema in the OpenAPI document
    admin: bool = False
    idempotent: bool = False  # takes an Idempotency-Key header

    @property
    def param_names(self):
        return frozenset(p.name for p in self.params)


METHODS = {}


def method(name, summary, params=(), verbs=WRITE, status=200, answer="", admin=False, idempotent=False):
    """Register the decorated function as the API method ``name``."""

    def register(function):
        METHODS[name] = Method(name, function, verbs, tuple(params), summary, status, answer, admin, idempotent)
        return function

    return register


def webhook_id(summary="The webhook."):
    return Param("webhookID", "id", summary, required=True)

"""``make openapi``: writes ``chalicelib/openapi.yaml`` (OpenAPI 3.1) from the method registry and
the catalog, and ``chalicelib/openapi.json``, the same document as JSON for the console (PyYAML
is not in the Lambda bundle). A test checks that the committed files are exactly what this
script writes.

    python -m dev.openapi [--check]
"""

import json
import pathlib

import yaml

from chalicelib.api.edge import METHODS
from chalicelib.api.idempotency import MAX_KEY_LENGTH
from chalicelib.api.webhook_methods import COMPANY_ID, EVENT_ID, EXAMPLE_WEBHOOK_ID, list_types
from chalicelib.catalog import CATALOG, TYPE_NAMES
from chalicelib.delivery.log import STATUSES
from chalicelib.delivery.signing import SIGNATURES
from dev.generated import write_or_check
from dev.openapi_schemas import ANSWERS, AUTH, DESCRIPTION_TEXT, ERROR, FILTER, HEADERS, TEMPLATE, WEBHOOK_HEADERS, delivered_body

DOCUMENT = pathlib.Path(__file__).resolve().parent.parent / "chalicelib" / "openapi.yaml"
JSON_DOCUMENT = DOCUMENT.with_suffix(".json")
HEADER = ("# The API's published description (OpenAPI 3.1), written by `python -m dev.openapi` from the method\n"
          "# registry (chalicelib/api/registry.py) and the catalog (chalicelib/catalog.py): do not edit it by hand.\n")
ERROR_STATUSES = ("400", "401", "403", "404", "405", "409", "413", "415", "429", "503")
_ID = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"}
_SECONDS = {"type": "string", "pattern": "^[0-9]{1,11}$"}


def text_schema(kind):
    """A parameter's schema in a query string or a form: always text."""
    return {
        "id": _ID,
        "ids": {"type": "string", "minLength": 1, "maxLength": 12900,
                "description": "One ID, or several separated by commas (or the parameter repeated)."},
        "url": {"type": "string", "minLength": 1, "maxLength": 2048,
                "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\u0000-\\u0020\\u007F-\\u009F]+$"},
        "type": {"type": "string", "enum": list(TYPE_NAMES)},
        "types": {"type": "string", "minLength": 1, "maxLength": 1000,
                  "description": "Types separated by commas, or * alone (every type of the level)."},
        "status": {"type": "string", "enum": list(STATUSES)},
        "limit": {"type": "string", "pattern": "^[0-9]{1,3}$"},
        "seconds": _SECONDS,
        "cursor": {"type": "string", "maxLength": 64},
        "object": {"type": "string", "description": "A JSON object, as its JSON text."},
        "headers": {"type": "string", "description": "A JSON object of header names to values, as its JSON text."},
        "filter": {"type": "string", "description": "A JSON object of ID fields to lists of IDs, as its JSON text."},
        "rate": {"type": "string", "pattern": "^[0-9]{1,4}$"},
        "template": {"type": "string", "description": "A template object, as its JSON text."},
        "token": {"type": "string", "minLength": 1, "maxLength": 200},
        "delivery": {"type": "string", "enum": ["push", "pull"]},
        "count": {"type": "string", "pattern": "^[0-9]{1,3}$"},
        "wait": {"type": "string", "pattern": "^[0-9]{1,2}$"},
        "signature": {"type": "string", "enum": list(SIGNATURES)},
        "auth": {"type": "string", "description": "A JSON object of the OAuth 2.0 client's settings, as its JSON text."},
        "text": DESCRIPTION_TEXT,
    }[kind]


def json_schema(kind):
    """A parameter's schema in a JSON body, where numbers and objects may come as themselves."""
    whole = {"type": "integer", "minimum": 0}
    if kind == "id":
        return {"oneOf": [_ID, whole]}
    if kind == "ids":
        return {"oneOf": [_ID, whole,
                          {"type": "array", "minItems": 1, "maxItems": 100, "items": {"oneOf": [_ID, whole]}}]}
    if kind == "limit":
        return {"oneOf": [text_schema(kind), {"type": "integer", "minimum": 1, "maximum": 200}]}
    if kind == "seconds":
        return {"oneOf": [_SECONDS, {**whole, "maximum": 99999999999}]}
    if kind == "object":
        not_repeated = [{"required": [name]} for name in ("eventID", "companyID", "date")]
        return {"oneOf": [{"type": "object", "not": {"anyOf": not_repeated}},
                          {"type": "string", "contentMediaType": "application/json"}]}
    if kind == "types":
        return {"oneOf": [{"type": "array", "minItems": 1, "uniqueItems": True,
                           "items": {"type": "string", "enum": [*TYPE_NAMES, "*"]}}, text_schema(kind)]}
    if kind == "headers":
        return {"oneOf": [HEADERS, {"type": "string", "contentMediaType": "application/json"}]}
    if kind == "filter":
        return {"oneOf": [FILTER, {"type": "string", "contentMediaType": "application/json"}]}
    if kind == "count":
        return {"oneOf": [text_schema(kind), {"type": "integer", "minimum": 1, "maximum": 500}]}
    if kind == "wait":
        return {"oneOf": [text_schema(kind), {"type": "integer", "minimum": 0, "maximum": 20}]}
    if kind == "template":
        return {"oneOf": [TEMPLATE, {"type": "string", "contentMediaType": "application/json"}]}
    if kind == "rate":
        return {"oneOf": [text_schema(kind), {"type": "integer", "minimum": 0, "maximum": 1000}]}
    if kind == "auth":
        return {"oneOf": [AUTH, {"type": "string", "contentMediaType": "application/json"}]}
    return text_schema(kind)


def responses(method):
    answer = {"description": "Success.",
              "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{method.answer}"}}}}
    errors = {status: {"$ref": "#/components/responses/Error"} for status in ERROR_STATUSES}
    return {str(method.status): answer, **errors}


def operation(method, verb):
    """One verb of one method: GET takes the query string, POST a JSON or form body."""
    op = {"operationId": method.name.replace(".", "_") + ("_get" if verb == "get" else ""),
          "summary": method.summary, "tags": [method.name.split(".")[0]], "responses": responses(method)}
    if method.idempotent:
        op["parameters"] = [{"name": "Idempotency-Key", "in": "header", "required": False,
                             "description": "The same key with the same parameters within 24 hours answers the first "
                                            "call's answer again and queues nothing; with other parameters, 409.",
                             "schema": {"type": "string", "pattern": f"^[\\x20-\\x7e]{{1,{MAX_KEY_LENGTH}}}$"}}]
    if method.name == "token.revoke":
        op["security"] = [{"bearer": []}]
    required = [p.name for p in method.params if p.required]
    if verb == "get":
        op.setdefault("parameters", []).extend(
            {"name": p.name, "in": "query", "required": p.required, "description": p.summary,
             "schema": text_schema(p.kind)} for p in method.params)
        return op

    def body(schema_of):
        schema = {"type": "object", "additionalProperties": False,
                  "properties": {p.name: {"description": p.summary, **schema_of(p.kind)} for p in method.params}}
        if required:
            schema["required"] = required
        if EVENT_ID in method.params and COMPANY_ID in method.params:
            # The shared pair means "give exactly one": said in the schema, so the console can say it.
            schema["oneOf"] = [{"required": ["eventID"]}, {"required": ["companyID"]}]
        return {"schema": schema}

    op["requestBody"] = {"required": False,
                         "description": "The parameters (they may also come in the query string; a body value wins).",
                         "content": {"application/json": body(json_schema),
                                     "application/x-www-form-urlencoded": body(text_schema)}}
    return op


def webhooks():
    """The deliveries of each type (OpenAPI's ``webhooks``), with their headers, body and an example."""
    examples = {entry["type"]: entry["example"] for entry in list_types(_ExampleContext(), None)[1]["data"]}
    return {
        name: {"post": {
            "operationId": f"deliver_{name}",
            "summary": f"{webhook_type.description} ({', '.join(webhook_type.levels)} level)",
            "parameters": WEBHOOK_HEADERS,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": delivered_body(webhook_type), "example": examples[name]}}},
            "responses": {"2XX": {"description": "Received: any 2xx within the timeout."},
                          "410": {"description": "Gone: the webhook is disabled."}},
        }}
        for name, webhook_type in CATALOG.items()
    }


class _ExampleContext:
    now = 1764273600  # examples are dated, so the document does not change from one run to the next


def document():
    paths = {}
    for name, method in METHODS.items():
        paths[f"/api/{name}"] = {verb.lower(): operation(method, verb.lower()) for verb in sorted(method.verbs,
                                                                                                   reverse=True)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "InEvent webhooks", "version": "2.0.0", "description": (
            "The webhook methods of the InEvent platform. Every method is also reachable as /api/?action=<method>, "
            "which behaves identically. Parameters come from the query string and from the body (JSON or form); a body "
            "value overrides a query value. Read methods accept GET and POST; write methods POST only (any other verb "
            "answers 405). Every answer is JSON; errors have one shape. No input answers 5xx except 503 (with "
            "Retry-After: try again) when AWS is unavailable or a dispatch with the same Idempotency-Key still runs. "
            f"Deliveries are signed Standard Webhooks POSTs (see webhooks); example webhookID "
            f"{EXAMPLE_WEBHOOK_ID}.")},
        "servers": [{"url": "http://127.0.0.1:8000", "description": "make run"}],
        "security": [{"bearer": []}, {"tokenID": []}],
        "paths": paths,
        "webhooks": webhooks(),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "Authorization: Bearer <token>. When present it alone authenticates."},
                "tokenID": {"type": "apiKey", "in": "query", "name": "tokenID",
                            "description": "The platform's style: the token as the tokenID parameter (query or body)."},
            },
            "responses": {"Error": {"description": "An error, in the contract's one shape.", "headers": {
                "Retry-After": {"description": "With 429 and 503: seconds to wait before trying again.",
                                "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {"Error": ERROR, **ANSWERS},
        },
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def render():
    return HEADER + yaml.dump(document(), Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=110)


def render_json():
    """The same document as JSON: what the console reads to build its methods and their fields."""
    return json.dumps(document(), separators=(",", ":"), ensure_ascii=True) + "\n"


def main(argv=None):
    write_or_check({DOCUMENT: render(), JSON_DOCUMENT: render_json()}, "python -m dev.openapi", argv)


if __name__ == "__main__":
    main()

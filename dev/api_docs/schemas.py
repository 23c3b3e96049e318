"""The answer schemas (dev/openapi_schemas.py) as Markdown field lists."""

import json

from chalicelib.catalog import TYPE_NAMES
from dev.openapi_schemas import ANSWERS

WEBHOOK_ANCHOR = "#the-webhook-object"
CATALOG_ANCHOR = "#the-catalog"


def _resolve(schema):
    if "$ref" in schema:
        return ANSWERS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _is_ref_to(schema, name):
    return schema.get("$ref", "").endswith("/" + name)


def _string_text(schema):
    pattern = schema.get("pattern", "")
    if schema.get("format") == "date-time":
        return "date and time, ISO 8601 in UTC"
    if pattern == "^[0-9]+$":
        return "digits in a string"
    if pattern == "^[0-9]+(ms|s|m|h)$":
        return "a duration such as `5m`"
    if pattern.startswith("^") and pattern[1:].replace("_", "").isalnum():
        return f"string, `{pattern[1:]}…`"
    return "string"


def _type_text(schema):
    """A short description of a schema's type, and the object schema whose fields come below it."""
    if _is_ref_to(schema, "Webhook"):
        return f"the [webhook object]({WEBHOOK_ANCHOR})", None
    schema = _resolve(schema)
    if "const" in schema:
        return f"always `{json.dumps(schema['const'])}`", None
    if "enum" in schema:
        listed = [value for value in schema["enum"] if value is not None]
        nullable = " or null" if None in schema["enum"] else ""
        if listed == list(TYPE_NAMES):
            return f"a type of the [catalog]({CATALOG_ANCHOR}){nullable}", None
        if listed == [*TYPE_NAMES, "*"]:
            return f"a type of the [catalog]({CATALOG_ANCHOR}), or `*`{nullable}", None
        return "one of " + ", ".join(f"`{json.dumps(value)}`" if value is None else f"`{value}`"
                                     for value in schema["enum"]), None
    if "oneOf" in schema and "type" not in schema:
        texts, child = [], None
        for option in schema["oneOf"]:
            text, found = _type_text(option)
            texts.append(text)
            child = child or found
        return " or ".join(texts), child
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    nullable = "null" in types
    base = next((t for t in types if t != "null"), "null")
    child = None
    if base == "string":
        text = _string_text(schema)
    elif base in ("integer", "number"):
        text = "whole number" if base == "integer" else "number"
        low, high = schema.get("minimum"), schema.get("maximum")
        if high is not None:
            text += f" from {low} to {high}"
        elif low:
            text += f", at least {low}"
    elif base == "array":
        item_text, child = _type_text(schema.get("items", {}))
        if item_text.startswith("the [webhook object]"):
            text = f"array of [webhook objects]({WEBHOOK_ANCHOR})"
        elif item_text in ("object", "string"):
            text = f"array of {item_text}s"
        else:
            text = f"array, each {item_text}"
        if "maxItems" in schema:
            text += f", at most {schema['maxItems']}"
    elif base == "object":
        text = "object"
        if schema.get("properties"):
            child = schema
        elif isinstance(schema.get("additionalProperties"), dict) and schema.get("required"):
            text = "object of strings, always with " + ", ".join(f"`{name}`" for name in schema["required"])
    elif base == "boolean":
        text = "boolean"
    else:
        text = "null"
    if nullable and base != "null":
        text += " or null"
    return text, child


def field_lines(schema, depth=0):
    """The fields of an object schema, one list item each, nested objects indented below."""
    schema = _resolve(schema)
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        text, child = _type_text(prop)
        optional = "" if name in required else ", optional"
        description = prop.get("description", "") if isinstance(prop, dict) else ""
        lines.append(f"{'  ' * depth}- `{name}` ({text}{optional})" + (f": {description}" if description else ""))
        if child is not None:
            lines.extend(field_lines(child, depth + 1))
    alternatives = [option.get("required", []) for option in schema.get("oneOf", [])]
    if alternatives and all(len(names) == 1 for names in alternatives):
        names = " and ".join(f"`{names[0]}`" for names in alternatives)
        lines.append(f"{'  ' * depth}- Exactly one of {names} is present.")
    return lines


def answer_lines(method):
    """What a method answers: its status, and the answer's fields."""
    if method.answer == "Webhook":
        return [f"Answer: `{method.status}` with the [webhook object]({WEBHOOK_ANCHOR})."]
    return [f"Answer: `{method.status}` with an object:", "", *field_lines(ANSWERS[method.answer])]

"""Writes the API's descriptions from the method registry (chalicelib/api/registry.py), the catalog
and the service's constants: ``chalicelib/openapi.yaml`` (OpenAPI 3.1, built by ``openapi.py``),
``chalicelib/openapi.json`` (the same document for the console: PyYAML is not in the Lambda
bundle) and ``docs/api.md``, the reference, whose prose is the Jinja2 template ``template.md``
next to this file. Tests check that the committed files are exactly what this writes.

    python -m dev.api_docs [--check]

Every name, verb, parameter, status, answer field, type, default and limit comes from the code,
so a change there shows up as a failing ``--check``. Rendering is strict: a name the template
uses without a value, a value the template does not use, or method sections out of the
registry's order fail the generator.
"""

import argparse
import json
import pathlib
import sys

import jinja2
import jinja2.meta
import yaml

from chalicelib.api.edge import METHODS
from chalicelib.api.registry import KINDS, READ
from chalicelib.catalog import CATALOG, TYPE_NAMES
from chalicelib.dispatch.fanout import PLATFORM_SOURCE
from dev.api_docs import values
from dev.api_docs.fields import field_lines
from dev.api_docs.openapi import EXAMPLE_NOW, document, examples
from dev.api_docs.openapi_schemas import ANSWERS
from dev.api_docs.values import ERROR_CODES
from dev.run import LOCAL_SETTINGS

__all__ = ["DOCUMENT", "ERROR_CODES", "LOCAL_SETTINGS", "OPENAPI_YAML", "TEMPLATE", "TemplateError", "main", "render",
           "render_json", "render_yaml"]

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
DOCUMENT = ROOT / "docs" / "api.md"
OPENAPI_YAML = ROOT / "chalicelib" / "openapi.yaml"
OPENAPI_JSON = OPENAPI_YAML.with_suffix(".json")
TEMPLATE = pathlib.Path(__file__).resolve().parent / "template.md"
YAML_HEADER = ("# The API's published description (OpenAPI 3.1), written by `python -m dev.api_docs` from the method\n"
               "# registry (chalicelib/api/registry.py) and the catalog (chalicelib/catalog.py): do not edit it by hand.\n")


class TemplateError(ValueError):
    """The template and the values given for it do not match."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def render_yaml():
    """The text of chalicelib/openapi.yaml."""
    return YAML_HEADER + yaml.dump(document(), Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=110)


def render_json():
    """The text of chalicelib/openapi.json: what the console reads to build its methods and their fields."""
    return json.dumps(document(), separators=(",", ":"), ensure_ascii=True) + "\n"


def anchor(text):
    """GitHub's anchor for a heading."""
    kept = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return "#" + kept.replace(" ", "-")


def _contents(source):
    """A list of links to the template's sections (its ``## `` headings, outside code blocks)."""
    titles, in_code = [], False
    for line in source.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif line.startswith("## ") and not in_code:
            titles.append(line[3:])
    return "\n".join(f"- [{title}]({anchor(title)})" for title in titles)


def _examples():
    """What the prose shows as examples: one body of each type, a delivery, a webhook, an EventBridge event."""
    bodies = examples()
    delivery = bodies[TYPE_NAMES.index("activityEnrollment")]["example"]
    return {
        "catalog_examples": bodies,
        "example_now": EXAMPLE_NOW,
        "delivery_example": {**delivery, "data": {**delivery["data"], "seat": "A4"}},
        "webhook_example": {"webhookID": "wh_01KB2X3Y4Z5A6B7C8D9E0F1G2H", "eventID": "1234",
                            "type": "activityEnrollment", "url": "https://example.com/hooks/inevent",
                            "date": str(EXAMPLE_NOW), "status": "enabled", "headers": [], "rateLimit": None,
                            "filter": None, "description": "CRM sync, owned by the sales team"},
        "eventbridge_example": {"source": PLATFORM_SOURCE, "detail-type": "activityEnrollment",
                                "detail": {"eventID": "1234", "activityID": "98", "personID": "5521",
                                           "companyID": "42", "date": str(EXAMPLE_NOW), "seat": "A4"}},
    }


def render(source=None):
    """The text of docs/api.md, from ``source`` (by default template.md's text)."""
    source = TEMPLATE.read_text(encoding="utf-8") if source is None else source
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True, autoescape=False)
    environment.filters.update({
        "codes": lambda names, between=", ": between.join(f"`{name}`" for name in names),
        "anchor": anchor,
        "json": lambda value, **options: json.dumps(value, **options),
        "fields": lambda schema: "\n".join(field_lines(ANSWERS[schema])),
    })
    visited = []

    def visit(part, name):
        """The registry's method ``name``, whose ``part`` (its opening or its answer) the template writes."""
        visited.append((part, name))
        return METHODS[name]

    context = {
        **values.values(), **_examples(),
        "contents": _contents(source), "kinds": KINDS, "methods": METHODS, "catalog": CATALOG,
        "read_methods": [name for name, m in METHODS.items() if m.verbs == READ],
        "write_methods": [name for name, m in METHODS.items() if m.verbs != READ],
        "admin_methods": [name for name, m in METHODS.items() if m.admin],
    }
    try:
        unused = context.keys() - jinja2.meta.find_undeclared_variables(environment.parse(source))
        if unused:
            raise TemplateError("values that the template does not use: " + ", ".join(sorted(unused)))
        text = environment.from_string(source).render(context, visit=visit)
    except jinja2.TemplateError as error:  # a syntax error, or a name without a value
        raise TemplateError(str(error)) from error
    expected = [(part, name) for name in METHODS for part in ("method", "answer")]
    if visited != expected:
        at = next((i for i, (have, want) in enumerate(zip(visited, expected)) if have != want),
                  min(len(visited), len(expected)))
        want, have = (" ".join(pairs[at]) if at < len(pairs) else "nothing more" for pairs in (expected, visited))
        raise TemplateError(f"method sections: the registry's order wants {want} where the template has {have}")
    return text.rstrip("\n") + "\n"


def main(argv=None):
    """Writes the three files; with ``--check``, fails instead if a committed one differs."""
    parser = argparse.ArgumentParser(prog="python -m dev.api_docs", description="Writes docs/api.md and "
                                     "chalicelib/openapi.yaml and .json from the code.")
    parser.add_argument("--check", action="store_true", help="fail if a committed file is not what this writes")
    check = parser.parse_args(argv).check
    try:
        outputs = {DOCUMENT: render(), OPENAPI_YAML: render_yaml(), OPENAPI_JSON: render_json()}
    except TemplateError as error:
        sys.exit(f"{TEMPLATE} and the code do not match: {error}")
    for path, text in outputs.items():
        if not check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            sys.exit(f"{path.relative_to(ROOT)} is not what python -m dev.api_docs writes: run it")

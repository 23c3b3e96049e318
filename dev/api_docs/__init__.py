"""Writes ``docs/api.md``, the API reference: the prose is ``template.md``, next to this file; the
code fills each of its placeholders from the method registry, the catalog, the answer schemas and
the service's own constants. A test checks that the committed file is exactly what this writes.

    python -m dev.api_docs [--check]

Every name, verb, parameter, status, answer field, type, default and limit comes from the code,
so a change there shows up as a failing ``--check``; a placeholder without a value, or a value
without a placeholder, fails the generator.
"""

import pathlib
import sys

from dev.api_docs import catalog, error_codes, methods, values
from dev.api_docs.error_codes import ERROR_CODES
from dev.api_docs.fill import TemplateError, contents, fill, merge, read_template
from dev.generated import write_or_check
from dev.run import LOCAL_SETTINGS

__all__ = ["DOCUMENT", "ERROR_CODES", "LOCAL_SETTINGS", "TEMPLATE", "TemplateError", "main", "render"]

DOCUMENT = pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "api.md"
TEMPLATE = pathlib.Path(__file__).resolve().parent / "template.md"


def render(template=None):
    """The text of docs/api.md, from ``template`` (by default the text of template.md, without its
    first line)."""
    template = read_template(TEMPLATE) if template is None else template
    methods.check_order(template)
    text = fill(template, merge({"contents": contents(template)}, values.values(), methods.values(),
                                catalog.values(), error_codes.values()))
    return text.rstrip("\n") + "\n"


def main(argv=None):
    try:
        text = render()
    except TemplateError as error:
        sys.exit(f"{TEMPLATE} and the code do not match: {error}")
    write_or_check({DOCUMENT: text}, "python -m dev.api_docs", argv)

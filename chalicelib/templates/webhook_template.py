"""A webhook's template (contract, section 21): checked when it is set, kept in the webhook item
(never in its owner's listing), and applied to each delivered body.

Kept as given: ``{"body": "<Mustache>", "contentType": "application/json" | "text/plain"}`` or
``{"preset": "slack" | "teams"}``. It is rendered over the section-4 body (``{{type}}``,
``{{data.personID}}``...). In a JSON template ``{{x}}`` writes the value's JSON string escaping
without the quotes (templates write ``"{{data.name}}"``), and ``{{{x}}}`` the value as JSON
text (an object as itself). The body that goes out must be valid JSON (a JSON template's) and at
most 64 KiB, and rendering takes at most ``MAX_STEPS`` steps of work: see
:mod:`chalicelib.templates.mustache` for what a step is, and why this renderer.
"""

import functools
import json

from chalicelib import strict_json
from chalicelib.errors import InvalidParameter
from chalicelib.occurrences import MAX_DELIVERED_BODY
from chalicelib.templates import presets
from chalicelib.templates.mustache import RenderLimit, TemplateSyntaxError, json_escape, parse, render

MAX_TEMPLATE_BYTES = 4 * 1024
CONTENT_TYPES = ("application/json", "text/plain")
# At most about 2 ms of one core, whatever the template and the body (the costliest shapes per
# step, on the 2-core machine the tests run on: tests/service/test_templates.py times them against
# parsing the body); a template that writes a line for each of 300 people takes about 5,000.
MAX_STEPS = 10_000
_FIELD = "template"


class TemplateFailed(Exception):
    """The template could not make this delivery's body; the message says why, for the log."""


def check(value, examples):
    """The template given to webhook.create or webhook.update, in the form it is kept, or None
    for ``{}`` (no template). ``examples`` are delivered bodies (section 4's JSON text), one per
    type of the webhook: each is rendered, and a template that does not parse, renders invalid
    JSON or more than 64 KiB, or needs more than its work budget for one of them, is refused
    with :class:`InvalidParameter` on ``template``."""
    if not isinstance(value, dict):
        raise InvalidParameter("template must be a JSON object", field=_FIELD)
    if not value:
        return None
    if "preset" in value:
        if set(value) != {"preset"} or value["preset"] not in presets.PRESETS:
            raise InvalidParameter('a preset template is {"preset": "slack"} or {"preset": "teams"}',
                                   field=_FIELD)
        template = {"preset": value["preset"]}
    else:
        unknown = sorted(set(value) - {"body", "contentType"})
        if unknown:
            raise InvalidParameter(f"template takes body and contentType (or preset), not {unknown[0][:40]}",
                                   field=_FIELD)
        body, content_type = value.get("body"), value.get("contentType", CONTENT_TYPES[0])
        if not isinstance(body, str):
            raise InvalidParameter("template's body must be a Mustache template, as a string", field=_FIELD)
        if content_type not in CONTENT_TYPES:
            raise InvalidParameter("template's contentType must be application/json or text/plain", field=_FIELD)
        if len(body.encode("utf-8")) > MAX_TEMPLATE_BYTES:
            raise InvalidParameter(f"template's body must be at most {MAX_TEMPLATE_BYTES // 1024} KiB of UTF-8",
                                   field=_FIELD)
        try:
            _parsed(body)
        except TemplateSyntaxError as exc:
            raise InvalidParameter(f"template does not parse: {exc}", field=_FIELD) from exc
        template = {"body": body, "contentType": content_type}
    for example in examples:
        try:
            shaped(template, example)
        except TemplateFailed as exc:
            kind = json.loads(example).get("type")
            raise InvalidParameter(f"template, rendered over the example of {kind}: {exc}", field=_FIELD) from exc
    return template


@functools.lru_cache(maxsize=256)
def _parsed(text):
    return parse(text)


def shaped(template, body):
    """``(text, content type)``: the body a webhook with ``template`` is sent, made from
    ``body`` (section 4's JSON text). Raise :class:`TemplateFailed` when it cannot be made
    within the bounds; neither the template nor the body can make it cost more than
    ``MAX_STEPS`` of work and 64 KiB of output."""
    payload = json.loads(body)
    try:
        if "preset" in template:
            text = json.dumps(presets.message(template["preset"], payload, MAX_STEPS), ensure_ascii=False,
                              separators=(",", ":"))
            content_type = CONTENT_TYPES[0]
        else:
            content_type = template["contentType"]
            escape = json_escape if content_type == "application/json" else None
            text = render(_parsed(template["body"]), payload, escape=escape, max_steps=MAX_STEPS,
                          max_output=MAX_DELIVERED_BODY)
    except RenderLimit as exc:
        if str(exc) == "output":
            raise TemplateFailed(f"the rendered body would exceed {MAX_DELIVERED_BODY // 1024} KiB") from exc
        raise TemplateFailed(f"the template needs more than {MAX_STEPS:,} steps of work to render") from exc
    except TemplateSyntaxError as exc:  # a template kept before a change of the renderer
        raise TemplateFailed(f"the template does not parse: {exc}") from exc
    if len(text.encode("utf-8")) > MAX_DELIVERED_BODY:
        raise TemplateFailed(f"the rendered body would exceed {MAX_DELIVERED_BODY // 1024} KiB")
    if content_type == "application/json":
        try:
            strict_json.loads(text)
        except strict_json.StrictJSONError as exc:
            raise TemplateFailed(f"the rendered body {exc}") from exc
    return text, content_type

"""A logic-less Mustache renderer whose work and output are bounded (contract, section 21).

A webhook's template is tenant input that runs on the shared delivery workers, so whatever the
template and the data, rendering must stop within a few milliseconds of CPU and a bounded
output, and must never run code or read anything but the data it is given. This renderer
counts its work (every node rendered and every context frame a name lookup walks) against
``max_steps`` and the text it writes against ``max_output``, and stops with
:class:`RenderLimit` at the first that runs out.

Why not a library. chevron 0.14 and pystache 0.6.8, the well-kept Python implementations,
render the same templates, but neither can be bounded from outside:

- they have no hook on their work or their output. Nested sections over a list cost the
  product of the list's length at each level: two levels over 300 items took 50 to 90 ms of
  CPU here, and a third level would take tens of seconds. A 4 KiB literal inside one section
  over a list of 5,000 items wrote 20 MB in 15 to 30 ms. Counting lookups through proxy
  objects in the data would not see literal text, nor the empty sections whose every
  iteration costs work and writes nothing;
- a Python thread cannot be stopped from outside, and a process per render costs more than
  the render's whole budget;
- chevron reads partials (``{{> name}}``) from the file system by default, relative to the
  working directory (``{{> ../../etc/x}}`` included), and escapes values for HTML, not JSON.

What it implements, of the Mustache specification: variables (``{{name}}``, dotted names,
``{{.}}``), unescaped variables (``{{{name}}}``, ``{{& name}}``), sections over lists, objects
and other non-false values, inverted sections, comments, delimiter changes (``{{=<% %>=}}``),
and standalone lines (a line holding only a section, comment or delimiter tag leaves no
trace). Partials and template inheritance are refused when the template is parsed: a
template is one piece of text, with nothing to load. The data is parsed JSON, so there are no
lambdas: nothing in it can be called.

Values are written as JSON writes them (``true``, ``12``, ``1.5``; objects and lists as their
compact JSON text), a missing value or ``null`` as nothing. ``{{name}}`` passes the text
through the caller's ``escape`` (JSON string escaping, for a JSON template); ``{{{name}}}`` and
``{{& name}}`` write it as it is. Falsy, for a section: ``false``, ``null``, ``0``, ``""`` and
``[]`` (as mustache.js reads them); an empty object is truthy.
"""

import json
import re

DEFAULT_DELIMITERS = ("{{", "}}")
MAX_SECTION_DEPTH = 16  # sections inside sections; the contract's data nests at most 32 levels


class TemplateSyntaxError(ValueError):
    """The template does not parse; the message says what and where, in words for a caller."""


class RenderLimit(Exception):
    """Rendering ran out of its work or output budget; the message says which."""


# Nodes, as tuples (cheaper to walk than objects): (TEXT, text), (VARIABLE, name, escaped),
# (SECTION, name, children, inverted). A name is a tuple of its dotted parts; ``.`` is ().
TEXT, VARIABLE, SECTION = 0, 1, 2
_STANDALONE_KINDS = "#^/!="  # tags that may stand alone on a line, and take the line with them
_REST_OF_LINE = re.compile(r"[ \t]*(?:\r?\n|\Z)")


def parse(template):
    """The nodes of ``template`` (a str); raise :class:`TemplateSyntaxError` when it does not
    parse. Linear in the template's length."""
    root = []
    stack = [(None, root, 0)]  # (section name as written, its children, where it opened)
    opening, closing = DEFAULT_DELIMITERS
    position = 0
    length = len(template)
    while position < length:
        start = template.find(opening, position)
        if start < 0:
            stack[-1][1].append((TEXT, template[position:]))
            break
        inner_start = start + len(opening)
        sigil = template[inner_start:inner_start + 1]
        kind = sigil if sigil and sigil in "{&#^/!=><$" else ""
        end_marker = {"{": "}" + closing, "=": "=" + closing}.get(kind, closing)
        end = template.find(end_marker, inner_start + len(kind))
        if end < 0:
            raise TemplateSyntaxError(f"the tag opened at character {start + 1} is not closed with {end_marker}")
        tag_end = end + len(end_marker)
        content = template[inner_start + len(kind):end]

        # A standalone tag takes its whole line (indentation and line ending) with it. Both
        # sides are looked at only as far as the text since the last tag and the blanks after
        # this one, so parsing stays linear.
        text_end, next_position = start, tag_end
        if kind in _STANDALONE_KINDS and kind:
            line_start = template.rfind("\n", position, start) + 1 or position
            at_line_start = line_start > position or position == 0 or template[position - 1] == "\n"
            rest = _REST_OF_LINE.match(template, tag_end)
            if at_line_start and rest and not template[line_start:start].strip(" \t"):
                text_end, next_position = line_start, rest.end()
        if text_end > position:
            stack[-1][1].append((TEXT, template[position:text_end]))
        position = next_position

        if kind == "!":
            continue
        if kind == "=":
            opening, closing = _delimiters(content, start)
            continue
        if kind == ">":
            raise TemplateSyntaxError(f"partials ({opening}> name{closing}) are not supported: a template is one "
                                      f"piece of text (character {start + 1})")
        if kind in ("<", "$"):
            raise TemplateSyntaxError(f"template inheritance ({opening}{kind}name{closing}) is not supported "
                                      f"(character {start + 1})")
        name_text = content.strip()
        name = _name(name_text, start)
        if kind in ("#", "^"):
            if len(stack) > MAX_SECTION_DEPTH:
                raise TemplateSyntaxError(f"sections nest at most {MAX_SECTION_DEPTH} deep (character {start + 1})")
            children = []
            stack[-1][1].append((SECTION, name, children, kind == "^"))
            stack.append((name_text, children, start))
        elif kind == "/":
            open_name, _, opened_at = stack[-1]
            if open_name is None:
                raise TemplateSyntaxError(f"{opening}/{name_text}{closing} at character {start + 1} closes no section")
            if open_name != name_text:
                raise TemplateSyntaxError(f"{opening}/{name_text}{closing} at character {start + 1} does not close "
                                          f"the section {open_name!r} opened at character {opened_at + 1}")
            stack.pop()
        else:
            stack[-1][1].append((VARIABLE, name, kind == ""))
    if len(stack) > 1:
        open_name, _, opened_at = stack[-1]
        raise TemplateSyntaxError(f"the section {open_name!r} opened at character {opened_at + 1} is not closed")
    return tuple(root)


def _name(text, at):
    if text == ".":
        return ()
    parts = tuple(text.split("."))
    if not text or any(not part or part.isspace() or any(c.isspace() for c in part) for part in parts):
        raise TemplateSyntaxError(f"the tag at character {at + 1} names no value ({text[:40]!r})")
    return parts


def _delimiters(content, at):
    parts = content.split()
    if len(parts) != 2 or any("=" in part for part in parts):
        raise TemplateSyntaxError(f"a delimiter change at character {at + 1} must give two delimiters, such as "
                                  "{{=<% %>=}}")
    return parts[0], parts[1]


_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_JSON_STRING = json.JSONEncoder(ensure_ascii=False).encode  # a str takes the C encoder's direct path


def json_text(value):
    """A value as a template writes it (see the module docstring): text as it is, the rest as JSON."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value)  # what JSON writes for a finite float (strict JSON holds no other)
    return _COMPACT_JSON(value)


def json_escape(text):
    """JSON string escaping, without the quotes: what ``{{name}}`` writes in a JSON template."""
    return _JSON_STRING(text)[1:-1]


def _falsy(value):
    return value is None or value is False or value == "" or value == [] or (
        type(value) in (int, float) and value == 0)


class _Budget:
    """What one render may still spend: steps of work and characters of output."""

    __slots__ = ("steps", "chars")

    def __init__(self, steps, chars):
        self.steps = steps
        self.chars = chars


def render(nodes, data, escape=None, max_steps=20_000, max_output=64 * 1024):
    """``nodes`` (from :func:`parse`) rendered over ``data`` (parsed JSON), as text.

    ``escape`` turns the text of each ``{{name}}`` into what is written (None: as it is).
    Raise :class:`RenderLimit` once the render has taken ``max_steps`` steps or written more
    than ``max_output`` characters: neither the template nor the data can make it cost more.
    """
    out = []
    budget = _Budget(max_steps, max_output)
    _render(nodes, [data], escape, out, budget)
    return "".join(out)


def _lookup(name, stack, budget):
    if not name:
        budget.steps -= 1
        return stack[-1]
    first = name[0]
    value = None
    for frame in reversed(stack):
        budget.steps -= 1
        if isinstance(frame, dict) and first in frame:
            value = frame[first]
            break
    else:
        return None
    for part in name[1:]:
        budget.steps -= 1
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _write(text, out, budget):
    budget.chars -= len(text)
    if budget.chars < 0:
        raise RenderLimit("output")
    out.append(text)


def _render(nodes, stack, escape, out, budget):
    for node in nodes:
        budget.steps -= 1
        if budget.steps < 0:
            raise RenderLimit("work")
        kind = node[0]
        if kind == TEXT:
            _write(node[1], out, budget)
        elif kind == VARIABLE:
            value = _lookup(node[1], stack, budget)
            text = json_text(value)
            if text:
                # Writing a value costs by its length, and an object or list its encoding too.
                budget.steps -= 2 + (len(text) >> 5) + (8 if type(value) in (dict, list) else 0)
                # Measured before escaping too: escaping at most sextuples it, but costs time.
                if len(text) > budget.chars:
                    raise RenderLimit("output")
                _write(escape(text) if node[2] and escape is not None else text, out, budget)
        else:
            value = _lookup(node[1], stack, budget)
            if node[3]:
                if _falsy(value):
                    _render(node[2], stack, escape, out, budget)
            elif isinstance(value, list):
                for item in value:
                    budget.steps -= 1
                    if budget.steps < 0:
                        raise RenderLimit("work")
                    stack.append(item)
                    _render(node[2], stack, escape, out, budget)
                    stack.pop()
            elif not _falsy(value):
                stack.append(value)
                _render(node[2], stack, escape, out, budget)
                stack.pop()

"""The template of docs/api.md and how it is filled: ``{{name}}`` placeholders, each replaced by a
value from the code. Filling is strict, so the template and the code cannot drift apart: a
placeholder without a value, a value without a placeholder, or a malformed placeholder fails."""

import re

# A name in lower case, and for a placeholder of a family (one per method, say) a colon and a key.
PLACEHOLDER = re.compile(r"\{\{([a-z][a-z0-9_]*(?::[A-Za-z0-9_.]+)?)\}\}")


class TemplateError(ValueError):
    """The template and the values given for it do not match."""


def read_template(path):
    """The template without its first line, an HTML comment that says what the file is."""
    first, _, body = path.read_text(encoding="utf-8").partition("\n")
    if not (first.startswith("<!--") and first.endswith("-->")):
        raise TemplateError(f"{path}: the first line must be an HTML comment saying what the file is")
    return body


def placeholders(template):
    """The placeholders' names, in the order they appear (repeated when used again)."""
    return [match.group(1) for match in PLACEHOLDER.finditer(template)]


def merge(*parts):
    """One dictionary of values from several, refusing a name given twice."""
    values = {}
    for part in parts:
        twice = values.keys() & part.keys()
        if twice:
            raise TemplateError(f"values given twice: {', '.join(sorted(twice))}")
        values.update(part)
    return values


def fill(template, values):
    """``template`` with every placeholder replaced by ``str()`` of its value."""
    malformed = [line for line in PLACEHOLDER.sub("", template).splitlines() if "{{" in line]
    if malformed:
        raise TemplateError("malformed placeholder in: " + " / ".join(malformed))
    used = set(placeholders(template))
    problems = []
    if used - values.keys():
        problems.append("placeholders without a value: " + ", ".join(sorted(used - values.keys())))
    if values.keys() - used:
        problems.append("values for no placeholder: " + ", ".join(sorted(values.keys() - used)))
    if problems:
        raise TemplateError("; ".join(problems))
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)


def anchor(text):
    """GitHub's anchor for a heading."""
    kept = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return "#" + kept.replace(" ", "-")


def contents(template):
    """A list of links to the template's sections (its ``## `` headings, outside code blocks)."""
    titles, in_code = [], False
    for line in template.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif line.startswith("## ") and not in_code:
            titles.append(line[3:])
    return "\n".join(f"- [{title}]({anchor(title)})" for title in titles)

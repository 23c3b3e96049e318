"""The method registry (chalicelib/api/registry.py) in docs/api.md: the lists of read, write and
admin-only methods, the parameter kinds, the methods' index, and for each method the block that
opens its section (``{{method:NAME}}``) and the one that closes it (``{{answer:NAME}}``). The
prose between those two is the template's."""

from chalicelib.api.edge import METHODS
from chalicelib.api.registry import KINDS, READ
from dev.api_docs.fill import TemplateError, anchor, placeholders
from dev.api_docs.schemas import answer_lines


def _names(names):
    return ", ".join(f"`{name}`" for name in names)


def _verbs(method):
    return " or ".join(f"`{verb}`" for verb in sorted(method.verbs))


def _opening(name, method):
    """A method's heading, summary, verbs and parameter table."""
    lines = [f"### {name}", "", method.summary, "",
             f"Verbs: {_verbs(method)}." + (" Admin tokens only." if method.admin else ""), ""]
    if method.params:
        lines += ["| parameter | kind | required | meaning |", "| --- | --- | --- | --- |"]
        lines += [f"| `{p.name}` | `{p.kind}` | {'yes' if p.required else 'no'} | {p.summary} |"
                  for p in method.params]
    else:
        lines.append("No parameters besides the token.")
    return "\n".join(lines)


def check_order(template):
    """The template's method sections follow the registry's order, each opened and then closed."""
    found = [name for name in placeholders(template) if name.startswith(("method:", "answer:"))]
    expected = [f"{part}:{name}" for name in METHODS for part in ("method", "answer")]
    if found != expected:
        at = next((i for i, (have, want) in enumerate(zip(found, expected)) if have != want),
                  min(len(found), len(expected)))
        have = f"{{{{{found[at]}}}}}" if at < len(found) else "nothing more"
        want = f"{{{{{expected[at]}}}}}" if at < len(expected) else "nothing more"
        raise TemplateError(f"method sections: the registry's order wants {want} where the template has {have}")


def values():
    """The values of the placeholders about methods."""
    result = {
        "read_methods": _names(name for name, m in METHODS.items() if m.verbs == READ),
        "write_methods": _names(name for name, m in METHODS.items() if m.verbs != READ),
        "admin_methods": _names(name for name, m in METHODS.items() if m.admin),
        "parameter_kinds": "\n".join(f"| `{kind}` | {text} |" for kind, text in KINDS.items()),
        "methods": "\n".join(f"| [`{name}`]({anchor(name)}) | {_verbs(m)} | `{m.status}` | {m.summary} |"
                             for name, m in METHODS.items()),
    }
    for name, method in METHODS.items():
        result[f"method:{name}"] = _opening(name, method)
        result[f"answer:{name}"] = "\n".join(answer_lines(method))
    return result

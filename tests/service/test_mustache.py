"""The templates' Mustache renderer (chalicelib/templates/mustache.py): the language as pystache
renders it, JSON escaping, what it refuses, and its bounds."""

import json

import pystache
import pytest

from chalicelib.templates.mustache import RenderLimit, TemplateSyntaxError, json_escape, parse, render

DATA = {"type": "eventCheckIn", "n": 3, "f": 1.5, "t": True, "z": None, "e": "", "l": [1, 2, 3],
        "o": {"a": "x", "b": {"c": "deep"}}, "people": [{"name": "Ana"}, {"name": "Bo"}], "empty": [],
        "data": {"name": "Ana Souza", "personID": "5521"}}

# The specification's features a template uses, each as pystache (a well-kept implementation of
# the specification) renders it: values, dotted names, sections, inverted sections, comments,
# delimiter changes, whitespace and standalone lines.
AS_PYSTACHE = [
    "Hello {{type}}!", "{{o.b.c}}", "{{ o.a }}", "{{missing}}{{missing.x}}", "{{n}} {{f}}",
    "{{#people}}{{name}},{{/people}}", "{{^empty}}none{{/empty}}", "{{#o}}{{a}}{{type}}{{/o}}", "{{#o.b}}{{c}}{{/o.b}}",
    "{{#l}}{{.}}{{/l}}", "x{{#z}}no{{/z}}y", "{{#e}}no{{/e}}{{^e}}empty{{/e}}", "{{#l}}{{#people}}{{name}}{{/people}}{{/l}}",
    "{{#data.name}}{{data.name}}{{/data.name}}{{^data.name}}Person {{data.personID}}{{/data.name}}",
    "{{! a comment }}x", "a\n  {{! c }}\nb", "a\n{{!\nmany\nlines\n}}\nb", "{{{type}}} {{&type}}",
    "{{#people}}\n- {{name}}\n{{/people}}\n", "  {{#t}}\n  yes\n  {{/t}}\n", "|\r\n{{#t}}\r\n{{/t}}\r\n|",
    "  {{#l}}{{.}}{{/l}}\n", "{{#t}}\n{{/t}}", "a {{#t}}b{{/t}}\n",
    "{{=<% %>=}}<% type %>", "begin\n{{=| |=}}\n|type|\n|={{ }}=|\n{{type}}", "{{=[ ]=}}[#l][.][/l]",
]


@pytest.mark.parametrize("template", AS_PYSTACHE)
def test_it_renders_what_pystache_renders(template):
    reference = pystache.Renderer(escape=lambda text: text, missing_tags="ignore")
    assert render(parse(template), DATA) == reference.render(template, DATA)


def test_values_are_written_as_json_writes_them():
    assert render(parse("{{t}} {{z}}|{{n}} {{f}} {{o}} {{l}}"), DATA) == 'true |3 1.5 {"a":"x","b":{"c":"deep"}} [1,2,3]'


def test_a_value_is_json_string_escaped_without_its_quotes():
    name = 'Ana "A" \\ Souza\n\t\u2028 é 😀 </script>'
    rendered = render(parse('{"name": "{{name}}", "raw": {{{o}}}}'), {"name": name, "o": DATA["o"]}, escape=json_escape)
    assert json.loads(rendered) == {"name": name, "raw": DATA["o"]}


@pytest.mark.parametrize("template, says", [
    ("{{#a}}", "not closed"), ("{{/a}}", "closes no section"), ("{{#a}}{{/b}}", "does not close"),
    ("{{> partial}}", "partials"), ("{{> ../../etc/passwd}}", "partials"), ("{{<parent}}{{/parent}}", "inheritance"),
    ("{{$block}}{{/block}}", "inheritance"), ("{{x", "not closed"), ("{{}}", "names no value"), ("{{a b}}", "names no value"),
    ("{{a..b}}", "names no value"), ("{{=a=}}", "two delimiters"), ("{{#a}}" * 17 + "{{/a}}" * 17, "nest at most"),
])
def test_what_does_not_parse_is_refused_with_where(template, says):
    with pytest.raises(TemplateSyntaxError, match=says):
        parse(template)


def test_nothing_but_the_datas_own_keys_can_be_reached():
    # Names are looked up in the JSON objects only: no attributes, no methods, no files.
    assert render(parse("{{data.__class__}}{{data.keys}}{{type.upper}}{{l.0}}"), DATA) == ""


def test_work_is_bounded_by_steps_whatever_the_data():
    with pytest.raises(RenderLimit, match="work"):
        render(parse("{{#l}}" * 16 + "{{/l}}" * 16), {"l": list(range(100))}, max_steps=10_000)  # 100**16 turns
    assert render(parse("{{#l}}" * 3 + "x" + "{{/l}}" * 3), {"l": [1, 2]}, max_steps=10_000) == "x" * 8


def test_output_is_bounded_whatever_the_data():
    with pytest.raises(RenderLimit, match="output"):
        render(parse("{{#l}}{{{o}}}{{/l}}"), {"l": [0] * 50, "o": {"k": "v" * 10_000}}, max_output=64 * 1024)

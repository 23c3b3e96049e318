"""The API reference (docs/api.md): up to date with the code, and naming everything a user meets."""

import inspect
import pathlib
import re

import pytest

from chalicelib import errors
from chalicelib.delivery import destinations
from dev import api_docs

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_committed_reference_is_what_the_generator_writes():
    assert api_docs.DOCUMENT.read_text() == api_docs.render(), "run: python -m dev.api_docs"


def test_every_error_code_the_service_answers_is_listed():
    classes = [cls for module in (errors, destinations) for _, cls in inspect.getmembers(module, inspect.isclass)
               if issubclass(cls, errors.ServiceError) and cls is not errors.ServiceError]
    given = {match for path in (ROOT / "chalicelib").glob("*.py")
             for match in re.findall(r'\bcode="([a-z_]+)"', path.read_text())}
    listed = {code for code, _, _ in api_docs.ERROR_CODES}
    assert {cls.code for cls in classes} | given <= listed


def test_every_listed_error_code_has_the_status_its_class_answers():
    text = api_docs.DOCUMENT.read_text()
    for code, cls, _ in api_docs.ERROR_CODES:
        assert f"| `{code}` | `{cls.status}` |" in text


def test_every_setting_the_service_and_the_local_run_read_is_described():
    sources = [ROOT / "chalicelib" / "settings.py", ROOT / "dev" / "run.py", ROOT / "dev" / "worker.py"]
    names = {name for path in sources
             for name in re.findall(r'(?:env\.get\(|environ\.get\(|_whole_number\(env, )"([A-Z][A-Z0-9_]+)"',
                                    path.read_text())}
    names |= {name for name, _, _ in api_docs.LOCAL_SETTINGS}
    names -= {"LOCAL_EVENTS_QUEUE_URL"}  # set by make run for its own worker, not by users
    settings = api_docs.render().split("## Settings", 1)[1].split("\n## ", 1)[0]
    assert names and not {name for name in names if f"`{name}`" not in settings}


def test_nothing_in_the_readme_or_the_docs_points_outside_the_repository():
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = path.read_text()
        assert "../shared" not in text, path
        assert not re.search(r"\]\(\.\./", text), path


@pytest.mark.parametrize("change", [
    lambda text: text + "{{ max_bodies }}",  # a name the code gives no value
    lambda text: text.replace("{{max_body_mib}}", "10"),  # a value the text no longer shows
    lambda text: text.replace('{{ answer("webhook.find") }}', ""),  # a method's section left unclosed
])
def test_a_template_that_the_code_does_not_fill_exactly_fails_the_generator(change):
    with pytest.raises(api_docs.TemplateError):
        api_docs.render(change(api_docs.TEMPLATE.read_text()))

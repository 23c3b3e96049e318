"""Dependencies point one way: tests may use dev/ and chalicelib/, never the other way round."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = sorted(path for folder in ("dev", "chalicelib") for path in (ROOT / folder).rglob("*.py"))


def imported_modules(path):
    """Every module that ``path`` imports, wherever in the file the import is."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_module_of_the_service_or_its_tools_imports_the_tests(path):
    assert not [name for name in imported_modules(path) if name == "tests" or name.startswith("tests.")]


def test_the_check_sees_an_import_of_the_tests_wherever_it_is(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def f():\n    from tests.receiver import Receiver\nimport tests\n")
    assert set(imported_modules(module)) == {"tests.receiver", "tests"}


SERVICE_MODULES = sorted((ROOT / "chalicelib").rglob("*.py"))


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_and_package_of_the_service_says_what_it_holds(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.relative_to(ROOT)} has no module docstring"

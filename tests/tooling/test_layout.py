"""The service's layout: its layers, and dependencies that point one way (import-linter's
contracts in .importlinter, drawn in docs/architecture.md); every module says what it holds; no
test module imports another."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def lint_imports(config, cwd):
    """import-linter's verdict on ``config`` (exit code and report), run as CI would run it."""
    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())", "--config", str(config), "--no-cache"],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_every_module_keeps_to_the_layers_and_imports_point_one_way():
    code, report = lint_imports(ROOT / ".importlinter", ROOT)
    assert code == 0, report


def test_the_check_sees_a_module_that_imports_a_layer_above_its_own(tmp_path):
    package = tmp_path / "service"
    for name, text in {"__init__.py": "", "api.py": "from service import store\n",
                       "store.py": "def f():\n    from service import api\n"}.items():
        (package / name).parent.mkdir(exist_ok=True)
        (package / name).write_text(text)
    (tmp_path / "layers.ini").write_text("[importlinter]\nroot_packages =\n    service\n\n[importlinter:contract:l]\n"
                                         "name = layers\ntype = layers\nlayers =\n    service.api\n    service.store\n")
    code, report = lint_imports(tmp_path / "layers.ini", tmp_path)
    assert code == 1 and "service.store -> service.api" in report, report


SERVICE_MODULES = sorted((ROOT / "chalicelib").rglob("*.py"))


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_and_package_of_the_service_says_what_it_holds(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path.relative_to(ROOT)} has no module docstring"



def imports_between_test_modules(package):
    """(importer, imported) for each test module of ``package`` that imports another test module,
    from the import graph that import-linter reads (grimp): shared helpers belong in a conftest.py
    or a helpers module."""
    import grimp

    graph = grimp.build_graph(package, cache_dir=None)

    def is_test(module):
        return module.rsplit(".", 1)[-1].startswith("test_")

    return sorted((importer, imported) for importer in graph.modules if is_test(importer)
                  for imported in graph.find_modules_directly_imported_by(importer) if is_test(imported))


def test_no_test_module_imports_another():
    assert imports_between_test_modules("tests") == []


def test_the_check_sees_a_test_module_that_imports_another(tmp_path, monkeypatch):
    package = tmp_path / "suite"
    package.mkdir()
    for name, text in {"__init__.py": "", "helpers.py": "shared = 1\n", "test_b.py": "from suite.helpers import shared\n",
                       "test_a.py": "from suite.test_b import shared\n"}.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert imports_between_test_modules("suite") == [("suite.test_a", "suite.test_b")]

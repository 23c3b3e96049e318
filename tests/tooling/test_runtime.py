"""The Lambda runtime the stack declares, and the SDK surface the service relies on.

AWS blocks the creation of functions on a runtime some weeks after deprecating it: a stack that
names such a runtime fails at ``sam deploy`` or ``terraform apply``. The table below is AWS's
("Building Lambda functions with Python", docs.aws.amazon.com/lambda/latest/dg/lambda-python.html,
as read on 2026-12-02; docs/deploy.md quotes it). AWS has moved these dates before: when it does,
update the table, not the test.
"""

import ast
import datetime
import json
import pathlib
import subprocess
import sys

from dev.package import RUNTIME
from tests.tooling.helpers import assert_creatable

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_guard_refuses_a_runtime_whose_creation_is_blocked():
    assert_creatable("python3.13", datetime.date(2026, 12, 2))
    for runtime in ("python3.9", "python3.10"):
        try:
            assert_creatable(runtime, datetime.date(2026, 12, 2))
        except AssertionError:
            continue
        raise AssertionError(f"{runtime} passed the guard")


def test_the_stack_runs_on_python_3_13_with_powertools_built_for_it():
    assert RUNTIME == "python3.13"
    assert_creatable(RUNTIME)
    resources = json.loads((ROOT / ".chalice" / "resources.json").read_text())
    (layer,) = resources["Globals"]["Function"]["Layers"]
    assert ":layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:" in layer["Fn::Sub"]
    assert "python313-x86_64" in (ROOT / "dev" / "terraform.py").read_text()


def test_chalice_deploy_would_create_the_functions_on_a_runtime_aws_accepts():
    # `chalice deploy` takes the runtime from the Python it runs on; the Makefile's venv is 3.13.
    probe = ("from chalice.cli.factory import CLIFactory;"
             "print(CLIFactory('.').create_config_obj('prod').lambda_python_version)")
    runtime = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    assert runtime == RUNTIME
    assert_creatable(runtime)


# The SDK the service uses is the one in the Lambda runtime, unpinned: only its public surface.
PUBLIC_SDK_MODULES = {"boto3", "boto3.dynamodb.types", "boto3.dynamodb.conditions", "botocore",
                      "botocore.config", "botocore.exceptions"}


def private_sdk_uses(source):
    """The places in ``source`` that import an undocumented boto3/botocore module or reach a
    private name (``client._request_signer``, ``getattr(client, "_endpoint")``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] in ("boto3", "botocore") and module not in PUBLIC_SDK_MODULES:
                found.append(f"line {node.lineno}: import of {module}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Attribute) and node.value.attr in ("meta", "_client", "client", "_sqs",
                                                                                  "_dynamodb", "sqs", "dynamodb")):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_private_name_check_catches_what_it_looks_for():
    assert private_sdk_uses("from botocore.parsers import create_parser") != []
    assert private_sdk_uses("signer = getattr(self._client, '_request_signer', None)") != []
    assert private_sdk_uses("self._client._endpoint.host") != []
    assert private_sdk_uses("from botocore.exceptions import ClientError\nimport boto3") == []


def test_nothing_in_the_service_uses_a_private_name_of_boto3_or_botocore():
    found = {str(path.relative_to(ROOT)): uses for path in sorted((ROOT / "chalicelib").rglob("*.py"))
             if (uses := private_sdk_uses(path.read_text()))}
    assert found == {}

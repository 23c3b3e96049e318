"""The published API description: valid, true to the code, and holding against a fuzzer."""

import json
import os
import pathlib
import subprocess
import sys

import yaml
from openapi_spec_validator import validate

from chalicelib.api.edge import METHODS
from chalicelib.catalog import CATALOG

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "chalicelib" / "openapi.yaml"


def load():
    return yaml.safe_load(DOCUMENT.read_text())


def test_the_document_is_valid_openapi_3_1():
    document = load()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_committed_document_is_what_the_generator_writes():
    from dev import openapi

    assert DOCUMENT.read_text() == openapi.render(), "run: python -m dev.openapi"
    assert DOCUMENT.with_suffix(".json").read_text() == openapi.render_json(), "run: python -m dev.openapi"
    assert json.loads(openapi.render_json()) == load()


def test_every_delivered_type_is_described_with_its_headers_and_an_example_that_fits():
    from jsonschema import Draft202012Validator

    described = load()["webhooks"]
    assert list(described) == list(CATALOG)
    for name, webhook in described.items():
        content = webhook["post"]["requestBody"]["content"]["application/json"]
        assert not list(Draft202012Validator(content["schema"]).iter_errors(content["example"])), name
        assert {p["name"] for p in webhook["post"]["parameters"]} >= {"webhook-id", "webhook-timestamp",
                                                                       "webhook-signature"}


def test_every_method_is_described_with_its_verbs_and_parameters():
    paths = load()["paths"]
    assert set(paths) == {f"/api/{name}" for name in METHODS}
    for name, method in METHODS.items():
        operations = paths[f"/api/{name}"]
        assert {verb.upper() for verb in operations} == set(method.verbs), name
        for verb, operation in operations.items():
            if verb == "get":
                described = {p["name"] for p in operation["parameters"]}
            else:
                content = operation["requestBody"]["content"]
                assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
                described = set(content["application/json"]["schema"]["properties"])
            assert described == set(method.param_names), (name, verb)
            if verb == "get":
                required = {p["name"] for p in operation["parameters"] if p["required"]}
            else:
                required = set(content["application/json"]["schema"].get("required", []))
            assert required == {p.name for p in method.params if p.required}, (name, verb)
            assert {"400", "401", "403", "404", "405", "413"} <= set(operation["responses"]), name


def test_the_service_serves_its_description(client):
    response = client.http.get("/openapi.yaml")
    assert response.status_code == 200 and yaml.safe_load(response.body) == load()


def test_a_fuzzer_finds_no_server_error_and_no_answer_that_breaks_the_document(start_local_service, tmp_path):
    # Nothing private is reachable in this run: fuzzed URLs must not reach this machine.
    service = start_local_service(WEBHOOK_ALLOW_NETWORKS="", DELIVERY_TIMEOUT_SECONDS="1")
    service.wait_ready()
    examples = os.environ.get("FUZZ_EXAMPLES", "15")
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(DOCUMENT), "--url", f"http://127.0.0.1:{service.port}",
         "--header", f"Authorization: Bearer {service.token}", "--checks", "all",
         # A schema cannot say which URLs resolve to public addresses, nor which IDs exist, so
         # schema-valid input may rightly be refused: that one check does not apply.
         "--exclude-checks", "positive_data_acceptance",
         "--max-examples", examples, "--seed", "20261127", "--request-timeout", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

"""The published API description: valid and true to the code (the fuzzer against it on the local run:
tests/local/test_api_fuzzing.py)."""

import json
import pathlib

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
    from dev import api_docs

    assert DOCUMENT.read_text() == api_docs.render_yaml(), "run: python -m dev.api_docs"
    assert DOCUMENT.with_suffix(".json").read_text() == api_docs.render_json(), "run: python -m dev.api_docs"
    assert json.loads(api_docs.render_json()) == load()


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

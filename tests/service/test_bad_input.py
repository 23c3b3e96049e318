"""Bad input everywhere: every method, parameter and carrier answers 4xx in the contract's shape
and stores nothing."""

import json
from urllib.parse import quote

import boto3
import pytest

from chalicelib.api.edge import METHODS

BAD_TEXT = ["", " ", "x" * 5000, "a\x00b", "line\nbreak", "\x7f", "tab\there ", "\ufffe", "a\uffffb"]
BAD_JSON = [[], {}, True, 1.5, [[1]], {"a": {"b": None}}, "\ud800", float("nan"), float("inf"), -float("inf"),
            10**400, ["deep"]]
for _ in range(40):
    BAD_JSON[-1] = [BAD_JSON[-1]]  # nested deeper than 32 levels
# Numbers are plain ASCII digits of sane length, in every carrier.
BAD_NUMBERS = ["²", "٣", "1" * 5000, "9" * 40, " 5", "5 ", "1e3", "0x10", "-1", "+5", "5.0"]
SKIP = {("webhook.dispatch", "data")}  # data is a JSON object: its own cases are in test_tokens_and_errors


ALLOWED = {("webhook.deliveries", "cursor", ""): "an empty cursor is the first page",
           **{(name, "description", value): "a description may be empty (none) or a space"
              for name in ("webhook.create", "webhook.update") for value in ("", " ")}}


def cases(name):
    for param in sorted(METHODS[name].param_names):
        if (name, param) in SKIP:
            continue
        kind = next(p.kind for p in METHODS[name].params if p.name == param)
        numeric = kind in ("limit", "seconds", "rate", "count", "wait")
        for carrier in ("query", "form", "json"):
            for value in BAD_TEXT + (BAD_JSON if carrier == "json" else []) + (BAD_NUMBERS if numeric else []):
                if kind in ("headers", "filter", "template", "auth") and value == {}:
                    continue  # {} removes the headers, the filter, the template or auth: a valid value
                if not (isinstance(value, str) and (name, param, value) in ALLOWED):
                    yield param, carrier, value


def item_count():
    table = boto3.resource("dynamodb").Table(boto3.client("dynamodb").list_tables()["TableNames"][0])
    return len(table.scan()["Items"])


@pytest.fixture
def base(api, receiver, worker):
    hook = api.create(receiver.url)
    message = api.dispatch()["messageID"]
    worker.run()
    return {"eventID": "1234", "url": "http://127.0.0.1:9/other", "type": "activityDismissal",
            "webhookID": hook["webhookID"], "activityID": "98", "personID": "5521", "messageID": message,
            "tokenID": "tok_not-a-token"}


def send(api, name, carrier, params):
    headers = {"authorization": f"Bearer {api.token}"}
    verb = "post"
    if carrier == "query":
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        return api.client.http.post(f"/api/{name}?{query}", headers=headers, body="")
    if carrier == "form":
        headers["content-type"] = "application/x-www-form-urlencoded"
        body = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
    else:
        headers["content-type"] = "application/json"
        body = json.dumps(params)
    return getattr(api.client.http, verb)(f"/api/{name}", headers=headers, body=body)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_bad_value_is_4xx_in_the_contracts_shape_and_changes_nothing(api, base, name):
    required = {p for p in METHODS[name].param_names if p in ("eventID", "url", "type", "webhookID", "activityID", "personID")}
    wrong = []
    before = item_count()
    for param, carrier, value in cases(name):
        params = {p: base[p] for p in required if p != param}
        params[param] = value
        response = send(api, name, carrier, params)
        body = json.loads(response.body)
        if not (400 <= response.status_code < 500 and set(body.get("error", {})) == {"code", "message", "field"}):
            wrong.append((param, carrier, repr(value)[:40], response.status_code, response.body[:200]))
    assert wrong == []
    assert item_count() == before


@pytest.mark.parametrize("name", sorted(METHODS))
def test_an_unknown_parameter_is_400_on_every_method(api, name):
    status, body = api.call(name, surprise="1")
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "unknown_parameter", "surprise")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_answers_401_without_a_token(api, name):
    status, body = api.call(name, token="")
    assert status == 401 and body["error"]["code"] == "unauthorized"

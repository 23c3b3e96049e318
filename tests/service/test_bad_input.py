"""Bad input everywhere: every method, parameter and carrier answers 4xx in the contract's shape
and stores nothing; JSON is read strictly (what could not be delivered, such as NaN or a lone
surrogate, is refused wherever it comes) and numbers are plain ASCII digits."""

import json
from urllib.parse import quote

import boto3
import pytest

from chalicelib.api.edge import METHODS
from tests.service.helpers import error_of, raw_call

URL = "http://127.0.0.1:9/hook"

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


@pytest.mark.parametrize("text", ['{"eventID": NaN}', '{"eventID": Infinity}', '{"eventID": -Infinity}',
                                  '{"eventID": 1e999}', '{"eventID": "\\ud800"}', '{"eventID": "\\uffff"}',
                                  '{"eventID": "\\ufffe"}', '{"eventID": ' + "[" * 40 + "]" * 40 + "}"])
def test_json_that_cannot_be_delivered_is_400_wherever_it_comes(api, text):
    status, body, _ = raw_call(api, "webhook.find", text)
    assert status == 400 and set(body["error"]) == {"code", "message", "field"}


@pytest.mark.parametrize("data", ["[" * 5000, '{"a": NaN}', '{"a": 1e999}', '{"a": "\\uffff"}',
                                  '{"a": "\\ud83d"}', "{" + '"a":{' * 40 + "}" * 41])
def test_data_given_as_json_text_is_read_as_strictly(api, receiver, worker, data):
    api.create(receiver.url)
    status, body = api.call("webhook.dispatch", type="activityEnrollment", eventID="1234", activityID="98",
                            personID="1", data=data)
    assert (status, body["error"]["field"]) == (400, "data")
    worker.run()
    assert receiver.requests == []


@pytest.mark.parametrize("limit", ["²", "٣", "1" * 5000, "-1", "1.0", " 5", "0", "201"])
def test_limit_takes_plain_ascii_digits_only(api, limit):
    hook = api.create(URL)
    assert error_of(api.call("webhook.deliveries", http="GET", webhookID=hook["webhookID"], limit=limit)) == (
        400, "invalid_parameter", "limit")


@pytest.mark.parametrize("since", ["²", "1" * 5000, "9" * 12, "-5"])
def test_since_takes_plain_ascii_digits_only(api, since):
    hook = api.create(URL)
    assert error_of(api.call("webhook.redeliver", webhookID=hook["webhookID"], since=since))[2] == "since"


def test_huge_json_numbers_for_ids_are_400_not_500(api):
    status, body, _ = raw_call(api, "webhook.find", '{"eventID": ' + "9" * 4000 + "}")
    assert (status, body["error"]["code"]) == (400, "invalid_body")
    status, body, _ = raw_call(api, "webhook.find", '{"eventID": ' + "9" * 200 + "}")
    assert (status, body["error"]["field"]) == (400, "eventID")
    hook = api.create(URL)
    status, body, _ = raw_call(api, "webhook.redeliver", json.dumps({"webhookID": hook["webhookID"], "since": 10**40}))
    assert (status, body["error"]["field"]) == (400, "since")


def test_nan_in_event_id_is_refused_for_being_nan(api):
    response = api.client.http.post("/api/webhook.find", body='{"eventID": NaN}', headers={
        "authorization": f"Bearer {api.token}", "content-type": "application/json"})
    error = json.loads(response.body)["error"]
    assert (response.status_code, error["code"]) == (400, "invalid_body")
    assert error["message"] == "the request body holds NaN, which is not a JSON number"

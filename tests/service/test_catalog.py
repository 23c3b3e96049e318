"""Section 11 of the contract: the platform's whole catalog, at the event and at the company level.

Every delivery the receiver gets is also checked against the OpenAPI document's schema of its
type (tests/conftest.py)."""

import pytest

import app as application
from chalicelib.catalog import CATALOG, EXAMPLE_IDS, NOTICE_TYPES, PLATFORM_TYPES
from dev.worker import LambdaContext
from tests.service.helpers import eventbridge

URL = "http://127.0.0.1:9/hook"
COMPANY = "42"


def ids_of(webhook_type, **given):
    return {name: given.get(name, EXAMPLE_IDS[name]) for name in webhook_type.fields}


def levels_of(webhook_type):
    return [("eventID", "1234")] * ("event" in webhook_type.levels) + [("companyID", COMPANY)] * (
        "company" in webhook_type.levels)


@pytest.mark.parametrize("name", PLATFORM_TYPES)
def test_every_type_reaches_each_level_it_allows_by_dispatch_and_by_eventbridge(api, receiver, worker, name):
    webhook_type = CATALOG[name]
    hooks = {field: _create(api, receiver.url + f"/{field}", name, field, value)
             for field, value in levels_of(webhook_type)}
    ids = ids_of(webhook_type, eventID="1234")
    status, sent = api.call("webhook.dispatch", type=name, companyID=COMPANY, **ids)
    assert (status, sent["webhooks"]) == (202, len(hooks))
    application.platform_event(eventbridge(name, {**ids, "companyID": COMPANY, "seat": "A4"}), LambdaContext())
    worker.run()
    assert len(receiver.requests) == 2 * len(hooks)
    for request in receiver.requests:
        field = request.path.rsplit("/", 1)[1]
        payload = request.verify(hooks[field]["secret"])
        assert payload["type"] == name and payload["webhookID"] == hooks[field]["webhookID"]
        assert {k: payload["data"][k] for k in ids} == ids and payload["data"]["companyID"] == COMPANY


def _create(api, url, type, field, value):
    status, body = api.call("webhook.create", url=url, type=type, **{field: value})
    assert status == 201, body
    assert body[field] == value and ({"eventID", "companyID"} - {field}).isdisjoint(body)
    return body


@pytest.mark.parametrize("name", [n for n in PLATFORM_TYPES if len(CATALOG[n].fields) > 1])
def test_a_missing_id_of_the_type_is_400_on_that_field(api, name):
    webhook_type = CATALOG[name]
    for missing in webhook_type.fields:
        ids = {k: v for k, v in ids_of(webhook_type).items() if k != missing}
        status, body = api.call("webhook.dispatch", type=name, **ids)
        assert (status, body["error"]["field"]) == (400, missing), missing


def test_event_created_exists_at_the_company_level_only_and_needs_a_company(api, receiver, worker):
    status, body = api.call("webhook.create", eventID="1234", type="eventCreated", url=URL)
    assert (status, body["error"]["field"]) == (400, "type")
    hook = _create(api, receiver.url, "eventCreated", "companyID", COMPANY)
    status, body = api.call("webhook.dispatch", type="eventCreated", eventID="77")
    assert (status, body["error"]["field"]) == (400, "companyID")
    assert api.call("webhook.dispatch", type="eventCreated", eventID="77", companyID=COMPANY)[1]["webhooks"] == 1
    worker.run()
    assert receiver.requests[0].verify(hook["secret"])["data"] == {"eventID": "77", "companyID": COMPANY,
                                                                   "date": receiver.requests[0].json()["data"]["date"]}


def test_an_id_the_type_does_not_carry_is_400_on_that_field(api):
    status, body = api.call("webhook.dispatch", type="speakerEdited", eventID="1", speakerID="2", personID="3")
    assert (status, body["error"]["field"]) == (400, "personID")


def test_both_levels_or_neither_is_400(api):
    assert api.call("webhook.create", eventID="1", companyID="2", type="eventEdited", url=URL)[0] == 400
    assert api.call("webhook.create", type="eventEdited", url=URL)[0] == 400
    assert api.call("webhook.find", eventID="1", companyID="2")[0] == 400


def test_an_occurrence_without_a_company_reaches_the_event_level_only(api, receiver, worker):
    _create(api, receiver.url + "/event", "eventCheckIn", "eventID", "1234")
    _create(api, receiver.url + "/company", "eventCheckIn", "companyID", COMPANY)
    assert api.call("webhook.dispatch", type="eventCheckIn", eventID="1234", personID="5")[1]["webhooks"] == 1
    worker.run()
    assert [r.path for r in receiver.requests] == ["/event"]


def test_find_lists_one_level_and_uniqueness_is_per_level(api):
    event_hook = _create(api, URL, "eventEdited", "eventID", COMPANY)
    company_hook = _create(api, URL, "eventEdited", "companyID", COMPANY)  # same ID, other level: not a duplicate
    status, body = api.call("webhook.create", companyID=COMPANY, type="eventEdited", url=URL)
    assert status == 409 and company_hook["webhookID"] in body["error"]["message"]
    assert [h["webhookID"] for h in api.call("webhook.find", companyID=COMPANY)[1]["data"]] == [company_hook["webhookID"]]
    assert [h["webhookID"] for h in api.call("webhook.find", eventID=COMPANY)[1]["data"]] == [event_hook["webhookID"]]


def test_a_company_grant_reaches_company_webhooks_and_not_the_events(api):
    status, body = api.call("token.create", companyID=COMPANY)
    assert status == 201 and (body["events"], body["companies"]) == ([], [COMPANY])
    token = body["tokenID"]
    hook = _create(api, URL, "speakerCreated", "companyID", COMPANY)
    event_hook = _create(api, URL, "speakerCreated", "eventID", "1234")
    assert api.call("webhook.find", token=token, companyID=COMPANY)[1]["count"] == 1
    assert api.call("webhook.find", token=token, eventID="1234")[0] == 403
    assert api.call("webhook.find", token=token, companyID="other")[0] == 403
    assert api.call("webhook.disable", token=token, webhookID=hook["webhookID"])[1]["status"] == "disabled"
    assert api.call("webhook.remove", token=token, webhookID=event_hook["webhookID"])[0] == 404


@pytest.mark.parametrize("method", ["webhook.requestExample", "webhook.responseExample", "webhook.deliveries",
                                    "webhook.stats", "webhook.rotateSecret", "webhook.disable", "webhook.enable",
                                    "webhook.remove"])
def test_every_webhook_method_works_for_a_company_level_webhook(api, method):
    hook = _create(api, URL, "activityCheckIn", "companyID", COMPANY)
    assert api.call(method, webhookID=hook["webhookID"])[0] == 200


def test_order_and_sequence_are_kept_per_subject(api, receiver, worker):
    _create(api, receiver.url, "activityEdited", "eventID", "1234")
    for activity in ("1", "2", "1", "1"):
        api.call("webhook.dispatch", type="activityEdited", eventID="1234", activityID=activity)
    worker.run()
    seen = [(r.json()["data"]["activityID"], r.json()["sequence"]) for r in receiver.requests]
    assert sorted(seen) == [("1", 1), ("1", 2), ("1", 3), ("2", 1)]


def test_the_request_example_shows_the_webhooks_own_type_with_its_ids(api):
    hook = _create(api, URL, "speakerRemoved", "companyID", COMPANY)
    example = api.call("webhook.requestExample", webhookID=hook["webhookID"])[1]
    assert example["payload"]["type"] == "speakerRemoved"
    assert set(example["payload"]["data"]) == {"eventID", "speakerID", "companyID", "date"}
    assert example["payload"]["data"]["companyID"] == COMPANY


def test_webhook_types_answers_the_catalog_in_order_with_an_example_each(api, client):
    scoped = api.call("token.create", eventID="1")[1]["tokenID"]  # any valid token
    status, body = api.call("webhook.types", http="GET", token=scoped)
    assert status == 200 and body["count"] == 20 == len(body["data"])  # 18 the platform reports, 2 notices
    assert [t["type"] for t in body["data"]] == list(CATALOG)
    first = body["data"][0]
    assert first["levels"] == ["company"] and first["subject"] == "event" and first["fields"] == ["eventID"]
    for entry in body["data"]:
        assert entry["example"]["type"] == entry["type"]
        assert set(entry["fields"]) <= set(entry["example"]["data"])


def test_the_command_line_makes_company_tokens(api):
    import io

    from chalicelib import tokens as tokens_cli

    out = io.StringIO()
    assert tokens_cli.main(["create", "--company", COMPANY, "--event", "1"], out=out) == 0
    token = out.getvalue().strip().splitlines()[-1]
    assert api.call("webhook.find", token=token, companyID=COMPANY)[0] == 200
    assert api.call("webhook.find", token=token, eventID="1")[0] == 200


def test_the_eventbridge_rule_takes_every_type_the_platform_reports():
    (pattern,) = [s.event_pattern for s in application.app.event_sources if getattr(s, "event_pattern", None)]
    assert pattern["detail-type"] == list(PLATFORM_TYPES) == [n for n in CATALOG if n not in NOTICE_TYPES]


def test_the_readme_lists_the_catalog_as_the_code_has_it():
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    for t in CATALOG.values():
        row = (f"| `{t.name}` | {t.description} | {', '.join(t.levels)} | {t.subject} | "
               f"{', '.join(f'`{name}`' for name in t.fields)} |")
        assert row in readme, t.name

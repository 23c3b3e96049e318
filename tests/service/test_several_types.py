"""Contract section 17: several types per webhook, as an integrator calls it; deliveries through the
worker to a real receiver."""

import json
from urllib.parse import urlencode

import pytest

from chalicelib.catalog import level_types
from chalicelib.dispatch.notices import NOTICE_EVERY_MS
from chalicelib.services import get_services
from dev.receiver import Receiver

URL = "http://127.0.0.1:9/crm"


def create(api, **params):
    """webhook.create for event 1234 and URL unless given (``eventID=None`` leaves the event out)."""
    params = {"eventID": "1234", "url": URL, **params}
    return api.call("webhook.create", **{name: value for name, value in params.items() if value is not None})


def created(api, **params):
    status, body = create(api, **params)
    assert status == 201, body
    return body


def form_call(api, name, query, form):
    response = api.client.http.post(f"/api/{name}?{urlencode(query)}", body=urlencode(form), headers={
        "authorization": f"Bearer {api.token}", "content-type": "application/x-www-form-urlencoded"})
    return response.status_code, json.loads(response.body)


# The object


def test_a_webhook_takes_several_types_shown_in_catalog_order_with_type_null(api):
    hook = created(api, types=["eventCheckIn", "activityEnrollment", "eventEnrollment"])
    assert hook["types"] == ["eventEnrollment", "eventCheckIn", "activityEnrollment"]
    assert hook["type"] is None
    assert api.call("webhook.find", eventID="1234")[1]["data"] == [{k: v for k, v in hook.items() if k != "secret"}]


def test_one_type_given_as_types_or_as_type_is_a_one_type_webhook(api):
    one = created(api, types=["eventCheckIn"])
    same = created(api, url=URL + "/2", type="eventCheckIn")
    assert (one["type"], one["types"]) == (same["type"], same["types"]) == ("eventCheckIn", ["eventCheckIn"])


def test_types_come_as_a_comma_separated_list_in_a_form_or_a_query_string(api):
    status, hook = form_call(api, "webhook.create", {"eventID": "1234"}, {"url": URL, "types": "eventCheckIn,eventEnd"})
    assert status == 201 and hook["types"] == ["eventEnd", "eventCheckIn"]
    status, hook = form_call(api, "webhook.create", {"eventID": "1234", "types": "speakerCreated, speakerEdited"},
                             {"url": URL + "/q"})
    assert status == 201 and hook["types"] == ["speakerCreated", "speakerEdited"]


def test_star_takes_every_type_of_the_level_and_stands_alone(api):
    hook = created(api, types=["*"])
    assert (hook["types"], hook["type"]) == (["*"], None)
    assert created(api, companyID="42", eventID=None, types="*")["types"] == ["*"]


@pytest.mark.parametrize("types", [["*", "eventCheckIn"], ["eventCheckIn", "eventCheckIn"], [], ["eventCheckin"],
                                   ["eventCreated"], "eventCheckIn,", [7], "*,*"])
def test_bad_types_are_400_on_types_and_create_nothing(api, types):
    status, body = create(api, types=types)
    assert (status, body["error"]["field"]) == (400, "types"), body
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 0


def test_type_and_types_together_are_400_on_types(api):
    status, body = create(api, type="eventCheckIn", types=["eventCheckIn"])
    assert (status, body["error"]["field"]) == (400, "types")


def test_neither_type_nor_types_is_400_on_type(api):
    status, body = create(api)
    assert (status, body["error"]["field"], body["error"]["code"]) == (400, "type", "missing_parameter")


def test_event_created_is_a_company_level_type_and_star_covers_it_there_only(api):
    assert created(api, companyID="42", eventID=None, types=["eventCreated", "eventEnd"])["types"] == [
        "eventCreated", "eventEnd"]
    assert "eventCreated" not in level_types("event") and level_types("company")[0] == "eventCreated"


# webhook.find with a type


def test_find_with_a_type_lists_the_webhooks_that_take_it_alone_among_others_or_through_star(api):
    alone = created(api, url=URL + "/1", type="eventCheckIn")
    among = created(api, url=URL + "/2", types=["eventEnrollment", "eventCheckIn"])
    star = created(api, url=URL + "/3", types=["*"])
    created(api, url=URL + "/4", types=["eventEnrollment", "eventEnd"])
    found = api.call("webhook.find", http="GET", eventID="1234", type="eventCheckIn")[1]
    assert [h["webhookID"] for h in found["data"]] == [alone["webhookID"], among["webhookID"], star["webhookID"]]
    assert found["count"] == 3


def test_find_on_a_company_does_not_list_an_event_star_webhook_for_a_company_only_type(api):
    created(api, url=URL + "/event", types=["*"])
    company = created(api, eventID=None, companyID="42", url=URL + "/company", types=["*"])
    assert api.call("webhook.find", eventID="1234", type="eventCreated")[1]["count"] == 0
    assert [h["webhookID"] for h in api.call("webhook.find", companyID="42", type="eventCreated")[1]["data"]] == [
        company["webhookID"]]


# Uniqueness


def test_two_webhooks_of_one_url_may_not_share_a_type_409_naming_the_first(api):
    first = created(api, types=["eventEnrollment", "eventCheckIn"])
    status, body = create(api, url="HTTP://127.0.0.1:9/crm#x", types=["eventCheckIn", "eventEnd"])
    assert (status, body["error"]["field"]) == (409, "url") and first["webhookID"] in body["error"]["message"]
    assert "eventCheckIn" in body["error"]["message"]
    assert created(api, types=["eventEnd", "speakerCreated"])  # no type in common: fine
    assert created(api, url=URL + "/other", types=["eventCheckIn"])  # another url
    assert created(api, eventID="5678", types=["eventCheckIn"])  # another event
    assert created(api, eventID=None, companyID="1234", types=["eventCheckIn"])  # another level


def test_star_shares_every_type_so_it_conflicts_both_ways(api):
    typed = created(api, type="speakerEdited")
    status, body = create(api, types=["*"])
    assert status == 409 and typed["webhookID"] in body["error"]["message"]
    api.call("webhook.remove", webhookID=typed["webhookID"])
    star = created(api, types="*")
    status, body = create(api, type="eventEnd")
    assert status == 409 and star["webhookID"] in body["error"]["message"]
    status, body = create(api, types=["*"])
    assert status == 409 and star["webhookID"] in body["error"]["message"]


def test_update_of_types_takes_and_gives_back_their_claims(api):
    hook = created(api, types=["eventEnrollment"])
    other = created(api, url=URL + "/other", types=["eventCheckIn"])
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types=["eventEnrollment", "eventCheckIn"])
    assert status == 200 and body["types"] == ["eventEnrollment", "eventCheckIn"] and body["type"] is None
    # eventCheckIn of URL is now this webhook's; moving the other one onto URL conflicts.
    status, body = api.call("webhook.update", webhookID=other["webhookID"], url=URL)
    assert status == 409 and hook["webhookID"] in body["error"]["message"]
    # Given back: eventEnrollment is free on URL again.
    assert api.call("webhook.update", webhookID=hook["webhookID"], types="eventCheckIn")[0] == 200
    assert created(api, type="eventEnrollment")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types=["*"])
    assert status == 409  # another webhook of URL takes eventEnrollment


def test_a_removed_or_moved_webhook_frees_its_url_for_its_types(api):
    hook = created(api, types=["*"])
    assert api.call("webhook.update", webhookID=hook["webhookID"], url=URL + "/moved")[0] == 200
    assert created(api, types=["eventCheckIn"])
    assert create(api, url=URL + "/moved", type="eventEnd")[0] == 409
    api.call("webhook.remove", webhookID=hook["webhookID"])
    assert created(api, url=URL + "/moved", types=["*"])


def test_update_may_change_types_but_not_type(api):
    hook = created(api, type="eventCheckIn")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], type="eventEnd")
    assert (status, body["error"]["field"]) == (400, "type")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types=["eventEnd", "*"])
    assert (status, body["error"]["field"]) == (400, "types")
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["types"] == ["eventCheckIn"]


# Filters


def test_a_filter_field_must_be_carried_by_every_type(api):
    status, body = create(api, types=["activityEnrollment", "eventCheckIn"], filter={"activityID": ["98"]})
    assert (status, body["error"]["field"]) == (400, "filter")
    hook = created(api, types=["activityEnrollment", "eventCheckIn"], filter={"personID": ["5521"]})
    assert hook["filter"] == {"personID": ["5521"]}
    status, body = create(api, url=URL + "/all", types=["*"], filter={"personID": ["5521"]})
    assert (status, body["error"]["field"]) == (400, "filter")  # eventEdited carries no personID


def test_new_types_keep_the_filter_only_if_every_one_carries_its_fields(api):
    hook = created(api, type="activityCheckIn", filter={"activityID": ["98"]})
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types=["activityCheckIn", "eventCheckIn"])
    assert (status, body["error"]["field"]) == (400, "filter")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types=["activityCheckIn", "eventCheckIn"],
                            filter={})
    assert status == 200 and body["filter"] is None


# requestExample


def test_request_example_shows_one_of_the_webhooks_types(api):
    hook = created(api, types=["eventCheckIn", "activityEnrollment"])
    example = api.call("webhook.requestExample", http="GET", webhookID=hook["webhookID"])[1]
    assert example["payload"]["type"] == "eventCheckIn"  # the first in catalog order
    example = api.call("webhook.requestExample", http="GET", webhookID=hook["webhookID"], type="activityEnrollment")[1]
    assert example["payload"]["type"] == "activityEnrollment" and example["payload"]["data"]["activityID"]
    status, body = api.call("webhook.requestExample", http="GET", webhookID=hook["webhookID"], type="eventEnd")
    assert (status, body["error"]["field"]) == (400, "type")


def test_request_example_of_a_star_webhook_is_the_first_type_of_its_level(api):
    event = created(api, types=["*"])
    company = created(api, eventID=None, companyID="42", types=["*"])
    for hook, first in ((event, "eventEdited"), (company, "eventCreated")):
        example = api.call("webhook.requestExample", http="GET", webhookID=hook["webhookID"])[1]
        assert example["payload"]["type"] == first
    example = api.call("webhook.requestExample", http="GET", webhookID=event["webhookID"], type="messageFailed")[1]
    assert example["payload"]["type"] == "messageFailed"


# Deliveries


def test_one_platform_event_reaches_each_matching_webhook_once_with_its_own_type(api, receiver, worker):
    many = created(api, url=receiver.url + "/many", types=["activityEnrollment", "eventCheckIn"])
    star = created(api, url=receiver.url + "/star", types=["*"])
    created(api, url=receiver.url + "/not", types=["eventCheckIn"])
    assert api.dispatch()["webhooks"] == 2
    worker.run(until=lambda: len(receiver.requests) >= 2)
    worker.run()
    assert sorted(r.path for r in receiver.requests) == ["/many", "/star"]
    for request, hook in ((r, many if r.path == "/many" else star) for r in receiver.requests):
        payload = request.verify(hook["secret"])
        assert payload["type"] == "activityEnrollment" and payload["sequence"] == 1


def test_sequence_counts_per_webhook_and_subject_across_its_types(api, receiver, worker):
    hook = created(api, url=receiver.url, types=["eventEnrollment", "eventCheckIn", "activityCheckIn"])
    api.call("webhook.dispatch", type="eventEnrollment", eventID="1234", personID="5521")
    api.call("webhook.dispatch", type="eventCheckIn", eventID="1234", personID="5521")
    api.call("webhook.dispatch", type="eventCheckIn", eventID="1234", personID="7")
    api.call("webhook.dispatch", type="activityCheckIn", eventID="1234", personID="5521", activityID="98")
    worker.run(until=lambda: len(receiver.requests) >= 4)
    bodies = [r.verify(hook["secret"]) for r in receiver.requests]
    person = [(b["type"], b["sequence"]) for b in bodies if b["data"]["personID"] == "5521"]
    assert person == [("eventEnrollment", 1), ("eventCheckIn", 2), ("activityCheckIn", 3)]
    assert [b["sequence"] for b in bodies if b["data"]["personID"] == "7"] == [1]


def test_a_filter_applies_to_every_type_of_the_webhook(api, receiver, worker):
    created(api, url=receiver.url, types=["eventEnrollment", "eventCheckIn"], filter={"personID": ["1"]})
    counts = [api.call("webhook.dispatch", type=type, eventID="1234", personID=person)[1]["webhooks"]
              for type in ("eventEnrollment", "eventCheckIn") for person in ("1", "2")]
    assert counts == [1, 0, 1, 0]
    worker.run(until=lambda: len(receiver.requests) >= 2)
    assert [r.json()["type"] for r in receiver.requests] == ["eventEnrollment", "eventCheckIn"]


# The service's own notices among a webhook's types (section 15's rules)


def test_a_webhook_that_takes_message_failed_among_others_hears_of_the_others_never_of_itself(
        api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s")  # one attempt, then given up
    with Receiver() as told:
        failing = created(api, url=receiver.url + "/failing", types=["activityEnrollment", "messageFailed"])
        listener = created(api, url=told.url + "/listener", types=["activityEnrollment", "messageFailed"])
        receiver.answer(500)
        message = api.dispatch()["messageID"]
        worker.run(until=lambda: len(told.requests) >= 2)
        worker.run()
        kinds = sorted((r.json()["type"], r.json()["data"].get("webhookID")) for r in told.requests)
        assert kinds == [("activityEnrollment", None), ("messageFailed", failing["webhookID"])]
        notice = next(r.json() for r in told.requests if r.json()["type"] == "messageFailed")
        assert notice["data"]["messageID"] == message and notice["webhookID"] == listener["webhookID"]
        assert told.invalid == []
    # The failing webhook was told nothing about itself: only its own activityEnrollment reached it.
    assert [r.json()["type"] for r in receiver.requests] == ["activityEnrollment"]


def test_notices_between_two_failing_star_webhooks_end(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s")
    one = created(api, url=receiver.url + "/one", types=["*"])
    two = created(api, url=receiver.url + "/two", types=["*"])
    receiver.answer(500)
    api.dispatch()
    for _ in range(6):
        worker.run()
    sent = sorted((r.path, r.json()["type"]) for r in receiver.requests)
    # Each hears the enrollment and the other's messageFailed; those notices fail and tell no one.
    assert sent == [("/one", "activityEnrollment"), ("/one", "messageFailed"),
                    ("/two", "activityEnrollment"), ("/two", "messageFailed")]
    about = {r.path: r.json()["data"]["webhookID"] for r in receiver.requests if r.json()["type"] == "messageFailed"}
    assert about == {"/one": two["webhookID"], "/two": one["webhookID"]}
    # A minute later the next failure is told, and the failed notices were not even counted (alsoFailed 0).
    services = get_services()
    for hook in (one, two):
        services.dynamodb.update_item(
            TableName=services.settings.table_name, Key={"pk": {"S": f"WH#{hook['webhookID']}"}, "sk": {"S": "NOTICE"}},
            UpdateExpression="SET lastNoticeAt = lastNoticeAt - :minute",
            ExpressionAttributeValues={":minute": {"N": str(NOTICE_EVERY_MS)}})
    api.dispatch(person_id="2")
    for _ in range(6):
        worker.run()
    later = [r.json()["data"] for r in receiver.requests[4:] if r.json()["type"] == "messageFailed"]
    assert len(later) == 2 and [data["alsoFailed"] for data in later] == [0, 0]


def test_webhook_disabled_says_the_disabled_webhooks_types(api, receiver, worker):
    with Receiver() as told:
        failing = created(api, url=receiver.url, types=["activityEnrollment", "eventCheckIn"])
        created(api, url=told.url, types=["webhookDisabled"])
        receiver.answer(410)
        api.dispatch()
        worker.run(until=lambda: told.requests)
        (notice,) = [r.json() for r in told.requests]
        assert notice["data"]["webhookID"] == failing["webhookID"]
        assert (notice["data"]["type"], notice["data"]["types"]) == (None, ["eventCheckIn", "activityEnrollment"])
        assert told.invalid == []

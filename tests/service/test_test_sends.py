"""webhook.test: a test send of a chosen type with further fields, which takes no number from the
webhook's sequences (contract, section 22); and from the fixed egress addresses (docs/deploy.md):
with TEST_SEND_FUNCTION set, the API hands the signed request to the test-send function and answers
its attempt. Lambda's Invoke is played in this process by dev/lambda_invoke.py; the rest is as
deployed. The answer and the limit a minute: test_delivery_log.py and test_rate_limits.py."""

import pytest

import app as application
from chalicelib.services import get_services
from dev.lambda_invoke import answer_invokes

FUNCTION = "inevent-webhooks-prod-test_send"


@pytest.fixture
def via_function(settings):
    settings(TEST_SEND_FUNCTION=FUNCTION)
    invoked = []

    def test_send(event, context):
        invoked.append(event)
        return application.test_send(event, context)

    answer_invokes(get_services().lambda_client, {FUNCTION: test_send})
    return invoked


def test_a_test_send_is_made_by_the_test_send_function_and_answered_as_before(api, receiver, via_function):
    hook = api.create(receiver.url)
    status, answer = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and answer["statusCode"] == 200 and answer["error"] is None
    (request,) = receiver.wait_for(1)
    assert request.verify(hook["secret"])["type"] == "webhook.test"
    (event,) = via_function
    assert event["request"]["headers"]["webhook-id"] == answer["messageID"] == request.headers["webhook-id"]
    status, message = api.call("webhook.message", http="GET", webhookID=hook["webhookID"], messageID=answer["messageID"])
    assert message["status"] == "delivered" and message["request"]["body"] == request.body.decode()


def test_the_test_send_function_keeps_the_destination_checks(api, via_function, settings):
    hook = api.create("http://127.0.0.1:9/closed")
    settings(TEST_SEND_FUNCTION=FUNCTION, WEBHOOK_ALLOW_NETWORKS="")  # loopback no longer exempt
    answer_invokes(get_services().lambda_client, {FUNCTION: application.test_send})
    status, answer = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and answer["statusCode"] is None and answer["error"].startswith("not sent")


def test_a_test_send_function_that_fails_answers_503_not_an_attempt(api, receiver, settings):
    settings(TEST_SEND_FUNCTION=FUNCTION)

    def broken(event, context):
        raise RuntimeError("the function crashed")

    answer_invokes(get_services().lambda_client, {FUNCTION: broken})
    hook = api.create(receiver.url)
    status, body = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 503 and set(body["error"]) == {"code", "message", "field"}
    assert receiver.requests == []


def test_a_test_send_of_the_webhooks_type_carries_its_example_and_the_fields_given(api, receiver):
    hook = api.create(receiver.url, event_id="5150")
    status, body = api.call("webhook.test", webhookID=hook["webhookID"], type="activityEnrollment",
                            data={"seat": "A4", "vip": True})
    assert status == 200 and body["statusCode"] == 200, body
    (request,) = receiver.requests
    payload = request.verify(hook["secret"])
    example = api.call("webhook.requestExample", webhookID=hook["webhookID"])[1]["payload"]
    assert payload["type"] == "activityEnrollment" and payload["sequence"] == 0
    assert {k: v for k, v in payload["data"].items() if k != "date"} == {
        **{k: v for k, v in example["data"].items() if k != "date"}, "seat": "A4", "vip": True}
    assert payload["data"]["eventID"] == "5150"
    assert receiver.invalid == []  # the type's published schema holds, sequence 0 included

    # Recorded as a test send: found among them, with the exact body it sent.
    listed = api.call("webhook.deliveries", webhookID=hook["webhookID"], type="webhook.test")[1]["data"]
    assert [m["messageID"] for m in listed] == [body["messageID"]] and listed[0]["type"] == "webhook.test"
    shown = api.call("webhook.message", webhookID=hook["webhookID"], messageID=body["messageID"])[1]
    assert shown["request"]["body"] == request.body.decode()


def test_a_test_send_takes_no_number_from_the_webhooks_sequences(api, receiver, worker):
    hook = api.create(receiver.url)
    api.call("webhook.test", webhookID=hook["webhookID"], type="activityEnrollment")
    api.call("webhook.test", webhookID=hook["webhookID"], data={"note": "a field alone: the webhook's own type"})
    api.dispatch(person_id="5521")  # the example's person
    worker.run(until=lambda: len(receiver.requests) == 3)
    first, second, real = (request.json() for request in receiver.requests)
    assert (first["type"], second["type"], second["data"]["note"]) == ("activityEnrollment", "activityEnrollment",
                                                                       "a field alone: the webhook's own type")
    assert (first["sequence"], second["sequence"], real["sequence"]) == (0, 0, 1)


def test_a_test_send_without_type_or_data_is_as_before(api, receiver):
    hook = api.create(receiver.url)
    api.call("webhook.test", webhookID=hook["webhookID"])
    payload = receiver.requests[0].verify(hook["secret"])
    assert payload["type"] == "webhook.test" and payload["sequence"] == 0
    assert payload["data"] == {"eventID": "1234", "message": "a test delivery from InEvent webhooks"}


def test_a_company_level_test_send_carries_the_companys_id(api, receiver):
    status, hook = api.call("webhook.create", companyID="42", type="eventCreated", url=receiver.url)
    api.call("webhook.test", webhookID=hook["webhookID"], type="eventCreated")
    payload = receiver.requests[0].verify(hook["secret"])
    assert payload["type"] == "eventCreated" and payload["data"]["companyID"] == "42"


@pytest.mark.parametrize("params, status, field", [
    ({"type": "activityDismissal"}, 400, "type"),  # a type of the catalog, not of this webhook
    ({"type": "noSuchType"}, 400, "type"),
    ({"type": "webhook.test"}, 400, "type"),
    ({"data": "[1, 2]"}, 400, "data"),
    ({"data": "{not json"}, 400, "data"),
    ({"data": {"personID": "6000"}}, 400, "data"),  # repeats a field of the example
    ({"data": {"date": "1"}}, 400, "data"),
    ({"data": {"notes": "x" * 70_000}}, 413, "data"),  # the body would pass 64 KiB
])
def test_a_test_send_refused_sends_nothing_and_uses_none_of_the_minutes_sends(api, receiver, settings, params, status,
                                                                            field):
    settings(TEST_SENDS_PER_MINUTE="1")
    hook = api.create(receiver.url)
    got, body = api.call("webhook.test", webhookID=hook["webhookID"], **params)
    assert (got, body["error"]["field"]) == (status, field), body
    assert receiver.requests == []
    assert api.call("webhook.test", webhookID=hook["webhookID"])[0] == 200  # the minute's one send is still there


def test_a_test_send_takes_any_of_the_webhooks_types_and_defaults_to_the_first(api, receiver):
    # Several types per webhook (contract, section 17): one of its types, in catalog order by default.
    several = api.call("webhook.create", eventID="1234", types=["eventCheckIn", "eventEnrollment"],
                       url=receiver.url + "/crm")[1]
    assert api.call("webhook.test", webhookID=several["webhookID"], type="eventCheckIn")[0] == 200
    assert api.call("webhook.test", webhookID=several["webhookID"], data={"note": "first type"})[0] == 200
    status, body = api.call("webhook.test", webhookID=several["webhookID"], type="activityEnrollment")
    assert (status, body["error"]["field"]) == (400, "type")
    # * takes every type of its level, and no other.
    every = api.call("webhook.create", eventID="1234", types="*", url=receiver.url + "/all")[1]
    assert api.call("webhook.test", webhookID=every["webhookID"], type="speakerRemoved")[0] == 200
    status, body = api.call("webhook.test", webhookID=every["webhookID"], type="eventCreated")  # company level only
    assert (status, body["error"]["field"]) == (400, "type")
    sent = [request.verify(hook["secret"]) for request, hook in zip(receiver.requests, (several, several, every))]
    assert [payload["type"] for payload in sent] == ["eventCheckIn", "eventEnrollment", "speakerRemoved"]

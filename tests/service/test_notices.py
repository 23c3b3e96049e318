"""Section 15 of the contract, organizers told: webhookDisabled and messageFailed, delivered to the
owner's other webhooks of those types and put on the EventBridge bus, never looping, never flooding.

Deliveries go to real receivers; each body is checked against the type's published schema."""

import json

import boto3
import pytest

import app as application
from chalicelib.dispatch.notices import NOTICE_EVERY_MS, NOTICE_SOURCE
from chalicelib.services import get_services
from dev.receiver import Receiver
from dev.worker import LambdaContext
from tests.service.helpers import eventbridge


@pytest.fixture
def bus(aws):
    """A queue that the default bus's rule for the service's own events fills, as the platform's would."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="service-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="service-events", EventPattern=json.dumps({"source": [NOTICE_SOURCE]}), State="ENABLED")
    events.put_targets(Rule="service-events", Targets=[{"Id": "q", "Arn": arn}])

    def received():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    return received


@pytest.fixture
def told():
    with Receiver() as server:
        yield server
    assert server.invalid == []


def company_hook(api, url, type):
    status, body = api.call("webhook.create", companyID="42", url=url, type=type)
    assert status == 201, body
    return body


def notices(receiver, type_name):
    return [r.json() for r in receiver.requests if r.json()["type"] == type_name]


def test_a_disabled_webhook_is_told_to_its_events_other_webhookdisabled_webhooks_and_the_bus(
        api, receiver, told, worker, bus):
    failing = api.create(receiver.url + "/failing")
    mine = api.create(told.url + "/event", type="webhookDisabled")
    company = company_hook(api, told.url + "/company", "webhookDisabled")
    other_event = api.create(told.url + "/other", type="webhookDisabled", event_id="999")
    receiver.answer(410)
    api.dispatch()
    worker.run()
    assert told.wait_for(1)
    worker.run()
    (notice,) = notices(told, "webhookDisabled")
    assert [r.path for r in told.requests] == ["/event"]  # not the company's, nor another event's
    assert notice["webhookID"] == mine["webhookID"]
    assert notice["data"] == {"eventID": "1234", "webhookID": failing["webhookID"], "url": receiver.url + "/failing",
                              "type": "activityEnrollment", "types": ["activityEnrollment"],
                              "reason": "the endpoint answered 410 Gone",
                              "failingSince": None}
    told.requests[0].verify(mine["secret"])
    events = {e["detail-type"]: e for e in bus()}  # a 410 also gives the message up: messageFailed too
    assert set(events) == {"webhookDisabled", "messageFailed"}
    assert (events["webhookDisabled"]["source"], events["webhookDisabled"]["detail"]) == (NOTICE_SOURCE,
                                                                                          notice["data"])
    assert company and other_event


def test_a_company_level_webhook_hears_about_its_companys_webhooks(api, receiver, told, worker):
    company_hook(api, receiver.url, "activityEnrollment")
    api.create(told.url + "/event", type="webhookDisabled")
    company_hook(api, told.url + "/company", "webhookDisabled")
    receiver.answer(410)
    api.dispatch(companyID="42")
    worker.run()
    worker.run(until=lambda: told.requests)
    assert [r.path for r in told.requests] == ["/company"]
    assert told.requests[0].json()["data"]["companyID"] == "42" and "eventID" not in told.requests[0].json()["data"]


def test_message_failed_once_a_minute_per_webhook_counting_the_others(api, receiver, told, worker, settings, bus):
    settings(RETRY_SCHEDULE="0s")  # one attempt, then given up
    failing = api.create(receiver.url)
    api.create(told.url, type="messageFailed")
    receiver.answer(500)
    first = api.dispatch(person_id="1")["messageID"]
    worker.run()
    worker.run()
    for person in ("2", "3", "4"):
        api.dispatch(person_id=person)
    worker.run()
    worker.run()
    (notice,) = notices(told, "messageFailed")
    assert notice["data"] == {"eventID": "1234", "webhookID": failing["webhookID"], "url": receiver.url,
                              "messageID": first, "type": "activityEnrollment", "attempts": 1,
                              "lastStatusCode": "500", "lastError": notice["data"]["lastError"], "alsoFailed": 0}
    assert [e["detail-type"] for e in bus()] == ["messageFailed"]

    # A minute later (the throttle's turn, aged as a minute would age it) the next one carries the count.
    services = get_services()
    services.dynamodb.update_item(
        TableName=services.settings.table_name, Key={"pk": {"S": f"WH#{failing['webhookID']}"}, "sk": {"S": "NOTICE"}},
        UpdateExpression="SET lastNoticeAt = lastNoticeAt - :minute",
        ExpressionAttributeValues={":minute": {"N": str(NOTICE_EVERY_MS)}})
    last = api.dispatch(person_id="5")["messageID"]
    worker.run()
    worker.run(until=lambda: len(notices(told, "messageFailed")) == 2)
    later = notices(told, "messageFailed")[1]
    assert (later["data"]["messageID"], later["data"]["alsoFailed"]) == (last, 3)
    assert [e["detail"]["alsoFailed"] for e in bus()] == [3]


def test_no_notice_is_about_a_notice_webhook_so_a_failing_notice_tells_no_one(api, receiver, told, worker, settings,
                                                                              bus):
    settings(RETRY_SCHEDULE="0s")
    api.create(receiver.url + "/app")
    watcher = api.create(receiver.url + "/watcher", type="messageFailed")  # fails too
    api.create(told.url + "/disabled", type="webhookDisabled")
    api.create(told.url + "/failed", type="messageFailed")
    receiver.answer(500, 500, 410)
    api.dispatch()
    worker.run()
    worker.run()  # the app's message fails: both messageFailed webhooks are told; the watcher's fails, then is gone
    worker.run()
    assert [r.path for r in told.requests] == ["/failed"]
    assert [r.json()["webhookID"] for r in receiver.requests if r.path == "/watcher"] == [watcher["webhookID"]]
    assert {e["detail-type"] for e in bus()} == {"messageFailed"}  # one, about the app's webhook


@pytest.mark.parametrize("name", ["webhookDisabled", "messageFailed"])
def test_the_platform_cannot_dispatch_them(api, name):
    status, body = api.call("webhook.dispatch", type=name, eventID="1234")
    assert (status, body["error"]["field"]) == (400, "type")
    assert application.platform_event(eventbridge(name, {"eventID": "1234"}), LambdaContext()) is None
    assert name not in application.app.event_sources[0].event_pattern["detail-type"]


@pytest.mark.parametrize("name", ["webhookDisabled", "messageFailed"])
def test_both_levels_take_them_and_webhook_types_lists_them(api, name):
    assert api.call("webhook.create", eventID="1", type=name, url="http://127.0.0.1:9/")[0] == 201
    assert api.call("webhook.create", companyID="1", type=name, url="http://127.0.0.1:9/")[0] == 201
    (entry,) = [t for t in api.call("webhook.types", http="GET")[1]["data"] if t["type"] == name]
    assert entry["levels"] == ["event", "company"] and entry["subject"] == "webhook"
    assert set(entry["fields"]) <= set(entry["example"]["data"])


def test_a_webhookdisabled_webhook_that_is_disabled_itself_tells_no_one(api, receiver, told, worker, settings, bus):
    """The no-loop rule for webhookDisabled, as for messageFailed: nothing is said about a webhook
    that takes notices, even when it is the one the service disables."""
    settings(RETRY_SCHEDULE="0s")
    app = api.create(receiver.url + "/app")
    watcher = api.create(receiver.url + "/watcher", type="webhookDisabled")  # answers 410 too
    api.create(told.url + "/told", type="webhookDisabled")
    receiver.answer(410, 410)
    api.dispatch()
    worker.run()  # the app's webhook answers 410: disabled; both webhookDisabled webhooks are told
    worker.run(until=lambda: any(r.path == "/watcher" for r in receiver.requests))
    worker.run()
    assert api.call("webhook.stats", webhookID=watcher["webhookID"])[1]["status"] == "disabled"
    assert [r.json()["data"]["webhookID"] for r in told.requests] == [app["webhookID"]]
    assert {e["detail"]["webhookID"] for e in bus()} == {app["webhookID"]}

"""webhook.trace (contract, section 22): every webhook of the level a message was queued for, with
its status, from the dispatch's own record, which one write keeps whatever the number of webhooks."""

import json
import time

import boto3
from botocore.exceptions import ClientError

import app as application
from chalicelib.services import get_services
from chalicelib.store.dispatches import dispatch_key
from chalicelib.store.table import get_item
from chalicelib.store.webhook_record import Webhook
from dev.bench_aws import Counting
from dev.worker import DeliveryPoller
from tests.helpers import Worker

DOWN = "http://127.0.0.1:9/down"  # nothing listens: every attempt fails at once


def trace(api, message_id, **owner):
    return api.call("webhook.trace", http="GET", messageID=message_id, **owner)


def test_trace_lists_every_webhook_of_the_level_the_message_was_queued_for_with_its_status(api, receiver, worker):
    delivered = api.create(receiver.url + "/ok")
    failing = api.create(DOWN)
    other_type = api.create(receiver.url + "/dismissals", type="activityDismissal")
    disabled = api.create(receiver.url + "/off")
    api.call("webhook.disable", webhookID=disabled["webhookID"])
    status, company = api.call("webhook.create", companyID="42", type="activityEnrollment", url=receiver.url + "/co")
    message_id = api.dispatch(companyID="42")["messageID"]

    status, body = trace(api, message_id, eventID="1234")
    assert status == 200, body
    assert (body["messageID"], body["type"]) == (message_id, "activityEnrollment") and body["date"].isdigit()
    queued = {hook["webhookID"]: hook for hook in body["data"]}
    assert list(queued) == [delivered["webhookID"], failing["webhookID"], disabled["webhookID"]]  # creation order
    assert other_type["webhookID"] not in queued and company["webhookID"] not in queued
    # Queued, not attempted yet: pending, no attempts.
    assert {k: queued[delivered["webhookID"]][k] for k in ("url", "delivery", "status", "attempts", "lastStatusCode")} \
        == {"url": receiver.url + "/ok", "delivery": "push", "status": "pending", "attempts": 0, "lastStatusCode": None}
    assert queued[disabled["webhookID"]]["status"] == "skipped"

    worker.run()
    queued = {hook["webhookID"]: hook for hook in trace(api, message_id, eventID="1234")[1]["data"]}
    assert (queued[delivered["webhookID"]]["status"], queued[delivered["webhookID"]]["attempts"],
            queued[delivered["webhookID"]]["lastStatusCode"]) == ("delivered", 1, 200)
    assert (queued[failing["webhookID"]]["attempts"], queued[failing["webhookID"]]["lastStatusCode"]) == (1, None)
    (at_company,) = trace(api, message_id, companyID="42")[1]["data"]
    assert (at_company["webhookID"], at_company["status"]) == (company["webhookID"], "delivered")


def test_a_message_queued_and_not_attempted_yet_is_shown_pending_by_webhook_message(api, receiver, worker):
    hook = api.create(receiver.url)
    other = api.create(receiver.url + "/other", type="activityDismissal")
    message_id = api.dispatch()["messageID"]
    status, shown = api.call("webhook.message", webhookID=hook["webhookID"], messageID=message_id)
    assert status == 200, shown  # on the queue, or held by a rate limit: not unknown
    assert {k: shown[k] for k in ("messageID", "webhookID", "type", "status", "attempts", "request")} == {
        "messageID": message_id, "webhookID": hook["webhookID"], "type": "activityEnrollment", "status": "pending",
        "attempts": [], "request": None}
    assert shown["date"].isdigit() and shown["nextAttemptDate"] == shown["date"]  # due since it was dispatched
    status, body = api.call("webhook.message", webhookID=other["webhookID"], messageID=message_id)
    assert (status, body["error"]["field"]) == (404, "messageID")  # not queued for that one
    worker.run()
    status, shown = api.call("webhook.message", webhookID=hook["webhookID"], messageID=message_id)
    assert (shown["status"], len(shown["attempts"])) == ("delivered", 1) and shown["request"]["body"], shown


def test_trace_of_an_unknown_message_another_level_or_one_the_token_cannot_see_is_404(api, receiver):
    api.create(receiver.url)
    api.create(receiver.url, event_id="999")
    message_id = api.dispatch()["messageID"]
    for status, body in (trace(api, "msg_unknown", eventID="1234"), trace(api, message_id, eventID="999"),
                         trace(api, message_id, companyID="42")):
        assert (status, body["error"]["field"]) == (404, "messageID"), body
    other = api.call("token.create", eventID="999")[1]["tokenID"]
    status, body = api.call("webhook.trace", token=other, messageID=message_id, eventID="1234")
    assert (status, body["error"]["field"]) == (404, "messageID")  # not 403: nothing is said about it
    own = api.call("token.create", eventID="1234")[1]["tokenID"]
    assert api.call("webhook.trace", token=own, messageID=message_id, eventID="1234")[0] == 200
    assert api.call("webhook.trace", messageID=message_id)[1]["error"]["field"] == "eventID"
    assert api.call("webhook.trace", messageID=message_id, eventID="1234", companyID="42")[0] == 400
    assert api.call("webhook.trace", eventID="1234")[1]["error"]["field"] == "messageID"


def test_trace_leaves_out_removed_webhooks_and_those_a_filter_kept_out(api, receiver):
    kept = api.create(receiver.url + "/kept")
    removed = api.create(receiver.url + "/removed")
    api.create(receiver.url + "/filtered", filter={"activityID": ["1"]})
    message_id = api.dispatch(activity_id="98")["messageID"]
    api.call("webhook.remove", webhookID=removed["webhookID"])
    assert [hook["webhookID"] for hook in trace(api, message_id, eventID="1234")[1]["data"]] == [kept["webhookID"]]


def test_trace_follows_a_platform_event_from_eventbridge(api, receiver, worker):
    hook = api.create(receiver.url)
    application.platform_event({"version": "0", "id": "eb-1", "detail-type": "activityEnrollment",
                                "source": "inevent.platform", "account": "1", "time": "2026-11-27T20:00:00Z",
                                "region": "us-east-1", "resources": [],
                                "detail": {"eventID": "1234", "activityID": "98", "personID": "5521"}}, None)
    worker.run()
    (message,) = api.call("webhook.deliveries", webhookID=hook["webhookID"])[1]["data"]
    (entry,) = trace(api, message["messageID"], eventID="1234")[1]["data"]
    assert (entry["webhookID"], entry["status"]) == (hook["webhookID"], "delivered")


def test_a_message_whose_record_went_with_an_erasure_is_not_shown_as_waiting(api, receiver, worker, aws, settings):
    settings(ERASURE_SETTLE_SECONDS="0")
    hook = api.create(receiver.url)
    message_id = api.dispatch(person_id="5521")["messageID"]
    worker.run()
    assert trace(api, message_id, eventID="1234")[1]["data"][0]["status"] == "delivered"
    erasure = api.call("webhook.erasePerson", personID="5521", eventID="1234")[1]["erasureID"]
    eraser = Worker(DeliveryPoller(boto3.client("sqs"), aws["ErasureQueue"]["url"], application.erase_person,
                                   wait_seconds=0))
    assert eraser.run(until=lambda: api.call("webhook.erasure", erasureID=erasure)[1]["status"] == "done", timeout=20)
    status, body = trace(api, message_id, eventID="1234")
    assert (status, body["data"]) == (200, [])  # not "pending, 0 attempts": its record is gone, not waiting
    status, body = api.call("webhook.message", webhookID=hook["webhookID"], messageID=message_id)
    assert (status, body["error"]["field"]) == (404, "messageID")


def test_a_fan_out_notes_its_webhooks_in_one_write_whatever_their_number(api):
    services = get_services()
    for n in range(25):
        api.create(f"{DOWN}/{n}")
    with Counting(services.dynamodb).measuring() as calls:
        message_id = api.dispatch()["messageID"]
    assert calls["dynamodb:UpdateItem"] == 1, calls  # the dispatch record: the fan-out's only write
    item = get_item(services.dynamodb, services.settings.table_name, dispatch_key(message_id))
    assert len(item["eventHooks"]) == 25


def test_a_dispatch_record_of_200_webhooks_at_each_level_stays_far_within_one_item(aws):
    dispatches = get_services().dispatches
    hooks = [Webhook(f"wh_01KB2X3Y4Z5A6B7C8D9E{level[0]}{n:05d}", level, owner, ("activityEnrollment",), DOWN, DOWN,
                     "1", "enabled", ("s",))
             for level, owner in (("event", "1234"), ("company", "42")) for n in range(200)]
    dispatches.record("msg_1", "activityEnrollment", "1764273600", hooks[:150] + hooks[200:], time.time())
    dispatches.record("msg_1", "activityEnrollment", "1764273600", hooks[100:], time.time())  # a retry adds to it
    recorded = dispatches.get("msg_1").webhooks
    assert recorded[("event", "1234")] == tuple(h.webhook_id for h in hooks[:200])
    assert recorded[("company", "42")] == tuple(h.webhook_id for h in hooks[200:])
    item = get_item(get_services().dynamodb, get_services().settings.table_name, dispatch_key("msg_1"))
    size = sum(len(name) + len(json.dumps(value if isinstance(value, str) else sorted(value)))
               for name, value in item.items() if name not in ("expiresAt",))
    assert size < 16 * 1024  # DynamoDB's item limit is 400 KB


def test_a_dispatch_whose_record_cannot_be_written_queues_nothing_and_answers_503(api, receiver, worker):
    api.create(receiver.url)
    dynamodb = get_services().dynamodb
    refused = []

    def throttle(**_):
        refused.append(1)
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem")

    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", throttle)
    try:
        status, body = api.call("webhook.dispatch", type="activityEnrollment", eventID="1234", activityID="98",
                                personID="5521")
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", throttle)
    assert (status, refused) == (503, [1]), body
    worker.run()
    assert receiver.requests == []

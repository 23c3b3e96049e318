"""Dispatch, fan-out and signed delivery to a real HTTP endpoint on loopback (contract, 4 and 5),
from the API and from EventBridge; 410 disables the webhook once."""

import time

import boto3
import pytest

from chalicelib.services import get_services
from tests.helpers import stored_message
from tests.service.helpers import queued_count


def records_of(webhook_id, message_id):
    return stored_message(webhook_id, message_id)


def queued(aws):
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["DeliveryQueue"]["url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_dispatch_arrives_signed_at_every_matching_webhook(api, receiver, worker):
    first = api.create(receiver.url + "/a")
    second = api.create(receiver.url + "/b")
    api.create(receiver.url + "/dismissals", type="activityDismissal")
    api.create(receiver.url + "/other-event", event_id="999")
    answer = api.dispatch(person_id="5521", date="1764273600", data={"ticket": "VIP"})
    assert answer["webhooks"] == 2 and answer["messageID"].startswith("msg_")

    worker.run()
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/a", "/b"]
    secrets = {"/a": first["secret"], "/b": second["secret"]}
    for request in got:
        payload = request.verify(secrets[request.path])
        assert request.headers["webhook-id"] == answer["messageID"]
        assert request.headers["content-type"] == "application/json"
        assert "InEvent" in request.headers["user-agent"]
        assert payload["type"] == "activityEnrollment"
        assert payload["data"] == {
            "eventID": "1234",
            "activityID": "98",
            "personID": "5521",
            "date": "1764273600",
            "ticket": "VIP",
        }
    assert {r.json()["webhookID"] for r in got} == {first["webhookID"], second["webhookID"]}


def test_each_attempt_is_recorded_in_the_delivery_log(api, receiver, worker):
    receiver.answer((200, 0.0, b'{"received":true}'))
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run()
    record = records_of(hook["webhookID"], message_id)
    assert record["status"] == "delivered"
    (attempt,) = record["attempts"]
    assert attempt["attempt"] == 1 and attempt["statusCode"] == 200 and attempt["error"] is None
    assert attempt["response"] == '{"received":true}'
    assert attempt["durationMs"] >= 0 and abs(int(attempt["date"]) - time.time()) < 30


def test_only_the_first_2_kib_of_an_answer_is_kept(api, receiver, worker):
    receiver.answer((500, 0.0, b"x" * 10_000))
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run(until=lambda: len(receiver.requests) >= 1)
    attempt = records_of(hook["webhookID"], message_id)["attempts"][0]
    assert attempt["statusCode"] == 500 and len(attempt["response"]) == 2048


def test_a_failing_endpoint_is_retried_with_the_same_webhook_id_until_it_answers_2xx(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s,1s")
    receiver.answer(500, 503, 200)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    assert worker.run(until=lambda: records_of(hook["webhookID"], message_id)["status"] == "delivered", timeout=15)
    got = receiver.requests
    assert len(got) == 3
    assert {r.headers["webhook-id"] for r in got} == {message_id}
    assert len({r.body for r in got}) == 1  # the same bytes every time
    for request in got:
        request.verify(hook["secret"])
    assert got[1].at - got[0].at >= 0.9  # the schedule's delay was waited on the queue
    record = records_of(hook["webhookID"], message_id)
    assert [a["statusCode"] for a in record["attempts"]] == [500, 503, 200]


def test_after_the_last_attempt_the_message_is_failed_and_leaves_the_queue(api, receiver, worker, settings, aws):
    settings(RETRY_SCHEDULE="0s,1s")
    receiver.answer(500)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    assert worker.run(until=lambda: records_of(hook["webhookID"], message_id)["status"] == "failed", timeout=10)
    assert len(receiver.requests) == 2
    assert records_of(hook["webhookID"], message_id).get("nextAttemptAt") is None
    assert queued(aws) == 0


def test_one_failing_endpoint_does_not_resend_the_others_of_its_batch(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s")
    from dev.receiver import Receiver

    with Receiver() as failing:
        failing.answer(500, 500, 200)
        hooks = [api.create(receiver.url + f"/{i}") for i in range(5)]
        bad = api.create(failing.url)
        message_id = api.dispatch()["messageID"]
        assert worker.run(until=lambda: records_of(bad["webhookID"], message_id)["status"] == "delivered", timeout=15)
        assert len(failing.requests) == 3
    assert sorted(r.path for r in receiver.requests) == [f"/{i}" for i in range(5)]
    assert all(records_of(h["webhookID"], message_id)["status"] == "delivered" for h in hooks)


def test_410_disables_the_webhook_and_nothing_more_is_sent(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s")
    receiver.answer(410)
    hook = api.create(receiver.url)
    first = api.dispatch()["messageID"]
    worker.run()
    assert records_of(hook["webhookID"], first)["status"] == "failed"
    found = api.call("webhook.find", eventID="1234")[1]["data"]
    assert found[0]["status"] == "disabled"
    assert api.dispatch()["webhooks"] == 0
    worker.run()
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s")
    receiver.answer((302, 0.0, b"", {"location": receiver.url + "/elsewhere"}))
    hook = api.create(receiver.url + "/hook")
    message_id = api.dispatch()["messageID"]
    worker.run()
    assert [r.path for r in receiver.requests] == ["/hook"]
    attempt = records_of(hook["webhookID"], message_id)["attempts"][0]
    assert attempt["statusCode"] == 302 and "redirect" in attempt["error"]


def test_an_endpoint_slower_than_the_timeout_is_a_failed_attempt(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s", DELIVERY_TIMEOUT_SECONDS="0.5")
    receiver.answer((200, 2.0))
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    started = time.time()
    worker.run()
    assert time.time() - started < 2.0
    attempt = records_of(hook["webhookID"], message_id)["attempts"][0]
    assert attempt["statusCode"] is None and "did not answer within 0.5s" in attempt["error"]
    assert records_of(hook["webhookID"], message_id)["status"] == "failed"


def test_an_endpoint_that_refuses_connections_is_a_failed_attempt(api, worker, settings):
    settings(RETRY_SCHEDULE="0s")
    hook = api.create("http://127.0.0.1:9/closed")
    message_id = api.dispatch()["messageID"]
    worker.run()
    attempt = records_of(hook["webhookID"], message_id)["attempts"][0]
    assert attempt["statusCode"] is None and "could not connect" in attempt["error"]


def test_a_removed_webhook_gets_nothing_even_what_was_already_queued(api, receiver, worker):
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    api.call("webhook.remove", webhookID=hook["webhookID"])
    worker.run()
    assert receiver.requests == []
    assert records_of(hook["webhookID"], message_id) is None


def test_a_webhook_removed_while_its_message_waits_for_a_retry_gets_nothing_more(api, receiver, worker, settings, aws):
    settings(RETRY_SCHEDULE="0s,1s,1s")
    receiver.answer(500)
    hook = api.create(receiver.url)
    api.dispatch()
    worker.run(until=lambda: len(receiver.requests) == 1)
    api.call("webhook.remove", webhookID=hook["webhookID"])
    worker.run(until=lambda: queued(aws) == 0, timeout=5)
    assert len(receiver.requests) == 1


def test_a_message_received_again_after_delivery_is_not_sent_again(api, receiver, worker, aws):
    api.create(receiver.url)
    api.dispatch()
    sqs = boto3.client("sqs")
    url = aws["DeliveryQueue"]["url"]
    message = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], VisibilityTimeout=0)["Messages"][0]
    # The same message handed over twice, as SQS may, or after a worker died before deleting it.
    from dev.worker import sqs_event, LambdaContext
    import app as application

    event = sqs_event([message], "arn", "us-east-1")
    assert application.deliver(event, LambdaContext()) == {"batchItemFailures": []}
    assert application.deliver(event, LambdaContext()) == {"batchItemFailures": []}
    assert len(receiver.requests) == 1


def test_a_burst_of_events_is_delivered_once_each(api, receiver, worker):
    hooks = [api.create(receiver.url + f"/{i}") for i in range(3)]
    sent = [api.dispatch(person_id=str(n))["messageID"] for n in range(40)]
    worker.run(until=lambda: len(receiver.requests) >= 120, timeout=30)
    worker.run()
    got = receiver.requests
    assert len(got) == 120
    pairs = {(r.path, r.headers["webhook-id"]) for r in got}
    assert pairs == {(f"/{i}", m) for i in range(3) for m in sent}
    secrets = {f"/{i}": h["secret"] for i, h in enumerate(hooks)}
    for request in got:
        request.verify(secrets[request.path])


def test_a_persons_later_message_waits_for_the_earlier_one_while_others_go_ahead(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s")
    api.create(receiver.url)
    first = api.dispatch(person_id="7", activity_id="98")["messageID"]
    second = api.dispatch(person_id="7", activity_id="99")["messageID"]
    other = api.dispatch(person_id="8", activity_id="98")["messageID"]

    def fail_the_first_attempt_of_the_first_message(request, earlier):
        tried_before = any(r.headers["webhook-id"] == first for r in earlier)
        return 500 if request.headers["webhook-id"] == first and not tried_before else 200

    receiver.rule = fail_the_first_attempt_of_the_first_message
    worker.run(until=lambda: len(receiver.requests) >= 4, timeout=10)
    order = [r.headers["webhook-id"] for r in receiver.requests]
    assert [m for m in order if m != other] == [first, first, second]
    assert order.index(other) < 2  # person 8 was not held back by person 7's retry


def test_an_eventbridge_event_fans_out_like_a_dispatch(api, receiver, worker):
    import app as application
    from dev.worker import LambdaContext

    hook = api.create(receiver.url, type="activityDismissal")
    envelope = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "activityDismissal",
        "source": "inevent.platform",
        "account": "123456789012",
        "time": "2026-11-27T20:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"eventID": 1234, "activityID": "98", "personID": "5521", "seat": "A4"},
    }
    application.platform_event(envelope, LambdaContext())
    application.platform_event(envelope, LambdaContext())  # EventBridge may invoke twice
    worker.run()
    (request,) = receiver.requests
    payload = request.verify(hook["secret"])
    assert payload["type"] == "activityDismissal"
    assert payload["data"]["eventID"] == "1234" and payload["data"]["seat"] == "A4"
    assert abs(int(payload["data"]["date"]) - time.time()) < 60  # the time of receipt


def test_an_invalid_eventbridge_event_is_dropped_without_queueing(api, receiver, worker, aws):
    import app as application
    from dev.worker import LambdaContext

    api.create(receiver.url)
    envelope = {"version": "0", "id": "x", "detail-type": "activityEnrollment", "source": "inevent.platform",
                "account": "1", "time": "2026-11-27T20:00:00Z", "region": "us-east-1", "resources": [],
                "detail": {"eventID": "1234"}}
    application.platform_event(envelope, LambdaContext())
    assert queued(aws) == 0


def test_two_groups_that_both_see_410_disable_their_webhook_once(api, receiver, worker, capfd):
    receiver.answer((410, 0.2))
    hook = api.create(receiver.url)
    for person in ("1", "2", "3"):
        api.dispatch(person_id=person)
    # AWS as slow as it sometimes is: each group decides to disable while another's write is on its way.
    get_services().dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems",
                                                 lambda **kwargs: time.sleep(0.3))
    worker.run()
    assert len(receiver.requests) == 3  # three groups, delivered together
    printed = capfd.readouterr().out
    assert '"Disabled":[1.0]' in printed  # counted once, not once a group
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["status"] == "disabled"


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("note", ["\ud800", "\ufffe", float("nan"), 10**400, nested(40)])
def test_an_eventbridge_event_that_cannot_be_delivered_is_dropped_not_retried(api, aws, receiver, note):
    import app as application
    from dev.worker import LambdaContext

    api.create(receiver.url, type="eventEdited")
    application.platform_event({"version": "0", "id": "e-bad", "detail-type": "eventEdited", "source": "inevent.platform",
                                "account": "1", "time": "2026-11-27T20:00:00Z", "region": "us-east-1",
                                "resources": [], "detail": {"eventID": "1234", "note": note}}, LambdaContext())
    assert queued_count(aws) == 0

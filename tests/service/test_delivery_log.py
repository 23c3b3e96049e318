"""The delivery log, replay, test sends, endpoint health and per-person sequence (contract, 9)."""

import json
import time

import pytest
from botocore.exceptions import ConnectTimeoutError

from chalicelib.delivery import worker as worker_module
from chalicelib.services import get_services
from tests.helpers import stored_message
from tests.service.helpers import THROTTLED, fail_aws_calls


def record(webhook_id, message_id):
    return stored_message(webhook_id, message_id)


def deliveries(api, webhook_id, **params):
    status, body = api.call("webhook.deliveries", http="GET", webhookID=webhook_id, **params)
    assert status == 200, body
    return body


def test_the_log_lists_messages_newest_first_with_every_attempt(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s")
    receiver.answer((500, 0.0, b"busy"), (200, 0.0, b"ok"))
    hook = api.create(receiver.url)
    first = api.dispatch(person_id="1")["messageID"]
    worker.run(until=lambda: record(hook["webhookID"], first)["status"] == "delivered", timeout=10)
    second = api.dispatch(person_id="2")["messageID"]
    worker.run()
    log = deliveries(api, hook["webhookID"])
    assert log["count"] == 2 and log["cursor"] is None
    assert [m["messageID"] for m in log["data"]] == [second, first]
    newest, oldest = log["data"]
    assert set(oldest) == {"messageID", "webhookID", "type", "status", "date", "attempts", "nextAttemptDate"}
    assert oldest["status"] == "delivered" and oldest["nextAttemptDate"] is None
    assert [(a["attempt"], a["statusCode"], a["response"]) for a in oldest["attempts"]] == [(1, 500, "busy"), (2, 200, "ok")]
    assert oldest["attempts"][0]["error"] == "the endpoint answered 500"
    assert all(isinstance(a["durationMs"], int) and a["date"].isdigit() for a in oldest["attempts"])
    assert newest["type"] == "activityEnrollment" and newest["webhookID"] == hook["webhookID"]


def test_a_message_waiting_for_a_retry_is_pending_with_its_next_attempt_date(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,5m")
    receiver.answer(503)
    hook = api.create(receiver.url)
    api.dispatch()
    worker.run(until=lambda: len(receiver.requests) == 1)
    (message,) = deliveries(api, hook["webhookID"])["data"]
    assert message["status"] == "pending"
    assert 290 <= int(message["nextAttemptDate"]) - time.time() <= 310


def test_the_log_pages_with_a_cursor_and_filters_by_status(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s")
    hook = api.create(receiver.url)
    receiver.rule = lambda request, earlier: 500 if request.json()["data"]["personID"] in ("1", "3") else 200
    sent = [api.dispatch(person_id=str(n))["messageID"] for n in range(5)]
    worker.run()
    seen, cursor = [], None
    while True:
        page = deliveries(api, hook["webhookID"], limit=2, **({"cursor": cursor} if cursor else {}))
        assert page["count"] == len(page["data"]) <= 2
        seen += [m["messageID"] for m in page["data"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(sent))
    failed = deliveries(api, hook["webhookID"], status="failed")
    assert [m["messageID"] for m in failed["data"]] == [sent[3], sent[1]]


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"status": "lost"}, "status"), ({"cursor": "%%%"}, "cursor"), ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
])
def test_bad_log_parameters_are_400(api, params, field):
    hook = api.create("http://127.0.0.1:9/x")
    status, body = api.call("webhook.deliveries", webhookID=hook["webhookID"], **params)
    assert (status, body["error"]["field"]) == (400, field)


def test_redeliver_one_message_sends_the_same_id_and_bytes_again(api, receiver, worker):
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run()
    assert api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID=message_id) == (202, {"queued": 1})
    worker.run(until=lambda: len(receiver.requests) == 2)
    first, again = receiver.requests
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == message_id
    assert again.body == first.body
    again.verify(hook["secret"])
    assert [a["attempt"] for a in deliveries(api, hook["webhookID"])["data"][0]["attempts"]] == [1, 2]


def test_redeliver_since_queues_every_failed_message_since_then(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s")
    hook = api.create(receiver.url)
    receiver.answer(500)
    before = int(time.time()) - 1
    failed = [api.dispatch(person_id=str(n))["messageID"] for n in range(3)]
    worker.run()
    receiver.answer(200)
    delivered = api.dispatch(person_id="9")["messageID"]
    worker.run()
    status, body = api.call("webhook.redeliver", webhookID=hook["webhookID"], since=str(before))
    assert (status, body) == (202, {"queued": 3})
    worker.run()
    assert {r["status"] for r in (record(hook["webhookID"], m) for m in failed)} == {"delivered"}
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert sorted(ids[4:]) == sorted(failed) and ids.count(delivered) == 1
    assert api.call("webhook.redeliver", webhookID=hook["webhookID"], since=str(int(time.time()) + 60)) == (202, {"queued": 0})


def test_a_redelivery_that_cannot_be_queued_leaves_the_message_as_it_was(api, receiver, worker, aws):
    import boto3

    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run()
    boto3.client("sqs").delete_queue(QueueUrl=aws["DeliveryQueue"]["url"])  # SQS unreachable
    status, body = api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID=message_id)
    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert record(hook["webhookID"], message_id)["status"] == "delivered"  # not stuck as pending
    assert api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID=message_id)[0] == 503  # not 409


def test_redeliver_refuses_a_message_still_pending_and_an_unknown_one(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,5m")
    receiver.answer(500)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run(until=lambda: len(receiver.requests) == 1)
    assert api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID=message_id)[0] == 409
    status, body = api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID="msg_01AAAAAAAAAAAAAAAAAAAAAAAA")
    assert (status, body["error"]["field"]) == (404, "messageID")
    assert api.call("webhook.redeliver", webhookID=hook["webhookID"])[0] == 400
    assert api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID=message_id, since="1")[0] == 400


def test_test_send_answers_with_the_endpoints_real_answer(api, receiver):
    receiver.answer((418, 0.0, b"I'm a teapot"))
    hook = api.create(receiver.url)
    status, body = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200
    assert body["statusCode"] == 418 and body["response"] == "I'm a teapot" and body["error"]
    assert isinstance(body["durationMs"], int)
    (request,) = receiver.requests
    payload = request.verify(hook["secret"])
    assert payload["type"] == "webhook.test" and payload["webhookID"] == hook["webhookID"]


def test_test_send_to_an_endpoint_that_is_down_reports_the_error(api):
    hook = api.create("http://127.0.0.1:9/down")
    status, body = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and body["statusCode"] is None and "could not connect" in body["error"]


def test_a_disabled_webhook_gets_nothing_and_its_messages_are_kept_as_skipped(api, receiver, worker):
    hook = api.create(receiver.url)
    queued_before = api.dispatch(person_id="1")["messageID"]
    status, body = api.call("webhook.disable", webhookID=hook["webhookID"])
    assert status == 200 and body["status"] == "disabled" and "secret" not in body
    assert api.dispatch(person_id="2")["webhooks"] == 0
    worker.run()
    assert receiver.requests == []
    log = deliveries(api, hook["webhookID"])["data"]
    assert {m["status"] for m in log} == {"skipped"} and len(log) == 2
    assert queued_before in {m["messageID"] for m in log}

    assert api.call("webhook.enable", webhookID=hook["webhookID"])[1]["status"] == "enabled"
    assert api.call("webhook.redeliver", webhookID=hook["webhookID"], since="0") == (202, {"queued": 2})
    worker.run()
    assert sorted(r.json()["data"]["personID"] for r in receiver.requests) == ["1", "2"]
    assert {m["status"] for m in deliveries(api, hook["webhookID"])["data"]} == {"delivered"}


def test_retry_after_on_429_is_honoured(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s")
    receiver.answer((429, 0.0, b"", {"retry-after": "3"}), 200)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run(until=lambda: record(hook["webhookID"], message_id)["status"] == "delivered", timeout=15)
    first, second = receiver.requests
    assert second.at - first.at >= 2.9


def test_an_endpoint_failing_for_longer_than_the_limit_is_disabled(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s,1s,1s", AUTO_DISABLE_AFTER="1500ms")
    receiver.answer(500)
    api.create(receiver.url)
    api.dispatch()
    worker.run(until=lambda: api.call("webhook.find", eventID="1234")[1]["data"][0]["status"] == "disabled",
               timeout=15)
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["status"] == "disabled"
    tries = len(receiver.requests)
    assert 2 <= tries <= 4  # the run of failures outlasted the limit between attempt 2 and 4
    api.dispatch()
    worker.run()
    assert len(receiver.requests) == tries


def test_a_success_ends_the_run_of_failures(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s", AUTO_DISABLE_AFTER="1500ms")
    receiver.answer(500, 200, 500, 200)
    hook = api.create(receiver.url)
    for person in ("1", "2"):
        message_id = api.dispatch(person_id=person)["messageID"]
        worker.run(until=lambda: record(hook["webhookID"], message_id)["status"] == "delivered", timeout=10)
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["status"] == "enabled"


def test_each_person_has_a_sequence_that_counts_up_and_survives_retries(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s")
    hook = api.create(receiver.url)
    first = api.dispatch(person_id="7", activity_id="1")["messageID"]
    receiver.rule = lambda request, earlier: 500 if not earlier else 200
    worker.run(until=lambda: record(hook["webhookID"], first)["status"] == "delivered", timeout=10)
    api.dispatch(person_id="7", activity_id="2")
    api.dispatch(person_id="8", activity_id="1")
    api.dispatch(person_id="7", activity_id="3")
    worker.run()
    seen = [(r.json()["data"]["personID"], r.json()["data"]["activityID"], r.json()["sequence"]) for r in receiver.requests]
    assert seen[:2] == [("7", "1", 1), ("7", "1", 1)]  # the retry carries the same number
    assert sorted(seen[2:]) == [("7", "2", 2), ("7", "3", 3), ("8", "1", 1)]


def test_attempts_are_logged_as_json_without_secrets_or_bodies_and_counted_as_metrics(api, receiver, worker, capfd):
    import io

    from chalicelib import observability

    hook = api.create(receiver.url)
    api.dispatch(data={"secretNote": "do-not-log-me"})
    logs = io.StringIO()
    previous = observability.logger.registered_handler.setStream(logs)
    capfd.readouterr()
    try:
        worker.run()
    finally:
        observability.logger.registered_handler.setStream(previous)
    log_lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    attempts = [line for line in log_lines if line.get("message") == "delivery attempt"]
    assert attempts and attempts[0]["webhookID"] == hook["webhookID"] and attempts[0]["statusCode"] == 200
    assert attempts[0]["outcome"] == "delivered" and attempts[0]["level"] == "INFO"
    emf = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert emf and emf[0]["Delivered"] in (1, [1])
    everything = json.dumps(log_lines) + json.dumps(emf)
    assert hook["secret"] not in everything and "do-not-log-me" not in everything and api.token not in everything


def test_with_metrics_turned_off_nothing_is_printed_or_kept_between_invocations(api, receiver, worker, capfd, monkeypatch):
    from chalicelib import observability

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    api.create(receiver.url)
    capfd.readouterr()
    for person in range(120):  # Powertools prints by itself once a metric holds 100 values
        api.dispatch(person_id=str(person))
    worker.run()
    assert len(receiver.wait_for(120, successes=True)) == 120  # the last answer may still be on its way out
    assert not [line for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert not observability.metrics.metric_set


def test_a_failed_last_attempt_whose_record_cannot_be_written_comes_back_rather_than_being_lost(
        api, aws, receiver, worker, settings):
    from tests.service.helpers import THROTTLED, fail_aws_calls, queued_count

    settings(RETRY_SCHEDULE="0s")  # one attempt: a failure is final, and would leave the queue
    receiver.answer(500)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    fail_aws_calls(get_services().dynamodb, "PutItem", THROTTLED, times=100, after=1)
    worker.run()
    assert len(receiver.requests) == 1
    assert record(hook["webhookID"], message_id) is None and queued_count(aws) == 1  # back, hidden until it is tried again


def test_a_record_kept_by_an_earlier_version_with_its_headers_as_a_map_is_still_shown(api, aws, receiver, worker):
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run()
    table = get_services().settings.table_name
    key = {"pk": {"S": f"WH#{hook['webhookID']}"}, "sk": {"S": f"MSG#{message_id}"}}
    headers = {"webhook-id": {"S": message_id}, "content-type": {"S": "application/json"}}
    get_services().dynamodb.update_item(TableName=table, Key=key, UpdateExpression="SET requestHeaders = :h",
                                        ExpressionAttributeValues={":h": {"M": headers}})  # as the local run kept it
    status, body = api.call("webhook.message", http="GET", webhookID=hook["webhookID"], messageID=message_id)
    assert status == 200 and body["request"]["headers"]["webhook-id"] == message_id


@pytest.fixture
def three_failed(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s")
    receiver.answer(500)
    hook = api.create(receiver.url)
    for person in "123":
        api.dispatch(person_id=person)
    worker.run()
    receiver.answer(200)
    receiver.requests.clear()
    return hook


def log_statuses(api, hook):
    return sorted(m["status"] for m in api.call("webhook.deliveries", webhookID=hook["webhookID"])[1]["data"])


@pytest.mark.parametrize("operation, after, error", [
    ("Query", 0, THROTTLED),
    ("SendMessageBatch", 0, THROTTLED),
    ("SendMessageBatch", 0, ConnectTimeoutError(endpoint_url="sqs")),
    ("UpdateItem", 0, THROTTLED),
    ("UpdateItem", 1, ConnectTimeoutError(endpoint_url="dynamodb")),
    ("UpdateItem", 2, THROTTLED),
])
def test_a_replay_failing_at_any_step_leaves_each_message_queued_or_as_it_was(
        api, receiver, worker, three_failed, monkeypatch, operation, after, error):
    monkeypatch.setattr(worker_module, "_REOPEN_WAIT_MS", 0)  # a replay never reopened is dropped at once
    client = get_services().sqs if operation == "SendMessageBatch" else get_services().dynamodb
    fail_aws_calls(client, operation, error, after=after)
    status, _ = api.call("webhook.redeliver", webhookID=three_failed["webhookID"], since="0")
    assert status == 503
    worker.run()
    statuses = log_statuses(api, three_failed)
    assert statuses.count("pending") == 0  # nothing stranded
    reopened = after if operation == "UpdateItem" else 0  # the reopenings made before the failure
    assert len(receiver.requests) == statuses.count("delivered") == reopened
    assert api.call("webhook.redeliver", webhookID=three_failed["webhookID"], since="0") == (
        202, {"queued": statuses.count("failed")})  # what was left as it was can be replayed

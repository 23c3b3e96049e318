"""Section 10 of the contract, in process: strict input, rate limits, idempotent dispatch, one
webhook per endpoint, dispatch for admins only, bounded records, and the smaller holes."""

import json
import time

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError

import app as application
from chalicelib.delivery import worker as worker_module
from chalicelib.delivery.destinations import DestinationPolicy, UnsafeDestination
from chalicelib.errors import RateLimited
from chalicelib.services import get_services
from dev.worker import DeliveryPoller
from tests.helpers import Worker, stored_message
from tests.service.helpers import THROTTLED, FakeDNS, fail_aws_calls, queued_count

URL = "http://127.0.0.1:9/hook"


def error_of(answer):
    status, body = answer
    return status, body["error"]["code"], body["error"]["field"]


def raw_call(api, name, body, content_type="application/json", headers=None):
    response = api.client.http.post(f"/api/{name}", body=body, headers={
        "authorization": f"Bearer {api.token}", "content-type": content_type, **(headers or {})})
    return response.status_code, json.loads(response.body), response.headers


# Strict JSON and numbers ------------------------------------------------------------------------

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


# Rate limits -------------------------------------------------------------------------------------

def test_a_token_past_its_rate_is_429_with_retry_after_and_an_admin_token_is_not_limited(api, settings):
    settings(RATE_LIMIT_PER_SECOND="2")
    scoped = api.call("token.create", eventID="1234")[1]["tokenID"]
    answers = [api.client.http.get("/api/webhook.find?eventID=1234", headers={"authorization": f"Bearer {scoped}"})
               for _ in range(8)]
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4 and 429 in statuses  # a burst of twice the rate, then refused
    refused = answers[statuses.index(429)]
    assert int(refused.headers["Retry-After"]) >= 1
    assert json.loads(refused.body)["error"]["code"] == "rate_limited"
    assert all(api.call("webhook.find", http="GET", eventID="1234")[0] == 200 for _ in range(8))


def test_webhook_test_runs_at_most_its_number_a_minute_per_webhook(api, receiver, settings):
    settings(TEST_SENDS_PER_MINUTE="3")
    hook, other = api.create(receiver.url), api.create(receiver.url + "/other")
    statuses = [api.call("webhook.test", webhookID=hook["webhookID"])[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert api.call("webhook.test", webhookID=other["webhookID"])[0] == 200  # per webhook
    assert len(receiver.requests) == 4


def test_test_sends_are_counted_in_any_minute_not_per_bucket(aws):
    limits = get_services().limits
    for second in (0, 1, 2):
        limits.take_within("TEST#wh_x", 3, 60, 1_000 + second, "three a minute")
    with pytest.raises(RateLimited) as refused:
        limits.take_within("TEST#wh_x", 3, 60, 1_030, "three a minute")  # a bucket would allow one by now
    assert refused.value.headers["Retry-After"] == "30"
    limits.take_within("TEST#wh_x", 3, 60, 1_060.5, "three a minute")  # the first has left the minute


# Idempotent dispatch ------------------------------------------------------------------------------

def test_the_same_idempotency_key_answers_the_first_dispatch_again_and_queues_nothing(api, aws, receiver):
    api.create(receiver.url)
    params = {"type": "activityEnrollment", "eventID": "1234", "activityID": "98", "personID": "7"}
    key = {"Idempotency-Key": "order-1"}
    first = api.call("webhook.dispatch", headers=key, **params)
    again = api.call("webhook.dispatch", headers=key, **params)
    assert first[0] == again[0] == 202 and first[1] == again[1]
    assert queued_count(aws) == 1
    other = api.call("webhook.dispatch", headers=key, **{**params, "personID": "8"})
    assert error_of(other) == (409, "idempotency_key_reused", "Idempotency-Key")
    assert api.call("webhook.dispatch", headers={"Idempotency-Key": "order-2"}, **params)[0] == 202
    assert api.call("webhook.dispatch", **params)[0] == 202
    assert queued_count(aws) == 3


def test_a_bad_idempotency_key_is_400(api):
    status, _, _ = raw_call(api, "webhook.dispatch", json.dumps({"type": "eventEdited", "eventID": "1"}),
                            headers={"Idempotency-Key": "x" * 300})
    assert status == 400


def test_a_dispatch_that_failed_keeps_no_idempotency_record_and_can_be_retried(api, aws, receiver):
    api.create(receiver.url)
    params = {"type": "activityEnrollment", "eventID": "1234", "activityID": "98", "personID": "7"}
    fail_aws_calls(get_services().sqs, "SendMessageBatch", THROTTLED)
    assert api.call("webhook.dispatch", headers={"Idempotency-Key": "k"}, **params)[0] == 503
    assert api.call("webhook.dispatch", headers={"Idempotency-Key": "k"}, **params)[0] == 202
    assert queued_count(aws) == 1


# Dispatch, tokens, uniqueness ----------------------------------------------------------------------

def test_only_an_admin_token_dispatches(api):
    scoped = api.call("token.create", eventID="1234")[1]["tokenID"]
    status, body = api.call("webhook.dispatch", token=scoped, type="activityEnrollment", eventID="1234",
                            activityID="98", personID="1")
    assert (status, body["error"]["code"]) == (403, "forbidden")


def test_a_token_holds_at_most_100_events(api):
    events = ",".join(str(n) for n in range(101))
    assert error_of(api.call("token.create", eventID=events)) == (400, "invalid_parameter", "eventID")
    assert api.call("token.create", eventID=",".join(str(n) for n in range(100)))[0] == 201


@pytest.mark.parametrize("spelling", ["HTTPS://Hooks.Example.COM/in", "https://hooks.example.com./in",
                                      "https://hooks.example.com:443/in", "https://hooks.example.com/in#part"])
def test_one_webhook_per_endpoint_however_its_url_is_spelled(api, settings, spelling):
    services = get_services()
    services.__dict__["policy"] = DestinationPolicy((), resolver=FakeDNS(**{"hooks.example.com": ["93.184.216.34"]}))
    first = api.create("https://hooks.example.com/in")
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=spelling)
    assert status == 409 and first["webhookID"] in body["error"]["message"]


@pytest.mark.parametrize("spelling", ["http://2130706433:9/x", "http://0x7f.0.0.1:9/x", "http://127.1:9/x",
                                      "http://[::ffff:7f00:1]:9/x"])
def test_one_webhook_per_address_however_the_ip_is_spelled(api, spelling):
    first = api.create("http://127.0.0.1:9/x")
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=spelling)
    assert status == 409 and first["webhookID"] in body["error"]["message"]


def test_a_body_just_under_64_kib_is_dispatched(api, receiver, worker):
    api.create(receiver.url)
    base = {"type": "activityEnrollment", "eventID": "1234", "activityID": "98", "personID": "1"}
    low, high = 0, 70_000
    while low < high:  # the largest filler the service accepts
        mid = (low + high + 1) // 2
        status = api.call("webhook.dispatch", **{**base, "personID": str(mid)}, data={"filler": "x" * mid})[0]
        low, high = (mid, high) if status == 202 else (low, mid - 1)
    worker.run(timeout=30)
    longest = max(len(r.body) for r in receiver.requests)  # each person's first message: sequence 1
    assert 64 * 1024 - 6 <= longest <= 64 * 1024  # refused only past the limit, not 15 bytes short of it


# Bounded records (a message replayed 200 times: tests/test_hardening_local.py) --------------------

def test_a_record_that_cannot_be_written_after_a_2xx_never_sends_the_message_again_and_is_written_later(
        api, aws, receiver, settings):
    settings(DELIVERY_TIMEOUT_SECONDS="1")  # an invocation of 4 s may attempt (1 s + 2 s to spare)
    worker = Worker(DeliveryPoller(boto3.client("sqs"), aws["DeliveryQueue"]["url"], application.deliver,
                                   wait_seconds=0, function_timeout=4))
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    tried = fail_aws_calls(get_services().dynamodb, "PutItem", THROTTLED, times=12, after=1)
    worker.run(until=lambda: len(tried) > 1)  # the record's write waits for DynamoDB, then goes to the queue
    assert stored_message(hook["webhookID"], message_id) is None and queued_count(aws) == 1
    assert worker.run(until=lambda: stored_message(hook["webhookID"], message_id) is not None, timeout=30)
    assert stored_message(hook["webhookID"], message_id)["status"] == "delivered"
    assert len(receiver.requests) == 1


# Replays that cannot strand a message -----------------------------------------------------------------

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


# The smaller holes ------------------------------------------------------------------------------------

def test_ipv6_site_local_is_refused():
    with pytest.raises(UnsafeDestination):
        DestinationPolicy().check("http://[fec0::1]/hook")


def test_the_local_runs_own_ports_stay_closed_to_webhooks_though_loopback_is_allowed():
    import ipaddress

    policy = DestinationPolicy([ipaddress.ip_network("127.0.0.0/8")], deny_ports=(4566,))
    assert policy.check("http://127.0.0.1:9000/hook")
    with pytest.raises(UnsafeDestination, match="own backend"):
        policy.check("http://127.0.0.1:4566/")


def test_the_metadata_address_is_refused_as_link_local_not_loopback(api):
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment",
                            url="http://169.254.169.254/latest")
    assert status == 400 and "link-local" in body["error"]["message"] and "loopback" not in body["error"]["message"]


def test_a_rotated_out_secret_is_deleted_when_its_overlap_ends(api):
    hook = api.create(URL)
    api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    store = get_services().webhooks
    rotated = store.get(hook["webhookID"])
    assert len(store.get_item(hook["webhookID"])["secrets"]) == 2
    store.get(hook["webhookID"], now=rotated.previous_secret_until + 1)
    assert store.get_item(hook["webhookID"])["secrets"] == [rotated.secrets[0]]


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

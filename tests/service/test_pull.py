"""Contract section 18: pull webhooks and webhook.poll, as a receiver without a public URL calls
them. Every entry is checked with the Standard Webhooks library, as a receiver would."""

import base64
import json
import threading
import time
from urllib.parse import urlencode

import boto3
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

import app as application
from chalicelib.pull.poll import poll as poll_log
from chalicelib.services import get_services
from dev.worker import DeliveryPoller
from tests.helpers import wait_until


def pull(api, **params):
    params = {"eventID": "1234", "delivery": "pull", "types": ["eventEnrollment", "eventCheckIn"], **params}
    status, body = api.call("webhook.create", **{name: value for name, value in params.items() if value is not None})
    assert status == 201, body
    return body


def poll(api, hook, token=None, **params):
    status, body = api.call("webhook.poll", token=token, webhookID=hook["webhookID"], **params)
    assert status == 200, body
    return body


def dispatch(api, type="eventEnrollment", person="5521", **extra):
    return api.call("webhook.dispatch", type=type, eventID="1234", personID=person, **extra)[1]


def verified(hook, entry):
    """The entry as a receiver reads it: verified with the webhook's secret, like a push delivery."""
    payload = Verifier(hook["secret"]).verify(entry["body"], entry["headers"])
    assert entry["headers"]["webhook-id"] == entry["messageID"]
    assert entry["headers"]["content-type"] == "application/json" and "InEvent" in entry["headers"]["user-agent"]
    return payload


# The pull webhook


def test_a_pull_webhook_has_no_url_and_says_pull_and_push_ones_say_push(api):
    hook = pull(api)
    assert (hook["url"], hook["delivery"], hook["types"]) == (None, "pull", ["eventEnrollment", "eventCheckIn"])
    assert hook["secret"].startswith("whsec_")
    assert api.create("http://127.0.0.1:9/x")["delivery"] == "push"
    assert {h["delivery"] for h in api.call("webhook.find", eventID="1234")[1]["data"]} == {"push", "pull"}


@pytest.mark.parametrize("params, field", [
    ({"url": "http://127.0.0.1:9/x"}, "url"),
    ({"delivery": "push"}, "url"),
    ({"delivery": "poll"}, "delivery"),
    ({"headers": {"X-Key": "1"}}, "headers"),
    ({"rateLimit": 5}, "rateLimit"),
    # Each entry a poll returns is section 4's body, signed: no template shapes it (section 21 is
    # for endpoints: chat tools and no-code receivers, which cannot poll), and no OAuth client
    # gets a token for an endpoint it does not have (section 20).
    ({"template": {"preset": "slack"}}, "template"),
    ({"auth": {"type": "oauth2", "tokenUrl": "http://127.0.0.1:9/t", "clientID": "c", "clientSecret": "s"}}, "auth"),
])
def test_what_a_pull_webhook_cannot_be_given_is_400_on_that_field(api, params, field):
    response = api.client.http.post("/api/webhook.create", headers={
        "authorization": f"Bearer {api.token}", "content-type": "application/json"}, body=json.dumps(
        {"eventID": "1234", "delivery": "pull", "type": "eventEnd", **params}))
    status, body = response.status_code, json.loads(response.body)
    assert (status, body["error"]["field"]) == (400, field), body
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 0


def test_delivery_cannot_change_and_a_pull_webhook_takes_no_url(api):
    hook = pull(api)
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], delivery="push")
    assert (status, body["error"]["field"]) == (400, "delivery")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], url="http://127.0.0.1:9/x")
    assert (status, body["error"]["field"]) == (400, "url")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], types=["*"], filter={})
    assert status == 200 and (body["types"], body["url"], body["delivery"]) == (["*"], None, "pull")


def test_a_pull_webhook_takes_no_template_later_nor_tries_one(api):
    hook = pull(api, description="door scanners")
    assert hook["description"] == "door scanners"
    for name, params in (("webhook.update", {"template": {"preset": "teams"}}),
                         ("webhook.update", {"auth": {}}),
                         ("webhook.requestExample", {"template": {"preset": "slack"}})):
        status, body = api.call(name, webhookID=hook["webhookID"], **params)
        assert (status, body["error"]["field"]) == (400, next(iter(params))), (name, params)
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], description="gate B")
    assert (status, body["description"]) == (200, "gate B")


def test_an_event_may_have_several_pull_webhooks_of_one_type(api):
    assert pull(api, type="eventEnd", types=None)["webhookID"] != pull(api, type="eventEnd", types=None)["webhookID"]


# webhook.poll


def test_a_poll_returns_the_messages_in_dispatch_order_signed_as_push_deliveries(api):
    hook = pull(api)
    sent = [dispatch(api)["messageID"], dispatch(api, type="eventCheckIn")["messageID"],
            dispatch(api, person="7")["messageID"]]
    answer = poll(api, hook)
    assert [e["messageID"] for e in answer["data"]] == sent and answer["more"] is False
    payloads = [verified(hook, e) for e in answer["data"]]
    assert [(p["type"], p["data"]["personID"], p["sequence"]) for p in payloads] == [
        ("eventEnrollment", "5521", 1), ("eventCheckIn", "5521", 2), ("eventEnrollment", "7", 1)]
    assert {p["webhookID"] for p in payloads} == {hook["webhookID"]}
    assert poll(api, hook, cursor=answer["cursor"])["data"] == []
    later = dispatch(api, type="eventCheckIn", person="7")["messageID"]
    again = poll(api, hook, cursor=answer["cursor"])
    assert [e["messageID"] for e in again["data"]] == [later] and verified(hook, again["data"][0])["sequence"] == 2


def test_a_dispatch_counts_a_pull_webhook_it_reaches_and_a_filter_applies(api):
    pull(api, filter={"personID": ["1"]})
    assert dispatch(api, person="1")["webhooks"] == 1
    assert dispatch(api, person="2")["webhooks"] == 0


def test_an_ed25519_pull_webhooks_entries_are_signed_v1a_and_verify_with_its_public_key(api):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    hook = pull(api, signature="ed25519")
    assert "secret" not in hook and hook["publicKey"].startswith("whpk_")
    dispatch(api)
    (entry,) = poll(api, hook)["data"]
    headers = entry["headers"]
    scheme, signature = headers["webhook-signature"].split(",", 1)
    assert scheme == "v1a"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(hook["publicKey"][len("whpk_"):]))
    key.verify(base64.b64decode(signature),
               f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{entry['body']}".encode())
    assert json.loads(entry["body"])["sequence"] == 1


def test_an_older_cursor_returns_the_same_messages_with_a_fresh_timestamp_and_signature(api):
    hook = pull(api)
    dispatch(api)
    dispatch(api, person="7")
    first = poll(api, hook)
    stamped = max(int(entry["headers"]["webhook-timestamp"]) for entry in first["data"])
    wait_until(lambda: time.time() >= stamped + 1, timeout=5)  # a timestamp's next second
    again = poll(api, hook)  # no cursor: from the oldest kept, as the first one
    assert [(e["messageID"], e["body"]) for e in again["data"]] == [(e["messageID"], e["body"]) for e in first["data"]]
    for old, new in zip(first["data"], again["data"]):
        assert int(new["headers"]["webhook-timestamp"]) > int(old["headers"]["webhook-timestamp"])
        assert new["headers"]["webhook-signature"] != old["headers"]["webhook-signature"]
        verified(hook, new)
    assert again["cursor"] == first["cursor"]


def test_a_chain_of_cursors_returns_every_message_once_with_more_telling_when_to_poll_again(api):
    hook = pull(api)
    sent = [dispatch(api, person=str(n))["messageID"] for n in range(7)]
    got, cursor, mores = [], None, []
    while True:
        answer = poll(api, hook, limit=3, **({"cursor": cursor} if cursor else {}))
        got += [e["messageID"] for e in answer["data"]]
        mores.append(answer["more"])
        cursor = answer["cursor"]
        if not answer["more"]:
            break
    assert got == sent and mores == [True, True, False]


def test_a_poll_waits_for_a_message_and_answers_as_soon_as_one_comes(api):
    hook = pull(api)
    started = time.monotonic()
    assert poll(api, hook, wait=1)["data"] == []
    assert 1.0 <= time.monotonic() - started < 3.0  # waited its second, then answered empty
    threading.Timer(0.6, lambda: dispatch(api)).start()
    started = time.monotonic()
    answer = poll(api, hook, wait=10)
    took = time.monotonic() - started
    assert len(answer["data"]) == 1 and took < 5.0  # not the whole wait


@pytest.mark.parametrize("params, field", [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"wait": 21}, "wait"),
                                           ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": "A" * 27}, "cursor")])
def test_bad_poll_parameters_are_400_on_that_field(api, params, field):
    hook = pull(api)
    status, body = api.call("webhook.poll", webhookID=hook["webhookID"], **params)
    assert (status, body["error"]["field"]) == (400, field)


def test_a_cursor_of_another_webhook_or_made_up_is_refused(api):
    one, other = pull(api), pull(api)
    dispatch(api)
    cursor = poll(api, one)["cursor"]
    status, body = api.call("webhook.poll", webhookID=other["webhookID"], cursor=cursor)
    assert (status, body["error"]["field"]) == (400, "cursor")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    made_up = base64.urlsafe_b64encode((5).to_bytes(8, "big") + raw[8:]).decode().rstrip("=")
    status, body = api.call("webhook.poll", webhookID=one["webhookID"], cursor=made_up)
    assert (status, body["error"]["field"]) == (400, "cursor")


def test_a_push_webhook_is_not_polled(api):
    hook = api.create("http://127.0.0.1:9/x")
    status, body = api.call("webhook.poll", webhookID=hook["webhookID"])
    assert (status, body["error"]["field"]) == (400, "webhookID")


def test_poll_takes_get_and_form_bodies_too(api):
    hook = pull(api)
    dispatch(api)
    assert len(api.call("webhook.poll", http="GET", webhookID=hook["webhookID"], limit="5")[1]["data"]) == 1
    response = api.client.http.post("/api/?action=webhook.poll", body=urlencode({"webhookID": hook["webhookID"]}),
                                    headers={"authorization": f"Bearer {api.token}",
                                             "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and len(json.loads(response.body)["data"]) == 1


# The delivery log


def test_a_pull_message_is_pending_until_first_returned_then_delivered_with_one_attempt(api):
    hook = pull(api)
    message = dispatch(api)["messageID"]
    (pending,) = api.call("webhook.deliveries", webhookID=hook["webhookID"])[1]["data"]
    assert (pending["messageID"], pending["status"], pending["attempts"]) == (message, "pending", [])
    assert api.call("webhook.message", webhookID=hook["webhookID"], messageID=message)[1]["request"] is None
    before = int(time.time())
    entry = poll(api, hook)["data"][0]
    poll(api, hook)  # returned again: still one attempt, dated at the first
    (delivered,) = api.call("webhook.deliveries", webhookID=hook["webhookID"])[1]["data"]
    (attempt,) = delivered["attempts"]
    assert delivered["status"] == "delivered" and attempt["statusCode"] is None and attempt["attempt"] == 1
    assert before <= int(attempt["date"]) <= int(time.time())
    shown = api.call("webhook.message", webhookID=hook["webhookID"], messageID=message)[1]
    assert shown["status"] == "delivered" and shown["request"]["body"] == entry["body"]
    assert api.call("webhook.deliveries", webhookID=hook["webhookID"], status="pending")[1]["count"] == 0
    assert api.call("webhook.deliveries", webhookID=hook["webhookID"], status="delivered")[1]["count"] == 1
    stats = api.call("webhook.stats", webhookID=hook["webhookID"])[1]
    assert (stats["delivered"], stats["pending"], stats["successRate"]) == (1, 0, 1.0)
    assert stats["lastSuccessDate"] == attempt["date"]  # the poll that first returned it


def test_the_delivery_log_of_a_pull_webhook_pages_newest_first(api):
    hook = pull(api)
    sent = [dispatch(api, person=str(n))["messageID"] for n in range(5)]
    poll(api, hook, limit=2)
    page = api.call("webhook.deliveries", webhookID=hook["webhookID"], limit=3)[1]
    rest = api.call("webhook.deliveries", webhookID=hook["webhookID"], limit=3, cursor=page["cursor"])[1]
    assert [m["messageID"] for m in page["data"] + rest["data"]] == sent[::-1] and rest["cursor"] is None
    assert [m["status"] for m in page["data"] + rest["data"]] == ["pending"] * 3 + ["delivered"] * 2


def test_a_disabled_pull_webhook_collects_nothing_its_messages_are_skipped(api):
    hook = pull(api)
    api.call("webhook.disable", webhookID=hook["webhookID"])
    skipped = dispatch(api)["messageID"]
    assert poll(api, hook)["data"] == []
    api.call("webhook.enable", webhookID=hook["webhookID"])
    later = dispatch(api)["messageID"]
    answer = poll(api, hook)
    assert [e["messageID"] for e in answer["data"]] == [later] and verified(hook, answer["data"][0])["sequence"] == 1
    statuses = {m["messageID"]: m["status"] for m in api.call("webhook.deliveries", webhookID=hook["webhookID"])[1]["data"]}
    assert statuses == {skipped: "skipped", later: "delivered"}


def test_trace_shows_a_pull_webhook_pending_until_a_poll_returns_its_message_then_delivered(api):
    hook = pull(api)
    message = dispatch(api)["messageID"]

    def traced():
        status, body = api.call("webhook.trace", http="GET", messageID=message, eventID="1234")
        assert status == 200, body
        (row,) = body["data"]  # the fan-out's dispatch record names the pull webhook
        return row

    assert traced() == {"webhookID": hook["webhookID"], "url": None, "delivery": "pull", "status": "pending",
                        "attempts": 0, "lastStatusCode": None}
    poll(api, hook)
    assert {k: traced()[k] for k in ("status", "attempts", "lastStatusCode")} == {
        "status": "delivered", "attempts": 1, "lastStatusCode": None}


def test_replays_and_test_sends_are_for_push_webhooks(api):
    hook = pull(api)
    for name, params in (("webhook.redeliver", {"since": "0"}), ("webhook.test", {})):
        status, body = api.call(name, webhookID=hook["webhookID"], **params)
        assert (status, body["error"]["field"]) == (400, "webhookID"), name


def test_request_example_of_a_pull_webhook_is_what_a_poll_returns(api):
    hook = pull(api)
    example = api.call("webhook.requestExample", webhookID=hook["webhookID"])[1]
    assert example["url"] is None and Verifier(hook["secret"]).verify(example["body"], example["headers"])


def test_a_message_put_twice_by_a_retried_fan_out_is_returned_once(api):
    hook = pull(api)
    message = dispatch(api)["messageID"]
    log = get_services().pull_log
    first = log.find(hook["webhookID"], message)
    log.append(first.message, time.time())  # the same message again, as a fan-out retried after a failure
    answer = poll(api, hook)
    assert [e["messageID"] for e in answer["data"]] == [message]


# Erasure


def test_an_erased_person_is_never_returned_again_nor_shown(api, settings):
    settings(ERASURE_SETTLE_SECONDS="0")
    hook = pull(api)
    gone = dispatch(api, person="5521")["messageID"]
    kept = dispatch(api, person="7")["messageID"]
    assert len(poll(api, hook)["data"]) == 2
    erasure = api.call("webhook.erasePerson", personID="5521", eventID="1234")[1]["erasureID"]
    eraser = DeliveryPoller(boto3.client("sqs"), get_services().settings.erasure_queue_url, application.erase_person,
                            wait_seconds=1)
    for _ in range(10):
        if api.call("webhook.erasure", erasureID=erasure)[1]["status"] == "done":
            break
        eraser.poll_once()
    assert api.call("webhook.erasure", erasureID=erasure)[1] == {"erasureID": erasure, "status": "done", "erased": 1}
    assert [e["messageID"] for e in poll(api, hook)["data"]] == [kept]
    assert [m["messageID"] for m in api.call("webhook.deliveries", webhookID=hook["webhookID"])[1]["data"]] == [kept]
    assert api.call("webhook.message", webhookID=hook["webhookID"], messageID=gone)[0] == 404
    cursor = poll(api, hook)["cursor"]  # the next message about the person starts at 1 again
    dispatch(api, person="5521")
    answer = poll(api, hook, cursor=cursor)
    assert [verified(hook, e)["sequence"] for e in answer["data"]] == [1]


# A device's token


def test_a_devices_token_polls_its_webhooks_and_nothing_else(api):
    door, other = pull(api), pull(api)
    push = api.create("http://127.0.0.1:9/x")
    status, token = api.call("token.create", webhookID=door["webhookID"])
    assert status == 201 and token["webhooks"] == [door["webhookID"]]
    device = token["tokenID"]
    dispatch(api)
    assert len(poll(api, door, token=device)["data"]) == 1
    for name, params in (("webhook.poll", {"webhookID": other["webhookID"]}),
                         ("webhook.poll", {"webhookID": "wh_unknown"}),
                         ("webhook.find", {"eventID": "1234"}),
                         ("webhook.deliveries", {"webhookID": door["webhookID"]}),
                         ("webhook.remove", {"webhookID": door["webhookID"]}),
                         ("webhook.types", {})):
        status, body = api.call(name, token=device, **params)
        assert status == 403, (name, body)
    for params in ({"webhookID": push["webhookID"]}, {"webhookID": "wh_none"},
                   {"webhookID": door["webhookID"], "eventID": "1234"}):
        status, body = api.call("token.create", **params)
        assert (status, body["error"]["field"]) == (400, "webhookID"), params


def test_an_event_token_polls_its_events_pull_webhooks_and_not_others(api):
    mine, theirs = pull(api), pull(api, eventID="999")
    token = api.call("token.create", eventID="1234")[1]["tokenID"]
    assert poll(api, mine, token=token)["data"] == []
    assert api.call("webhook.poll", token=token, webhookID=theirs["webhookID"])[0] == 404


def test_a_wait_reads_the_log_23_times_in_20_seconds_never_in_a_tight_loop():
    now = [1000.0]
    reads = []

    class EmptyLog:
        def after(self, webhook_id, position, limit, at):
            reads.append(at)
            return [], position, False

        def number(self, webhook_id, entries, erased, at):
            return {}

    def sleep(seconds):
        now[0] += seconds

    webhook = type("Webhook", (), {"webhook_id": "wh_x"})
    data, position, more = poll_log(webhook, EmptyLog(), 7, 100, 20, lambda m: False, clock=lambda: now[0],
                                    sleep=sleep)
    assert (data, position, more) == ([], 7, False)
    gaps = [b - a for a, b in zip(reads, reads[1:])]
    assert len(reads) == 23 and reads[-1] - reads[0] == 20 and min(gaps) == 0.25 and max(gaps) == 1.0

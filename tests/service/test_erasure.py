"""Section 15 of the contract, people forgotten: webhook.erasePerson and webhook.erasure, with the
job run as its Lambda's SQS event source would run it, and deliveries to a real receiver."""

import time

import boto3
import pytest

import app as application
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.ids import deterministic_id
from chalicelib.services import get_services
from chalicelib.store.erasure import ErasureJob, erased_before
from dev.worker import DeliveryPoller
from tests.helpers import Worker, stored_message

PERSON, OTHER = "5521", "6000"


@pytest.fixture
def eraser(aws, settings):
    settings(ERASURE_SETTLE_SECONDS="0")
    return Worker(DeliveryPoller(boto3.client("sqs"), aws["ErasureQueue"]["url"], application.erase_person,
                                 wait_seconds=0))


def erase(api, eraser, **owners):
    status, body = api.call("webhook.erasePerson", personID=PERSON, **owners)
    assert status == 202 and set(body) == {"erasureID"}, body
    assert api.call("webhook.erasure", http="GET", erasureID=body["erasureID"])[1]["status"] == "running"
    assert eraser.run(until=lambda: status_of(api, body["erasureID"])["status"] == "done", timeout=20)
    return status_of(api, body["erasureID"])


def status_of(api, erasure_id):
    status, body = api.call("webhook.erasure", http="GET", erasureID=erasure_id)
    assert status == 200, body
    return body


def people_in_log(api, hook):
    """The people the webhook's log names, one per message; webhook.deliveries lists as many messages."""
    records, _ = get_services().log.page(hook["webhookID"], time.time(), limit=200)
    listed = api.call("webhook.deliveries", webhookID=hook["webhookID"], limit=200)[1]["data"]
    assert [m["messageID"] for m in listed] == [r.message.message_id for r in records]
    return sorted(r.message.data["personID"] for r in records)


def test_every_message_about_the_person_goes_from_the_scopes_logs_and_only_there(api, receiver, worker, eraser):
    event_hook = api.create(receiver.url + "/event")
    status, company_hook = api.call("webhook.create", companyID="42", type="activityEnrollment", url=receiver.url)
    out_of_scope = api.create(receiver.url + "/other", event_id="999")
    erased = []
    for person in (PERSON, OTHER, PERSON):
        erased.append(api.dispatch(person_id=person, companyID="42")["messageID"])
        api.dispatch(event_id="999", person_id=person)
    worker.run()
    assert people_in_log(api, company_hook) == [PERSON, PERSON, OTHER]

    done = erase(api, eraser, eventID="1234", companyID="42")

    assert done["erased"] == 4  # two messages in each of two logs
    for hook in (event_hook, company_hook):
        assert people_in_log(api, hook) == [OTHER]
        status, body = api.call("webhook.message", webhookID=hook["webhookID"], messageID=erased[0])
        assert (status, body["error"]["field"]) == (404, "messageID")
        stats = api.call("webhook.stats", webhookID=hook["webhookID"])[1]
        assert (stats["window"], stats["delivered"]) == (1, 1)
        status, body = api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID=erased[0])
        assert status == 404  # a redelivery cannot bring it back
    assert people_in_log(api, out_of_scope) == [PERSON, PERSON, OTHER]


def test_messages_queued_waiting_for_a_retry_or_skipped_are_never_sent_after_done(api, receiver, worker, eraser,
                                                                                   settings):
    settings(RETRY_SCHEDULE="0s,1s,1s", ERASURE_SETTLE_SECONDS="0")
    retrying = api.create(receiver.url + "/retrying")
    skipping = api.create(receiver.url + "/skipping", type="activityDismissal")
    receiver.answer(500, 200)
    api.dispatch(person_id=PERSON)  # fails once: waits for its retry
    worker.run()
    api.call("webhook.disable", webhookID=skipping["webhookID"])
    api.dispatch(type="activityDismissal", person_id=PERSON)  # kept as skipped
    api.dispatch(person_id=PERSON)  # still queued when the erasure is asked for
    before = len(receiver.requests)

    erase(api, eraser, eventID="1234")

    api.call("webhook.enable", webhookID=skipping["webhookID"])
    assert api.call("webhook.redeliver", webhookID=skipping["webhookID"], since="0")[1]["queued"] == 0
    worker.run()
    worker.run()
    assert len(receiver.requests) == before
    assert people_in_log(api, retrying) == [] and people_in_log(api, skipping) == []


def test_a_dispatch_before_the_erasure_is_erased_one_after_it_is_delivered(api, receiver, worker, eraser):
    hook = api.create(receiver.url)
    api.dispatch(person_id=PERSON)  # queued, not yet delivered, when the erasure is asked for
    status, body = api.call("webhook.erasePerson", personID=PERSON, eventID="1234")
    eraser.poller.poll_once()  # the job marks the webhooks
    after = api.dispatch(person_id=PERSON)["messageID"]  # the platform dispatches them again
    worker.run()
    assert eraser.run(until=lambda: status_of(api, body["erasureID"])["status"] == "done", timeout=20)
    worker.run()
    assert [r.headers["webhook-id"] for r in receiver.requests] == [after]
    assert people_in_log(api, hook) == [PERSON]  # the one after
    assert status_of(api, body["erasureID"])["erased"] == 0  # the one before was never sent nor recorded


def test_an_erasure_that_crashes_halfway_finishes_when_run_again(api, receiver, worker, eraser):
    hooks = [api.create(receiver.url + f"/{n}", type=t) for n, t in enumerate(
        ("activityEnrollment", "activityDismissal", "activityCheckIn"))]
    for hook in hooks:
        api.dispatch(type=hook["type"], person_id=PERSON)
    worker.run()
    services = get_services()

    def crash(erased):
        raise RuntimeError("the function's instance died")

    crashing = ErasureJob(services.erasures, services.webhooks, services.dynamodb, services.settings.table_name,
                          settle_seconds=0, after_commit=crash)
    erasure_id = services.erasures.start(PERSON, [["event", "1234"]], services.clock()).erasure_id
    crashing.run(erasure_id)  # marks the webhooks
    with pytest.raises(RuntimeError):
        crashing.run(erasure_id)  # deletes the first webhook's messages, then dies
    halfway = status_of(api, erasure_id)
    assert halfway == {"erasureID": erasure_id, "status": "running", "erased": 1}

    assert eraser.run(until=lambda: status_of(api, erasure_id)["status"] == "done", timeout=20)  # its queue runs it again
    assert status_of(api, erasure_id)["erased"] == 3
    assert all(people_in_log(api, hook) == [] for hook in hooks)


def test_erase_person_needs_an_admin_a_person_and_an_owner(api):
    assert api.call("webhook.erasePerson", eventID="1")[1]["error"]["field"] == "personID"
    assert api.call("webhook.erasePerson", personID="1")[1]["error"]["field"] == "eventID"
    token = api.call("token.create", eventID="1")[1]["tokenID"]
    assert api.call("webhook.erasePerson", token=token, personID="1", eventID="1")[0] == 403
    assert api.call("webhook.erasure", token=token, erasureID="era_x")[0] == 403
    status, body = api.call("webhook.erasure", erasureID="era_x")
    assert (status, body["error"]["field"]) == (404, "erasureID")
    assert api.call("webhook.erasePerson", personID="1", eventID="1,2", companyID=["3"])[0] == 202


def test_a_delivery_makes_the_same_aws_requests_to_a_webhook_that_carries_erasure_marks(api, receiver, worker,
                                                                                         eraser):
    services = get_services()
    calls = []
    for client in (services.dynamodb, services.sqs, services.events):
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))

    def one_delivery(event_id):
        api.dispatch(event_id=event_id, person_id=OTHER)
        del calls[:]
        worker.run()
        return sorted(calls)

    api.create(receiver.url + "/plain", event_id="1")
    api.create(receiver.url + "/marked", event_id="2")
    erase(api, eraser, eventID="2")
    assert one_delivery("1") == one_delivery("2")
    assert len(receiver.wait_for(2, successes=True)) == 2  # the last answer may still be on its way out


def test_a_message_dispatched_in_the_erasures_own_millisecond_counts_as_before_it(api, receiver, eraser):
    """The boundary, to the millisecond: the worker drops a message made at the erasure's time
    (erased_before), and the job deletes it from the log; one made a millisecond later is the
    platform's new word: it is sent, and it stays."""
    hook = api.create(receiver.url)
    services = get_services()
    now = time.time()
    erasure = services.erasures.start(PERSON, [["event", "1234"]], now)
    at = erasure.requested_ms

    def message(ms):
        return QueuedMessage(message_id=deterministic_id("msg", str(ms), ms), webhook_id=hook["webhookID"],
                             type="activityEnrollment", subject=f"person:{PERSON}", date=str(int(now)),
                             timestamp=int(now), data={"eventID": "1234", "personID": PERSON})

    same, later = message(at), message(at + 1)
    services.log.put_skipped([same, later], now)
    assert eraser.run(until=lambda: status_of(api, erasure.erasure_id)["status"] == "done", timeout=20)
    webhook = services.webhooks.get(hook["webhookID"])
    assert erased_before(webhook, same) and not erased_before(webhook, later)
    assert status_of(api, erasure.erasure_id)["erased"] == 1
    assert stored_message(hook["webhookID"], same.message_id) is None
    assert stored_message(hook["webhookID"], later.message_id) is not None

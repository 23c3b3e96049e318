"""A retry never looks like another writer's request (issue 28): when AWS took a write and its
answer was lost, botocore sends it again, and that retry meets the first try's own write. Each
conditional write outside the delivery worker tells its own retry from a conflict. The faults
come from the fault proxy in front of the local moto server (dev/fault_proxy.py)."""

import functools
import json
import threading
import time

import pytest

from chalicelib.delivery.outcomes import MessageGivenUp
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.errors import Conflict, RateLimited
from chalicelib.services import get_services, reset_services
from chalicelib.store.erasure import ErasureJob
from chalicelib.store.table import get_item, webhook_key
from chalicelib.store.webhook_record import Webhook
from tests.helpers import aws_behind_a_fault_proxy, moto_server, wait_until

DISPATCH = {"type": "activityEnrollment", "eventID": "1234", "activityID": "98", "personID": "7"}
KEY = {"Idempotency-Key": "enrollment-7"}


def items(proxy, action):
    return sum(n for (name, _), n in proxy.faults.by_action.items() if name == action)


# Idempotent dispatch (contract, section 10) -------------------------------------------------------

def test_a_keyed_dispatch_whose_in_progress_record_answer_was_lost_is_not_refused(faulty_api, faulty_aws, receiver):
    faulty_api.create(receiver.url)
    faulty_aws.faults.inject("PutItem", "drop")  # the first PutItem: Powertools' in-progress record
    status, answer = faulty_api.call("webhook.dispatch", headers=KEY, **DISPATCH)
    assert (status, answer.get("webhooks")) == (202, 1), answer
    assert faulty_aws.faults.by_action[("PutItem", "drop")] == 1
    again = faulty_api.call("webhook.dispatch", headers=KEY, **DISPATCH)
    assert again == (202, answer)


def test_a_retry_while_the_first_dispatch_runs_is_told_to_wait_then_gets_the_first_answer(faulty_api, faulty_aws,
                                                                                          receiver):
    faulty_api.create(receiver.url)
    faulty_aws.faults.inject("SendMessageBatch", "delay")  # the first call takes 1.5 s to queue
    first = []
    running = threading.Thread(target=lambda: first.append(faulty_api.call("webhook.dispatch", headers=KEY,
                                                                           **DISPATCH)))
    running.start()
    wait_until(lambda: faulty_aws.faults.by_action[("SendMessageBatch", "delay")] == 1)  # the first is queueing
    status, body = faulty_api.call("webhook.dispatch", headers=KEY, **DISPATCH)
    running.join()
    assert (status, body["error"]["code"]) == (503, "idempotency_key_in_progress")
    assert first[0][0] == 202
    assert faulty_api.call("webhook.dispatch", headers=KEY, **DISPATCH) == first[0]


def test_the_in_progress_answer_says_when_to_try_again(faulty_api, faulty_aws, receiver):
    faulty_api.create(receiver.url)
    faulty_aws.faults.inject("SendMessageBatch", "delay")
    headers = {"authorization": f"Bearer {faulty_api.token}", "content-type": "application/json", **KEY}
    post = functools.partial(faulty_api.client.http.post, "/api/webhook.dispatch", headers=headers,
                             body=json.dumps(DISPATCH))
    running = threading.Thread(target=post)
    running.start()
    wait_until(lambda: faulty_aws.faults.by_action[("SendMessageBatch", "delay")] == 1)  # the first is queueing
    answer = post()
    running.join()
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")


def test_a_dispatch_done_whose_success_record_could_not_be_written_still_answers_202(faulty_api, faulty_aws,
                                                                                     receiver):
    faulty_api.create(receiver.url)
    # The fan-out's dispatch record (an UpdateItem) passes; Powertools' success record fails every try.
    faulty_aws.faults.inject("UpdateItem", "server_error", times=4, after=1)
    status, answer = faulty_api.call("webhook.dispatch", headers=KEY, **DISPATCH)
    assert (status, answer.get("webhooks")) == (202, 1), answer
    assert faulty_aws.faults.by_action[("UpdateItem", "server_error")] == 4


# Webhooks and tokens -----------------------------------------------------------------------------

def test_a_create_whose_answer_was_lost_answers_201_with_the_webhook_it_made(faulty_api, faulty_aws):
    faulty_aws.faults.inject("TransactWriteItems", "drop")
    status, made = faulty_api.call("webhook.create", eventID="1234", type="activityEnrollment",
                                   url="http://127.0.0.1:9/a")
    assert status == 201, made
    listed = faulty_api.call("webhook.find", eventID="1234")[1]["data"]
    assert [hook["webhookID"] for hook in listed] == [made["webhookID"]]
    stored = get_item(get_services().dynamodb, get_services().settings.table_name, webhook_key(made["webhookID"]))
    assert stored["secrets"] == [made["secret"]]


def test_a_create_whose_answer_was_lost_and_then_refused_still_answers_201(faulty_api, faulty_aws):
    # Botocore's four tries: the first commits and its answer is lost, the next three are refused:
    # the service tries again with the same ClientRequestToken, which DynamoDB honours.
    faulty_aws.faults.inject("TransactWriteItems", "drop")
    faulty_aws.faults.inject("TransactWriteItems", "server_error", times=3)
    status, made = faulty_api.call("webhook.create", eventID="1234", type="activityEnrollment",
                                   url="http://127.0.0.1:9/a")
    assert status == 201, made
    assert faulty_api.call("webhook.find", eventID="1234")[1]["count"] == 1


@pytest.mark.parametrize("method", ["webhook.update", "webhook.remove", "webhook.disable", "webhook.enable"])
def test_a_webhook_write_whose_answer_was_lost_answers_as_the_first_try(faulty_api, faulty_aws, method):
    made = faulty_api.create("http://127.0.0.1:9/a")
    params = {"url": "http://127.0.0.1:9/b"} if method == "webhook.update" else {}
    faulty_aws.faults.inject("TransactWriteItems", "drop")
    status, body = faulty_api.call(method, webhookID=made["webhookID"], **params)
    assert status == 200, body
    assert faulty_aws.faults.by_action[("TransactWriteItems", "drop")] == 1


def test_a_rotation_whose_answer_was_lost_answers_the_secret_that_signs(faulty_api, faulty_aws):
    made = faulty_api.create("http://127.0.0.1:9/a")
    faulty_aws.faults.inject("UpdateItem", "drop")
    status, rotated = faulty_api.call("webhook.rotateSecret", webhookID=made["webhookID"])
    assert status == 200, rotated
    stored = get_item(get_services().dynamodb, get_services().settings.table_name, webhook_key(made["webhookID"]))
    assert stored["secrets"] == [rotated["secret"], made["secret"]]


def test_a_second_rotation_from_the_same_secret_is_still_a_conflict(faulty_api):
    made = faulty_api.create("http://127.0.0.1:9/a")
    services = get_services()
    webhook = services.webhooks.get(made["webhookID"])
    services.webhooks.rotate_secret(webhook, "whsec_first", time.time() + 60)
    with pytest.raises(Conflict):
        services.webhooks.rotate_secret(webhook, "whsec_second", time.time() + 60)


def test_a_token_whose_answer_was_lost_is_made_once_and_answered(faulty_api, faulty_aws):
    faulty_aws.faults.inject("PutItem", "drop")
    status, made = faulty_api.call("token.create", eventID="1234")
    assert status == 201, made
    assert faulty_api.call("webhook.find", token=made["tokenID"], eventID="1234")[0] == 200


def test_a_revocation_whose_answer_was_lost_answers_200(faulty_api, faulty_aws):
    token = faulty_api.call("token.create", eventID="1234")[1]["tokenID"]
    faulty_aws.faults.inject("UpdateItem", "drop")  # the revocation's write
    faulty_aws.faults.inject("DeleteItem", "drop")  # (as it was once: a DeleteItem, whose retry found nothing)
    assert faulty_api.call("token.revoke", tokenID=token)[0] == 200
    assert faulty_api.call("webhook.find", token=token, eventID="1234")[0] == 401
    assert faulty_api.call("token.revoke", tokenID=token)[0] == 404  # revoked already: no such token


# Several types, pull webhooks and device tokens (contract, sections 17 and 18) --------------------

def test_a_change_of_types_whose_answer_was_lost_answers_200_and_holds_its_claims(faulty_api, faulty_aws):
    # The item, the listing and the url's claim item move together, in one transaction. Its first
    # try commits and its answer is lost, botocore's three retries are refused: the store tries
    # again with the first try's ClientRequestToken (with a new one, the conditions would see the
    # webhook's own new types and claims, and the call would answer 409 "changed meanwhile").
    made = faulty_api.create("http://127.0.0.1:9/a")
    faulty_aws.faults.inject("TransactWriteItems", "drop")
    faulty_aws.faults.inject("TransactWriteItems", "server_error", times=3)
    status, body = faulty_api.call("webhook.update", webhookID=made["webhookID"],
                                   types=["activityEnrollment", "activityCheckIn"])
    assert (status, body.get("types")) == (200, ["activityEnrollment", "activityCheckIn"]), body
    assert faulty_aws.faults.by_action[("TransactWriteItems", "drop")] == 1
    status, body = faulty_api.call("webhook.create", eventID="1234", type="activityCheckIn", url="http://127.0.0.1:9/a")
    assert status == 409 and made["webhookID"] in body["error"]["message"]


def pull_positions(webhook_id):
    services = get_services()
    answer = services.dynamodb.query(TableName=services.settings.table_name,
                                     KeyConditionExpression="pk = :pk AND begins_with(sk, :pos)",
                                     ExpressionAttributeValues={":pk": {"S": f"WH#{webhook_id}"},
                                                                ":pos": {"S": "POS#"}})
    return [item["sk"]["S"] for item in answer["Items"]]


def test_a_pull_entry_whose_answer_was_lost_is_put_once(faulty_api, faulty_aws):
    # Botocore sends the entry's PutItem again; the retry finds the first try's entry at the
    # position and knows it by its token (without it, it puts the message again one further on).
    pull = faulty_api.call("webhook.create", eventID="1234", type="activityEnrollment", delivery="pull")[1]
    faulty_aws.faults.inject("PutItem", "drop")
    assert faulty_api.call("webhook.dispatch", **DISPATCH)[0] == 202
    assert faulty_aws.faults.by_action[("PutItem", "drop")] == 1
    assert pull_positions(pull["webhookID"]) == ["POS#000000000001"]
    (entry,) = faulty_api.call("webhook.poll", webhookID=pull["webhookID"])[1]["data"]
    assert json.loads(entry["body"])["sequence"] == 1


def test_a_first_poll_whose_writes_answers_were_lost_numbers_each_message_once(faulty_api, faulty_aws):
    # A first return's writes (its range in the PULL item, the subject's counter, its mark, then
    # `returned`) each give the same outcome done again: the retries, and a poll that finds the
    # range pending, number each message once.
    pull = faulty_api.call("webhook.create", eventID="1234", type="activityEnrollment", delivery="pull")[1]
    for _ in range(3):
        assert faulty_api.call("webhook.dispatch", **DISPATCH)[0] == 202  # one person: 1, 2, 3
    faulty_aws.faults.inject("UpdateItem", "drop", times=2)
    faulty_aws.faults.inject("PutItem", "drop", times=2)
    status, page = faulty_api.call("webhook.poll", webhookID=pull["webhookID"])
    assert status == 200, page
    assert faulty_aws.faults.by_action[("UpdateItem", "drop")] == 2
    assert faulty_aws.faults.by_action[("PutItem", "drop")] == 2
    assert [json.loads(entry["body"])["sequence"] for entry in page["data"]] == [1, 2, 3]
    assert faulty_api.call("webhook.poll", webhookID=pull["webhookID"], cursor=page["cursor"])[1]["data"] == []
    again = faulty_api.call("webhook.poll", webhookID=pull["webhookID"])[1]["data"]
    assert [(e["messageID"], e["body"]) for e in again] == [(e["messageID"], e["body"]) for e in page["data"]]
    logged = faulty_api.call("webhook.deliveries", webhookID=pull["webhookID"])[1]["data"]
    assert [m["status"] for m in logged] == ["delivered"] * 3


def test_a_device_token_whose_answer_was_lost_is_made_once_and_answered(faulty_api, faulty_aws):
    pull = faulty_api.call("webhook.create", eventID="1234", type="activityEnrollment", delivery="pull")[1]
    faulty_aws.faults.inject("PutItem", "drop")
    status, made = faulty_api.call("token.create", webhookID=pull["webhookID"])
    assert status == 201, made
    assert faulty_aws.faults.by_action[("PutItem", "drop")] == 1
    assert faulty_api.call("webhook.poll", token=made["tokenID"], webhookID=pull["webhookID"])[0] == 200
    assert faulty_api.call("webhook.find", token=made["tokenID"], eventID="1234")[0] == 403


# Rate limits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("busy", [False, True], ids=["idle key", "busy key"])
def test_a_request_whose_rate_limit_write_answer_was_lost_counts_once(faulty_aws, busy):
    limits, now = get_services().limits, 1_000.0
    if busy:  # the key's state is in use: the request is counted by the second of the limiter's writes
        limits.take("TOK#t", 1, 3, now, "one a second")
    faulty_aws.faults.inject("UpdateItem", "drop", after=1 if busy else 0)
    limits.take("TOK#t", 1, 3, now, "one a second")
    if not busy:
        limits.take("TOK#t", 1, 3, now, "one a second")
    limits.take("TOK#t", 1, 3, now, "one a second")  # the burst of 3 is taken, and not before
    with pytest.raises(RateLimited):
        limits.take("TOK#t", 1, 3, now, "one a second")
    assert faulty_aws.faults.by_action[("UpdateItem", "drop")] == 1


def test_a_test_send_whose_limit_write_answer_was_lost_is_not_refused(faulty_api, faulty_aws, receiver, monkeypatch):
    monkeypatch.setenv("TEST_SENDS_PER_MINUTE", "1")
    reset_services()
    made = faulty_api.create(receiver.url)
    faulty_aws.faults.inject("PutItem", "drop")  # the limit's window, written back
    status, body = faulty_api.call("webhook.test", webhookID=made["webhookID"])
    assert status == 200, body
    assert faulty_api.call("webhook.test", webhookID=made["webhookID"])[0] == 429  # one a minute, counted once


# The delivery log's replays ----------------------------------------------------------------------

def test_a_replay_whose_reopening_answer_was_lost_is_answered_queued(faulty_api, faulty_aws, receiver):
    made = faulty_api.create(receiver.url)
    services = get_services()
    message = QueuedMessage(message_id="msg_01KB2X3Y4Z5A6B7C8D9E0F1G2H", webhook_id=made["webhookID"],
                            type="activityEnrollment", subject="person:7", date="1764273600",
                            timestamp=int(time.time()), data={"eventID": "1234", "activityID": "98", "personID": "7"})
    services.log.put_skipped([message], time.time())
    faulty_aws.faults.inject("UpdateItem", "drop")
    status, body = faulty_api.call("webhook.redeliver", webhookID=made["webhookID"], messageID=message.message_id)
    assert (status, body) == (202, {"queued": 1})
    assert services.log.get(made["webhookID"], message.message_id).status == "pending"


# The notices' once-a-minute turn -----------------------------------------------------------------

@pytest.mark.parametrize("after", [0, 1], ids=["the turn taken", "counted"])
def test_a_notice_turn_whose_answer_was_lost_is_still_this_calls(faulty_api, faulty_aws, receiver, after):
    failing = faulty_api.create("http://127.0.0.1:9/failing")
    faulty_api.create(receiver.url, type="messageFailed")
    services = get_services()
    webhook = services.webhooks.get(failing["webhookID"])
    message = QueuedMessage(message_id="msg_01KB2X3Y4Z5A6B7C8D9E0F1G2H", webhook_id=webhook.webhook_id,
                            type="activityEnrollment", subject="person:5521", date="1764273600", timestamp=1764273600)
    given_up = MessageGivenUp(webhook, message, {"statusCode": 500, "error": None}, attempts=8)
    if after:
        services.notices.tell([given_up])  # the turn is taken: the next one is counted
    faulty_aws.faults.inject("UpdateItem", "drop", after=after)  # the turn's write, or the count's
    services.notices.tell([given_up])
    services.notices.tell([given_up])
    assert faulty_aws.faults.by_action[("UpdateItem", "drop")] == 1
    held = get_item(services.dynamodb, services.settings.table_name,
                    {"pk": {"S": f"WH#{failing['webhookID']}"}, "sk": {"S": "NOTICE"}})
    queued = services.sqs.receive_message(QueueUrl=services.settings.queue_url, MaxNumberOfMessages=10)
    assert len(queued.get("Messages", [])) == 1  # one messageFailed told, this minute
    assert held["unreported"] == (2 if after else 1)  # the others counted, once each


# The erasure's checkpoints -----------------------------------------------------------------------

@pytest.mark.parametrize("emulator", ["corrected", "plain-moto"])
def test_an_erasure_step_whose_answer_was_lost_counts_once(monkeypatch, emulator, request):
    # Each erasure step is one transaction that deletes messages and moves the checkpoint. On AWS
    # its retry carries the first try's ClientRequestToken and changes nothing; the count is set,
    # not added, so that even a transaction run twice (plain moto runs it again) counts once.
    with moto_server(corrected=emulator == "corrected") as endpoint, \
            aws_behind_a_fault_proxy(monkeypatch, endpoint) as proxy:
        services = get_services()
        hook = Webhook(webhook_id="wh_1", level="event", owner_id="1234", types=("activityEnrollment",),
                       url="http://127.0.0.1:9/a", normal_url="http://127.0.0.1:9/a", date="1", status="enabled",
                       secrets=("whsec_x",))
        services.webhooks.create(hook)
        messages = [QueuedMessage(message_id=f"msg_01KB2X3Y4Z5A6B7C8D9E0F1G2{n}", webhook_id="wh_1",
                                  type="activityEnrollment", subject="person:5521", date="1", timestamp=1,
                                  data={"eventID": "1234", "activityID": "98", "personID": "5521"}) for n in "HJK"]
        services.log.put_skipped(messages, time.time())
        job = ErasureJob(services.erasures, services.webhooks, services.dynamodb, services.settings.table_name,
                         settle_seconds=0)
        erasure_id = services.erasures.start("5521", [["event", "1234"]], time.time()).erasure_id
        job.run(erasure_id)  # the marks
        proxy.faults.inject("TransactWriteItems", "drop")  # the step that deletes the three and moves the checkpoint
        job.run(erasure_id)
        assert proxy.faults.by_action[("TransactWriteItems", "drop")] == 1
        assert services.erasures.get(erasure_id).public() == {"erasureID": erasure_id, "status": "done", "erased": 3}

"""Issue 28, AWS itself failing under the worker (in-process moto, faults made with botocore's
own event hooks, tests/helpers.py DynamoDBFaults): a write whose answer was lost and that
botocore sends again is seen as done, never as another writer's; the delivery log keeps every
attempt through a brownout, without a POST sent again and on the retry schedule."""

import time

import boto3
import pytest

from chalicelib.delivery.admission import Admission
from chalicelib.delivery.sender import Attempt
from chalicelib.services import get_services
from dev.worker import sqs_event
from tests.helpers import DynamoDBFaults, stored_message, wait_until
from tests.service.helpers import receive

SLOW = Attempt(status_code=200, duration_ms=2000, error=None, response="")


def admission(share=2):
    services = get_services()
    return Admission(services.dynamodb, services.settings.table_name, services.webhooks, share=share)


@pytest.fixture
def held(api):
    """A webhook held to its share (an attempt took 2 s)."""
    services = get_services()
    webhook = services.webhooks.get(api.create("http://127.0.0.1:9/hook")["webhookID"])
    with admission().batch() as admit:
        admit.attempt(webhook, lambda: SLOW)
    return services.webhooks.get(webhook.webhook_id)


def test_a_lease_whose_answer_was_lost_is_the_batchs_own(held, dynamodb_faults):
    dynamodb_faults.lose_answer("UpdateItem", b'"HOLD#EV#')
    now = time.time()
    with admission(share=1).batch([held]) as admit:
        assert admit.hold_back(held, now) is None  # botocore's retry found its own lease, not a full share
    with admission(share=1).batch([held]) as admit:
        assert admit.hold_back(held, now) is None  # and gave it back with the batch


def test_a_turn_whose_answer_was_lost_is_taken_once(held, dynamodb_faults):
    now = time.time()  # 2 s attempts, a share of 1 batch: a batch of 10 moves the turns on by 2 s
    with admission(share=1).batch([held] * 10) as one, admission(share=1).batch([held] * 10) as turned:
        assert one.hold_back(held, now) is None
        assert turned.hold_back(held, now) == 2
        dynamodb_faults.lose_answer("UpdateItem", b"tail + :step")
        with admission(share=1).batch([held] * 10) as next_turned:
            assert next_turned.hold_back(held, now) == 4  # its own turn, taken once: not 6


def test_a_rate_place_whose_answer_was_lost_is_the_attempts_own(api, dynamodb_faults):
    services = get_services()
    limited = services.webhooks.get(api.create("http://127.0.0.1:9/limited", rateLimit=1)["webhookID"])
    dynamodb_faults.lose_answer("UpdateItem", b'"RATE#WH#')
    with admission().batch([limited]) as admit:
        admit.attempt(limited, lambda: Attempt(200, 5, None, ""))  # proven fast: no share to ask
        assert admit.hold_back(limited, 1000.2) is None  # its place (rateLimit 1), taken once
        assert admit.hold_back(limited, 1000.5) == pytest.approx(0.5)  # the second is full


@pytest.mark.parametrize("write", [b'"SEQ#', b'"MSG#'])
def test_a_sequence_or_record_write_whose_answer_was_lost_is_done_not_a_conflict(api, aws, receiver,
                                                                                dynamodb_faults, write):
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    dynamodb_faults.lose_answer("PutItem", write)
    assert get_services().worker.handle(receive(aws)).retry == []
    stored = stored_message(hook["webhookID"], message_id)
    assert (stored["status"], int(stored["attemptCount"]), int(stored["sequence"])) == ("delivered", 1, 1)
    assert len(receiver.requests) == 1


def test_a_delivered_messages_record_is_written_once_a_10_second_brownout_ends(api, aws, receiver, dynamodb_faults):
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    receiver.rule = lambda request, earlier: dynamodb_faults.brownout(10) or 200  # DynamoDB goes as the POST arrives
    started = time.monotonic()
    assert get_services().worker.handle(receive(aws), remaining_ms=30_000).retry == []
    assert time.monotonic() - started >= 10 and dynamodb_faults.failed > 3
    stored = stored_message(hook["webhookID"], message_id)
    assert stored["status"] == "delivered" and int(stored["attemptCount"]) == 1
    assert len(receiver.requests) == 1  # not POSTed again


def test_a_failed_attempt_lost_in_a_brownout_is_kept_and_the_retry_is_attempt_2_on_schedule(
        api, aws, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s")
    faults = DynamoDBFaults(get_services().dynamodb)  # the settings made new clients
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    receiver.rule = lambda request, earlier: (faults.brownout(8) or 500) if not earlier else 200
    assert worker.run(until=lambda: len(receiver.successes()) == 1, timeout=20)  # not 30 s later
    wait_until(lambda: stored_message(hook["webhookID"], message_id)["status"] == "delivered")
    stored = stored_message(hook["webhookID"], message_id)
    assert [(int(a["attempt"]), a["statusCode"]) for a in stored["attempts"]] == [(1, 500), (2, 200)]


def test_a_record_dynamodb_will_not_take_in_the_invocations_time_is_handed_to_the_queue(
        api, aws, receiver, worker, settings):
    settings(DELIVERY_TIMEOUT_SECONDS="1")
    faults = DynamoDBFaults(get_services().dynamodb)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    # Out for longer than the invocation (its record writes, botocore's retries included, end at its
    # deadline); the test ends it once the invocation is over.
    receiver.rule = lambda request, earlier: faults.brownout(30, b'"MSG#') or 200
    sqs, url = boto3.client("sqs"), aws["DeliveryQueue"]["url"]
    (message,) = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], VisibilityTimeout=60)["Messages"]
    records = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")["Records"]
    assert get_services().worker.handle(records, remaining_ms=4_000).retry == []  # 3 s to attempt, 1 to write
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # done, as the event source does
    faults.end_brownout()  # the invocation is over; the test's own reads must not meet what is left of it
    assert stored_message(hook["webhookID"], message_id) is None  # not yet: the write is on the queue
    assert worker.run(until=lambda: stored_message(hook["webhookID"], message_id) is not None, timeout=20)
    stored = stored_message(hook["webhookID"], message_id)
    assert stored["status"] == "delivered" and int(stored["sequence"]) == 1
    assert len(receiver.requests) == 1

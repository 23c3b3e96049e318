"""Contract section 13, promise by promise, on the worker itself (in-process moto): what a
worker that dies, or a message that SQS hands out twice at once, must not change. The whole run
with real SIGKILLs is tests/local/test_worker_killed.py."""

import threading
import time

import boto3
import pytest

import app as application
from chalicelib.services import get_services
from dev.worker import DeliveryPoller
from tests.helpers import Worker, stored_message, wait_until
from tests.service.helpers import THROTTLED, fail_aws_calls, queued_count, receive


class Died(BaseException):
    """The worker's process ending where it stands (as SIGKILL would): nothing after it runs."""


def die_at_call(operation, number, when="before"):
    """The worker dies as it is about to make its ``number``-th call of ``operation`` (or, with
    ``when="after"``, just after it was answered)."""
    seen = []

    def hook(**_):
        seen.append(1)
        if len(seen) == number:
            raise Died()

    get_services().dynamodb.meta.events.register(f"{when}-call.dynamodb.{operation}", hook)


def test_a_message_sent_again_after_a_death_between_its_2xx_and_its_record_keeps_id_body_and_sequence(
        api, aws, receiver, worker):
    hook = api.create(receiver.url)
    first_id = api.dispatch(person_id="7")["messageID"]
    records = receive(aws)
    die_at_call("PutItem", 2)  # the first is the sequence taken before the POST; the second, its record
    with pytest.raises(Died):
        get_services().worker.handle(records)
    assert [r.status for r in receiver.requests] == [200] and stored_message(hook["webhookID"], first_id) is None
    get_services().worker.handle(records)  # what the dead worker held comes back
    again = receiver.requests[1]
    assert again.headers["webhook-id"] == receiver.requests[0].headers["webhook-id"] == first_id
    assert again.body == receiver.requests[0].body and again.json()["sequence"] == 1
    api.dispatch(person_id="7")
    worker.run()
    assert [r.json()["sequence"] for r in receiver.requests] == [1, 1, 2]  # no number used twice, none skipped


def test_a_message_sent_again_after_a_death_before_its_post_keeps_its_sequence(api, aws, receiver, worker):
    api.create(receiver.url)
    api.dispatch(person_id="7")
    api.dispatch(person_id="7")
    records = receive(aws)
    assert len(records) == 2
    die_at_call("PutItem", 3, when="after")  # the second message has its sequence; death before its POST
    with pytest.raises(Died):
        get_services().worker.handle(records)
    assert [r.json()["sequence"] for r in receiver.requests] == [1]
    worker.run()
    assert [r.json()["sequence"] for r in receiver.requests] == [1, 2]


def test_a_retried_message_handed_to_two_workers_at_once_is_delivered_once_and_stays_delivered(
        api, aws, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,0s,0s")
    # The first attempt fails; the retry goes to two workers at once: one gets a 2xx, the other a
    # slower 500, whose record comes after the delivered one's.
    receiver.answer(500, 200, (500, 0.5))
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    worker.run(until=lambda: len(receiver.requests) == 1)
    assert stored_message(hook["webhookID"], message_id)["status"] == "pending"
    records = receive(aws)
    # Each worker reads the record (pending, one attempt) before either writes its own (the
    # record's write, not fair sharing's lease: the failed attempt held the webhook to its share).
    def hold_record_writes(params, **_):
        if b'"MSG#' in params["body"]:
            wait_until(lambda: len(receiver.requests) >= 3, timeout=5)

    get_services().dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", hold_record_writes)
    workers = [threading.Thread(target=get_services().worker.handle, args=(records,)) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(10)
    stored = stored_message(hook["webhookID"], message_id)
    assert stored["status"] == "delivered" and int(stored["attemptCount"]) == 2
    time.sleep(0.1)
    worker.run()
    assert [r.status for r in receiver.requests] == [500, 200, 500]  # never POSTed again
    assert len(receiver.successes()) == 1


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

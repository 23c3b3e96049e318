"""Proof under faults: endpoints that fail and come back, with the worker in this process."""

import time
from collections import defaultdict

from chalicelib.services import get_services
from tests.helpers import stored_message


def test_an_endpoint_down_then_back_gets_every_message_in_order_each_once(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s,1s,1s,1s")
    hook = api.create(receiver.url)
    down_since = []  # the endpoint is down for 2.5 s from the first request it gets

    def rule(request, earlier):
        down_since[:] = down_since or [time.time()]
        return 200 if time.time() >= down_since[0] + 2.5 else 503

    receiver.rule = rule
    sent = defaultdict(list)
    for round in range(4):
        for person in ("ana", "bo", "cy"):
            sent[person].append(api.dispatch(person_id=person, activity_id=str(round))["messageID"])
    worker.run(until=lambda: len(receiver.successes()) >= 12, timeout=30)

    successes = receiver.successes()
    assert sorted(r.headers["webhook-id"] for r in successes) == sorted(m for ms in sent.values() for m in ms)
    for person, messages in sent.items():
        arrived = [r for r in successes if r.json()["data"]["personID"] == person]
        assert [r.headers["webhook-id"] for r in arrived] == messages
        assert [r.json()["sequence"] for r in arrived] == [1, 2, 3, 4]
    assert any(r.status == 503 for r in receiver.requests)
    log = get_services().log
    assert all(stored_message(hook["webhookID"], m)["status"] == "delivered" for ms in sent.values() for m in ms)
    worker.run()
    assert len(receiver.successes()) == 12  # nothing more arrives afterwards


def test_a_local_worker_that_is_stopping_hands_a_batch_it_just_received_straight_back(aws):
    import threading

    import boto3

    from dev.worker import DeliveryPoller

    sqs, url = boto3.client("sqs"), aws["DeliveryQueue"]["url"]
    handled = []
    poller = DeliveryPoller(sqs, url, lambda event, context: handled.append(event), wait_seconds=0)
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="person", MessageDeduplicationId="1")
    stopping = threading.Event()
    stopping.set()
    assert poller.poll_once(stopping) == 1
    assert handled == [] and not poller.busy
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])) == 1  # at once

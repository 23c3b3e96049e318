"""Idempotent dispatch (contract, section 10), the platform's retries: the same Idempotency-Key
answers the first dispatch again and queues nothing, a keyed dispatch that failed halfway and is
retried reaches each webhook once, and one that failed keeps no record."""

import json
from collections import Counter

from botocore.exceptions import ClientError

from chalicelib.services import get_services
from tests.service.helpers import THROTTLED, error_of, fail_aws_calls, queued_count, raw_call

PARAMS = {"type": "activityEnrollment", "eventID": "1234", "activityID": "98", "personID": "7"}


def fail_the_second_send_message_batch(sqs):
    """SQS takes the first batch of ten and refuses the second (as AWS may, when it throttles),
    through botocore's own event hooks on the service's client."""
    calls = []

    def refuse(**_):
        calls.append(1)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendMessageBatch")

    sqs.meta.events.register("before-call.sqs.SendMessageBatch", refuse)
    return lambda: sqs.meta.events.unregister("before-call.sqs.SendMessageBatch", refuse)


def test_a_keyed_dispatch_that_failed_halfway_and_is_retried_reaches_each_webhook_once(api, receiver, worker):
    hooks = {api.create(f"{receiver.url}/hook{i}")["webhookID"] for i in range(15)}  # two batches of SQS
    restore = fail_the_second_send_message_batch(get_services().sqs)
    key = {"Idempotency-Key": "enrollment-7"}
    assert api.call("webhook.dispatch", headers=key, **PARAMS)[0] == 503
    restore()

    status, answer = api.call("webhook.dispatch", headers=key, **PARAMS)
    assert status == 202 and answer["webhooks"] == 15
    worker.run(until=lambda: len(receiver.successes()) >= 15, timeout=20)
    worker.run(timeout=2)  # and whatever else was queued

    deliveries = Counter((r.path, r.headers["webhook-id"]) for r in receiver.requests)
    assert len({path for path, _ in deliveries}) == 15, "every webhook heard it"
    assert {message_id for _, message_id in deliveries} == {answer["messageID"]}, "under one webhook-id"
    assert set(deliveries.values()) == {1}, "once each"
    assert len(hooks) == 15


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

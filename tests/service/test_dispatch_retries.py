"""The platform's retries: a keyed dispatch that failed halfway, retried, reaches each webhook once."""

from collections import Counter

from botocore.exceptions import ClientError

from chalicelib.services import get_services

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


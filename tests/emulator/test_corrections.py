"""Where moto answers differently from AWS in what the service's promises rest on, the local run
and the tests correct it (dev/local_aws/corrections.py; the upstream report: docs/moto-upstream.md).

SQS FIFO: a message group's messages come out in order, also when several in-flight messages of
the group become visible together (a worker that died holding them), even one after another
during a receive's walk of the queue; and a receipt handle expires
with its receive's visibility timeout, so a worker that overran it cannot take the message from
under the worker that received it since; and a FIFO queue drops a deduplication ID it took in the
last five minutes, delivered or not.

DynamoDB: a TransactWriteItems retried with its ClientRequestToken (botocore's retries keep it)
changes nothing and answers success, for 10 minutes."""

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from dev.fault_proxy import FaultProxy
from dev.local_aws import corrections
from tests import helpers
from tests.helpers import wait_until

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
VISIBILITY = 1


@pytest.fixture(scope="module", params=["on", "off"], ids=["corrected", "plain-moto"])
def moto_server(request):
    with helpers.moto_server(corrected=request.param == "on") as url:
        yield request.param, url


def in_flight(sqs, url):
    """The queue's messages received and not yet visible again (SQS's count, exact on moto)."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"])


def group_after_a_dead_consumer(sqs, name):
    """The issue's reproduction: m1..m3 received and never deleted, m4..m7 sent, then a receive of
    up to 10 once m1..m3 are visible again; the bodies it answers."""
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]

    def send(body):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body)

    for body in ("m1", "m2", "m3"):
        send(body)
    held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=VISIBILITY)["Messages"]
    assert [message["Body"] for message in held] == ["m1", "m2", "m3"]
    for body in ("m4", "m5", "m6", "m7"):
        send(body)
    wait_until(lambda: in_flight(sqs, url) == 0)  # m1..m3 visible again
    return [message["Body"] for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


def test_a_group_whose_messages_time_out_together_comes_out_in_order(moto_server):
    switch, endpoint = moto_server
    sqs = boto3.client("sqs", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}), **CREDENTIALS)
    got = group_after_a_dead_consumer(sqs, f"order-{time.monotonic_ns()}.fifo")
    if switch == "on":
        assert got == ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]  # as AWS answers
    else:
        # Plain moto 5.2 skips the group's earlier messages. If this fails, moto has fixed it:
        # check docs/moto-upstream.md and retire the correction.
        assert got[0] != "m1" and got[0] == "m3", got


def a_late_consumers_old_handle(sqs, name):
    """m1 and m2 in one group; m1 received with a 1 s visibility timeout, which its consumer
    overruns; m1 received again by a second consumer; then the first, late, makes m1 visible
    (as the worker does with a batch's later messages) and deletes it with its old handle.
    Returns what SQS answered to each, and what a third consumer receives meanwhile."""
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    for body in ("m1", "m2"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body)
    (old,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=VISIBILITY)["Messages"]
    wait_until(lambda: in_flight(sqs, url) == 0)  # the first consumer overran m1's visibility timeout
    (again,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30)["Messages"]
    assert again["Body"] == "m1" and again["ReceiptHandle"] != old["ReceiptHandle"]
    failed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "0", "ReceiptHandle": old["ReceiptHandle"], "VisibilityTimeout": 0}]).get("Failed", [])
    answers = ["refused" if failed else "accepted"]  # a batch's entry fails
    try:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=old["ReceiptHandle"])
        answers.append("accepted")
    except ClientError as exc:
        answers.append(exc.response["Error"]["Code"])  # a single call fails with AWS's error code
    third = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return answers, [message["Body"] for message in third]


def test_a_late_consumers_old_receipt_handle_has_expired(moto_server):
    switch, endpoint = moto_server
    sqs = boto3.client("sqs", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}), **CREDENTIALS)
    answers, third = a_late_consumers_old_handle(sqs, f"handles-{time.monotonic_ns()}.fifo")
    if switch == "on":  # as AWS answers: the old handle is refused, m1 stays with its second consumer
        assert answers == ["refused", "InvalidParameterValue"]
        assert third == []  # m1 is in flight, so its group (m2) waits
    else:
        # Plain moto 5.2 takes the old handle: m1 is made visible and deleted under its second
        # consumer, and m2 goes to a third one ahead of it. If this fails, moto has fixed it:
        # check docs/moto-upstream.md and retire the correction.
        assert answers == ["accepted", "accepted"] and third == ["m2"], (answers, third)


def test_the_tests_in_process_moto_is_corrected_too(aws):
    sqs = boto3.client("sqs")
    assert group_after_a_dead_consumer(sqs, "order-in-process.fifo") == ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]
    assert a_late_consumers_old_handle(sqs, "handles-in-process.fifo") == (["refused", "InvalidParameterValue"], [])


def first_out_when_a_group_times_out_during_the_walk(receive, name):
    """m1..m3 of one group received together, their timeouts ending 10 ms apart, and a clock that
    moves on at each reading, as the receive's walk takes time: the group's messages come back
    one after another while the walk goes on. Receives until one answers; its bodies."""
    import itertools

    import moto.sqs.models as models

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    for body in ("m1", "m2", "m3"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]) == 3
    backend = models.sqs_backends["123456789012"]["us-east-1"]
    base = 10**13
    for n, message in enumerate(backend.get_queue(name)._messages, start=1):
        message.visible_at = base + 10 * n
    ticks, real = itertools.count(), models.unix_time_millis
    models.unix_time_millis = lambda dt=None: real(dt) if dt is not None else base + 5 + 4 * next(ticks)
    try:
        for _ in range(10):
            got = receive(backend, name, 10, 0, 30, [])
            if got:
                return [message.body for message in got]
        return []
    finally:
        models.unix_time_millis = real


def test_a_group_timing_out_during_the_walk_still_comes_out_in_order(aws):
    from moto.sqs.models import SQSBackend

    # Plain moto skips m1 and m2 while the later ones are still in flight, then takes m3 as it
    # times out. If this fails, moto has fixed it: check docs/moto-upstream.md and retire the correction.
    assert first_out_when_a_group_times_out_during_the_walk(SQSBackend.receive_message.plain, "walk-plain.fifo") == [
        "m3"]
    assert first_out_when_a_group_times_out_during_the_walk(SQSBackend.receive_message, "walk.fifo") == [
        "m1", "m2", "m3"]  # as AWS answers


def test_a_long_poll_releases_messages_that_time_out_while_it_waits(aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="long-poll.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for body in ("m1", "m2"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId=body)
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=3)["Messages"]
    assert [message["Body"] for message in got] == ["m1", "m2"]


def sent_again_after_delivery(sqs, name, scope="queue"):
    """m sent with deduplication ID d, received and deleted (delivered); then sent again with d,
    as a retried send does; what a receive answers then."""
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", "DeduplicationScope": scope})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d")
    (first,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d")
    sqs.send_message(QueueUrl=url, MessageBody="other group", MessageGroupId="h", MessageDeduplicationId="d")
    return sorted(m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))


def test_a_fifo_deduplication_id_is_dropped_for_five_minutes_also_after_delivery(moto_server):
    switch, endpoint = moto_server
    sqs = boto3.client("sqs", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}), **CREDENTIALS)
    got = sent_again_after_delivery(sqs, f"dedup-{time.monotonic_ns()}.fifo")
    by_group = sent_again_after_delivery(sqs, f"dedup-group-{time.monotonic_ns()}.fifo", scope="messageGroup")
    if switch == "on":  # as AWS answers: d was taken less than five minutes ago
        assert got == [] and by_group == ["other group"]  # per message group, another group's d is its own
    else:
        # Plain moto 5.2 compares only with the messages still queued: the delivered one is gone,
        # so its copy is queued again (and, queue-wide, it then hides the other group's d).
        # If this fails, moto has fixed it: check docs/moto-upstream.md and retire the correction.
        assert got == ["m"] and by_group == ["m"], (got, by_group)


def test_a_fifo_deduplication_id_is_taken_again_after_five_minutes(aws, monkeypatch):
    import moto.sqs.models as models

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="dedup-later.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g", MessageDeduplicationId="d")
    (first,) = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    real = models.unix_time_millis
    monkeypatch.setattr(models, "unix_time_millis", lambda dt=None: real(dt) + corrections.FIFO_DEDUPLICATION_MS)
    sqs.send_message(QueueUrl=url, MessageBody="m again", MessageGroupId="g", MessageDeduplicationId="d")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["m again"]


def create_once(db, table, key):
    """The service's kind of transaction: an item that must not exist yet, and a counter."""
    return db.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": key}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": table, "Key": {"pk": {"S": "count"}}, "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])


def test_a_transaction_retried_after_its_answer_was_lost_changes_nothing_and_succeeds(moto_server):
    switch, endpoint = moto_server
    table = f"tokens-{time.monotonic_ns()}"
    direct = boto3.client("dynamodb", endpoint_url=endpoint, **CREDENTIALS)
    direct.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    with FaultProxy(endpoint) as proxy:
        proxy.faults.inject("TransactWriteItems", "drop")  # committed, and its answer lost: botocore retries
        db = boto3.client("dynamodb", endpoint_url=proxy.url, **CREDENTIALS)
        try:
            create_once(db, table, "a")
            answer = "success"
        except ClientError as exc:
            answer = exc.response["Error"]["Code"]
        assert proxy.faults.by_action[("TransactWriteItems", "drop")] == 1
    count = direct.get_item(TableName=table, Key={"pk": {"S": "count"}})["Item"]["n"]["N"]
    if switch == "on":  # as AWS answers: the retry carries the first try's ClientRequestToken
        assert (answer, count) == ("success", "1")
    else:
        # Plain moto runs the retry again: its condition fails against the first try's write.
        # If this fails, moto has fixed it: check docs/moto-upstream.md and retire the correction.
        assert (answer, count) == ("TransactionCanceledException", "1"), (answer, count)


def test_a_client_request_token_with_other_parameters_is_refused(aws):
    db = boto3.client("dynamodb")
    table = aws["WebhooksTable"]["name"]
    item = {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}}
    db.transact_write_items(TransactItems=[item], ClientRequestToken="t1")
    db.transact_write_items(TransactItems=[item], ClientRequestToken="t1")  # the same: success again
    other = {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"S": "c"}}}}
    with pytest.raises(ClientError) as refused:
        db.transact_write_items(TransactItems=[other], ClientRequestToken="t1")
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert "Item" not in db.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "c"}})


def test_with_another_moto_the_corrections_are_not_applied_and_that_is_said():
    said = []
    assert corrections.apply(environ={}, moto_version="5.3.0", warn=said.append) == []
    assert len(said) == 1 and "5.3.0" in said[0] and "docs/moto-upstream.md" in said[0]
    assert all(correction.__name__ in said[0] for correction in corrections.CORRECTIONS)  # each one left out is named


def test_the_corrections_can_be_switched_off():
    said = []
    assert corrections.apply(environ={corrections.SWITCH: "off"}, moto_version=corrections.WRITTEN_FOR,
                             warn=said.append) == []
    assert said == []

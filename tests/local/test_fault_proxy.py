"""The fault proxy (dev/fault_proxy.py): AWS's own failures, in AWS's own shapes, in front of the
local moto server, as botocore meets them on AWS (retried where it would retry them)."""

import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from dev.fault_proxy import FaultModel, FaultProxy, Faults
from tests.helpers import wait_until

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client(service, url, attempts=3):
    return boto3.client(service, endpoint_url=url, config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
                        **CREDENTIALS)


@pytest.fixture
def proxy(moto_endpoint):
    with FaultProxy(moto_endpoint) as running:
        yield running


@pytest.fixture
def table(moto_endpoint):
    name = f"t-{uuid.uuid4().hex[:8]}"
    client("dynamodb", moto_endpoint).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return name


@pytest.fixture
def queue(moto_endpoint):
    return client("sqs", moto_endpoint).create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def stored(moto_endpoint, table, key):
    return client("dynamodb", moto_endpoint).get_item(TableName=table, Key={"pk": {"S": key}}).get("Item")


@pytest.mark.parametrize("fault, code", [("server_error", "InternalServerError"),
                                         ("throttle", "ProvisionedThroughputExceededException")])
def test_a_dynamodb_write_refused_is_answered_in_dynamodbs_own_shape_and_writes_nothing(proxy, table, moto_endpoint,
                                                                                       fault, code):
    proxy.faults.inject("PutItem", fault)
    with pytest.raises(ClientError) as refused:
        client("dynamodb", proxy.url, attempts=1).put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert refused.value.response["Error"]["Code"] == code
    assert stored(moto_endpoint, table, "a") is None


@pytest.mark.parametrize("fault, code", [("server_error", "InternalError"), ("throttle", "RequestThrottled")])
def test_an_sqs_send_refused_is_answered_in_sqs_own_shape_and_queues_nothing(proxy, queue, moto_endpoint, fault, code):
    proxy.faults.inject("SendMessage", fault)
    with pytest.raises(ClientError) as refused:
        client("sqs", proxy.url, attempts=1).send_message(QueueUrl=queue, MessageBody="m")
    assert refused.value.response["Error"]["Code"] == code
    assert "Messages" not in client("sqs", moto_endpoint).receive_message(QueueUrl=queue)


@pytest.mark.parametrize("fault", ["server_error", "throttle", "drop"])
def test_botocore_retries_each_fault_as_it_would_on_aws(proxy, table, moto_endpoint, fault):
    proxy.faults.inject("PutItem", fault)
    answer = client("dynamodb", proxy.url).put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert stored(moto_endpoint, table, "a") == {"pk": {"S": "a"}}
    assert proxy.faults.by_action[("PutItem", fault)] == 1 and proxy.faults.by_action[("PutItem", "forward")] == 1


def test_an_injection_can_wait_its_turn(proxy, table, moto_endpoint):
    proxy.faults.inject("PutItem", "server_error", after=2)
    db = client("dynamodb", proxy.url, attempts=1)
    db.put_item(TableName=table, Item={"pk": {"S": "a"}})
    db.put_item(TableName=table, Item={"pk": {"S": "b"}})
    with pytest.raises(ClientError):
        db.put_item(TableName=table, Item={"pk": {"S": "c"}})
    db.put_item(TableName=table, Item={"pk": {"S": "d"}})


def test_a_dropped_answer_loses_the_answer_not_the_write(proxy, table, moto_endpoint):
    proxy.faults.inject("PutItem", "drop")
    with pytest.raises(ConnectionClosedError):
        client("dynamodb", proxy.url, attempts=1).put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert stored(moto_endpoint, table, "a") == {"pk": {"S": "a"}}


def test_a_delayed_answer_comes_late_and_whole(moto_endpoint, table):
    with FaultProxy(moto_endpoint, FaultModel(delay_seconds=0.5)) as proxy:
        db = client("dynamodb", proxy.url)
        started = time.monotonic()
        db.put_item(TableName=table, Item={"pk": {"S": "quick"}})
        quick = time.monotonic() - started
        proxy.faults.inject("PutItem", "delay")
        started = time.monotonic()
        db.put_item(TableName=table, Item={"pk": {"S": "slow"}})
        slow = time.monotonic() - started
    assert slow >= 0.5 > quick
    assert stored(moto_endpoint, table, "slow") is not None


def test_in_a_brownout_dynamodb_answers_500_to_everything_and_then_comes_back(proxy, table):
    db = client("dynamodb", proxy.url, attempts=1)
    db.put_item(TableName=table, Item={"pk": {"S": "a"}})
    proxy.faults.brownout(0.6)
    for call in (lambda: db.get_item(TableName=table, Key={"pk": {"S": "a"}}),
                 lambda: db.put_item(TableName=table, Item={"pk": {"S": "b"}})):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    wait_until(lambda: not proxy.faults.in_brownout(), timeout=5)
    assert db.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}


def test_a_brownout_of_dynamodb_leaves_sqs_alone(proxy, queue):
    proxy.faults.brownout(5)
    client("sqs", proxy.url, attempts=1).send_message(QueueUrl=queue, MessageBody="m")


def test_scheduled_brownouts_start_and_end_on_time():
    now = [100.0]
    faults = Faults(FaultModel(brownouts=(2.0, 10.0), brownout_seconds=4.0), clock=lambda: now[0])
    seen = []
    for second in range(16):
        now[0] = 100.0 + second
        seen.append(faults.decide("DynamoDB_20120810.GetItem") == "brownout")
    assert [s for s, browned in enumerate(seen) if browned] == [2, 3, 4, 5, 10, 11, 12, 13]


def test_the_shares_are_kept_and_seeded():
    model = FaultModel(server_errors=0.05, throttles=0.05, drops=0.02, delays=0.02, seed=7)
    first, second = Faults(model), Faults(model)
    decisions = [first.decide("DynamoDB_20120810.PutItem") for _ in range(20_000)]
    assert decisions == [second.decide("DynamoDB_20120810.PutItem") for _ in range(20_000)]
    for fault, share in (("server_error", 0.05), ("throttle", 0.05), ("drop", 0.02), ("delay", 0.02)):
        assert abs(first.counts[fault] / 20_000 - share) < 0.006, fault
    other = Faults(FaultModel(server_errors=0.05, throttles=0.05, drops=0.02, delays=0.02, seed=8))
    assert [other.decide("DynamoDB_20120810.PutItem") for _ in range(20_000)] != decisions


def test_only_writes_and_sends_are_faulted_by_the_shares():
    faults = Faults(FaultModel(server_errors=1.0))
    assert faults.decide("DynamoDB_20120810.GetItem") == "forward"
    assert faults.decide("DynamoDB_20120810.Query") == "forward"
    assert faults.decide("AmazonSQS.ReceiveMessage") == "forward"
    assert faults.decide("AmazonSQS.DeleteMessageBatch") == "forward"
    assert faults.decide("") == "forward"  # moto's own API
    for target in ("DynamoDB_20120810.PutItem", "DynamoDB_20120810.TransactWriteItems", "AmazonSQS.SendMessageBatch"):
        assert faults.decide(target) == "server_error"


def test_long_polls_pass_through(proxy, queue, moto_endpoint):
    sqs = client("sqs", proxy.url)
    started = time.monotonic()
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
    assert time.monotonic() - started >= 0.9
    client("sqs", moto_endpoint).send_message(QueueUrl=queue, MessageBody="m")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"]] == ["m"]

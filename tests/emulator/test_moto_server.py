"""The local run's moto server (dev/local_aws/): moto's own answers, only quicker, and SQS
long polls that wait without holding moto up. Every test of the server runs twice: with moto
patched (patches.py) and with ``LOCAL_MOTO_PATCHES=off``."""

import base64
import pathlib
import re
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from dev.local_aws import patches
from tests import helpers
from tests.helpers import ROOT, wait_until

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}


@pytest.fixture(scope="module", params=["on", "off"], ids=["patched", "unpatched"])
def endpoint(request):
    with helpers.moto_server(**{patches.SWITCH: request.param}) as url:
        yield url


def client(service, endpoint=None):
    return boto3.client(service, endpoint_url=endpoint, config=Config(max_pool_connections=20), **CREDENTIALS)


def dynamodb_story(db, table):
    """Every kind of attribute value, written and read every way the service does and more;
    returns what each step answered (or the error code it raised)."""
    blob = base64.b64decode(base64.b64encode(b"\x00\xffbinary"))
    item = {
        "pk": {"S": "WH#1"}, "sk": {"S": "MSG#1"}, "n": {"N": "12.50"}, "yes": {"BOOL": True}, "none": {"NULL": True},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "text": {"S": "ünïcode \u2028 \"quoted\""},
        "m": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {}}, {"L": []}]}, "b": {"B": blob}}},
        "b": {"B": blob}, "bs": {"BS": [blob]},
    }
    steps = [
        ("create_table", dict(TableName=table, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "S"}])),
        ("put_item", dict(TableName=table, Item=item)),
        ("put_item", dict(TableName=table, Item={"pk": {"S": "WH#1"}, "sk": {"S": "MSG#1"}},
                          ConditionExpression="attribute_not_exists(pk)")),
        ("put_item", dict(TableName=table, Item={"pk": {"S": "WH#1"}, "sk": {"S": "BIG"}, "a": {"S": "x" * 204000},
                                                 "b": {"S": "y" * 204000}})),  # over 400 KB only with both
        ("put_item", dict(TableName=table, Item={"pk": {"S": "WH#1"}, "sk": {"S": "BIG"}, "a": {"S": "x" * 204000}})),
        ("batch_write_item", dict(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": "WH#1"}, "sk": {"S": "SEQ#1"}, "sequence": {"N": "1"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "WH#1"}, "sk": {"S": "MSG#2"}, "status": {"S": "pending"},
                                     "attempts": {"L": [{"M": {"attempt": {"N": "1"}, "error": {"NULL": True}}}]}}}},
        ]})),
        ("update_item", dict(TableName=table, Key={"pk": {"S": "WH#1"}, "sk": {"S": "MSG#2"}},
                             UpdateExpression="SET #s = :s, attempts = list_append(attempts, :a)",
                             ConditionExpression="#s = :pending", ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues={":s": {"S": "delivered"}, ":pending": {"S": "pending"},
                                                        ":a": {"L": [{"M": {"attempt": {"N": "2"}}}]}},
                             ReturnValues="ALL_NEW")),
        ("update_item", dict(TableName=table, Key={"pk": {"S": "WH#1"}, "sk": {"S": "MSG#2"}},
                             UpdateExpression="SET #s = :s", ConditionExpression="#s = :pending",
                             ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues={":s": {"S": "failed"}, ":pending": {"S": "pending"}})),
        # One condition, parsed once and kept (patches.conditions_parsed_once): judged anew with
        # other values; one that names an attribute it does not use is refused every time.
        *[("put_item", dict(TableName=table, Item={"pk": {"S": "WH#1"}, "sk": {"S": "MSG#2"}, "status": {"S": status}},
                            ConditionExpression="attribute_not_exists(#s) OR #s = :was",
                            ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":was": {"S": was}}))
          for was, status in (("pending", "x"), ("delivered", "x"), ("delivered", "y"), ("x", "y"))],
        *[("put_item", dict(TableName=table, Item={"pk": {"S": "WH#1"}, "sk": {"S": "MSG#3"}}, ConditionExpression=condition,
                            ExpressionAttributeNames=names))
          for condition, names in [("attribute_not_exists(#s)", {"#s": "status", "#t": "t"})] * 2],
        ("transact_write_items", dict(TransactItems=[{"Put": {"TableName": table, "Item": {
            "pk": {"S": "EV#1"}, "sk": {"S": "activityEnrollment#x"}, "webhookID": {"S": "wh_1"}}}}])),
        # Several items, one of whose conditions fails: nothing is written (patches.transactions_copy_a_table_once
        # rolls back to its one copy of the table); then several that pass.
        *[("transact_write_items", dict(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "EV#1"}, "sk": {"S": f"L#{n}"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "WH#1"}, "sk": {"S": "MSG#1"}},
                        "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": str(n)}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "WH#1"}, "sk": {"S": check}},
                                "ConditionExpression": "attribute_exists(pk)"}}]))
          for n, check in ((1, "none"), (2, "MSG#2"))],
        ("query", dict(TableName=table, KeyConditionExpression="pk = :pk",
                       ExpressionAttributeValues={":pk": {"S": "EV#1"}})),
        ("get_item", dict(TableName=table, Key={"pk": {"S": "WH#1"}, "sk": {"S": "MSG#1"}}, ConsistentRead=True)),
        ("query", dict(TableName=table, KeyConditionExpression="pk = :pk AND begins_with(sk, :msg)",
                       FilterExpression="attribute_exists(#s) OR n > :n", ExpressionAttributeNames={"#s": "status"},
                       ExpressionAttributeValues={":pk": {"S": "WH#1"}, ":msg": {"S": "MSG#"}, ":n": {"N": "1"}},
                       ScanIndexForward=False)),
        ("batch_get_item", dict(RequestItems={table: {"Keys": [{"pk": {"S": "WH#1"}, "sk": {"S": k}}
                                                              for k in ("MSG#1", "MSG#2", "SEQ#1", "none")]}})),
        ("scan", dict(TableName=table)),
    ]
    answers = []
    for operation, arguments in steps:
        try:
            answer = getattr(db, operation)(**arguments)
            answer.pop("ResponseMetadata", None)
            answer.pop("TableDescription", None)  # creation times differ
            if "Responses" in answer:
                answer["Responses"] = {name: sorted(items, key=lambda i: i["sk"]["S"]) for name, items in answer["Responses"].items()}
            answers.append((operation, answer))
        except ClientError as error:
            answers.append((operation, error.response["Error"]["Code"]))
    return answers


def test_dynamodb_answers_the_same_as_moto_itself(endpoint):
    with mock_aws():
        expected = dynamodb_story(client("dynamodb"), "same")
    answered = dynamodb_story(client("dynamodb", endpoint), "same")
    assert [step for step, _ in answered] == [step for step, _ in expected]
    for (step, got), (_, want) in zip(answered, expected):
        assert got == want, step
    assert ("put_item", "ConditionalCheckFailedException") in answered  # the story does exercise failures
    assert ("put_item", "ValidationException") in answered


def test_queue_counts_are_still_answered(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="counted.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n), MessageGroupId=str(n), MessageDeduplicationId=str(n))
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("2", "1")
    only = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert only == {"ApproximateNumberOfMessages": "2"}


def receive_in_background(sqs, url, **arguments):
    """Start a ReceiveMessage; returns a function that waits for it: (messages, seconds taken)."""
    result = {}

    def receive():
        started = time.monotonic()
        result["messages"] = sqs.receive_message(QueueUrl=url, **arguments).get("Messages", [])
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=receive)
    thread.start()

    def wait():
        thread.join(timeout=30)
        return result["messages"], result["seconds"]

    return wait


def test_a_long_poll_answers_as_soon_as_a_message_comes_and_other_requests_go_on_meanwhile(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="waits")["QueueUrl"]
    waiting = receive_in_background(sqs, url, WaitTimeSeconds=20)
    time.sleep(0.5)
    started = time.monotonic()
    assert sqs.list_queues()["QueueUrls"]  # moto is not held up by the waiting receive
    assert time.monotonic() - started < 5
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    messages, seconds = waiting()
    assert [m["Body"] for m in messages] == ["hello"]
    assert seconds < 10  # not the 20 s wait


def test_a_receive_without_a_wait_waits_as_its_queue_says_without_holding_moto_up(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="patient", Attributes={"ReceiveMessageWaitTimeSeconds": "20"})["QueueUrl"]
    waiting = receive_in_background(sqs, url)
    time.sleep(0.5)
    started = time.monotonic()
    assert sqs.list_queues()["QueueUrls"]
    assert time.monotonic() - started < 5
    sqs.send_message(QueueUrl=url, MessageBody="at last")
    messages, seconds = waiting()
    assert [m["Body"] for m in messages] == ["at last"] and seconds < 10


def test_a_long_poll_on_an_empty_queue_answers_empty_when_its_wait_is_over(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="empty")["QueueUrl"]
    messages, seconds = receive_in_background(sqs, url, WaitTimeSeconds=1)()
    assert messages == [] and seconds >= 0.9


def test_a_long_poll_gets_a_message_whose_visibility_timeout_ran_out(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="comes-back")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="again")
    (first,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    messages, seconds = receive_in_background(sqs, url, WaitTimeSeconds=20)()
    assert [m["MessageId"] for m in messages] == [first["MessageId"]]
    assert seconds < 10


def test_polls_keep_watching_for_returning_messages_when_the_first_poller_has_gone(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="handed-over")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later")
    (first,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=3)["Messages"]
    short = receive_in_background(sqs, url, WaitTimeSeconds=1)  # the first to sleep: it watches, then leaves
    time.sleep(0.3)
    long = receive_in_background(sqs, url, WaitTimeSeconds=20)
    assert short()[0] == []
    messages, seconds = long()
    assert [m["MessageId"] for m in messages] == [first["MessageId"]]
    assert seconds < 10


def test_a_long_poll_on_a_fifo_queue_gets_a_groups_next_message_once_the_one_ahead_is_deleted(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for n in ("1", "2"):
        sqs.send_message(QueueUrl=url, MessageBody=n, MessageGroupId="person", MessageDeduplicationId=n)
    (first,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    waiting = receive_in_background(sqs, url, WaitTimeSeconds=20, MaxNumberOfMessages=10)
    time.sleep(1)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    messages, seconds = waiting()
    assert [m["Body"] for m in messages] == ["2"]
    assert seconds < 10


def test_many_long_polls_share_what_comes_without_losing_any(endpoint):
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="shared")["QueueUrl"]
    got, lock = [], threading.Lock()

    def poll():
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for message in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", []):
                with lock:
                    got.append(message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    pollers = [threading.Thread(target=poll) for _ in range(8)]
    for poller in pollers:
        poller.start()
    for n in range(0, 60, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(n + i)} for i in range(10)])
        time.sleep(0.05)
    for poller in pollers:
        poller.join()
    assert sorted(got, key=int) == [str(n) for n in range(60)]


def test_each_change_of_a_queue_wakes_one_of_its_sleepers_at_once():
    from dev.local_aws.long_polls import Wakeups

    wakeups = Wakeups(recheck_seconds=60)  # no looking again meanwhile: only a change wakes them
    woke = []

    def sleep(name, queue):
        wakeups.sleep(queue, wakeups.version(queue), time.monotonic() + 30)
        woke.append(name)

    sleepers = [threading.Thread(target=sleep, args=(name, queue)) for name, queue in
                (("a", "deliveries"), ("b", "deliveries"), ("c", "deliveries"), ("x", "events"))]
    for thread in sleepers:
        thread.start()
    wait_until(lambda: sum(s.sleeping for s in wakeups._queues.values()) == 4)
    wakeups.changed("deliveries")
    wait_until(lambda: len(woke) == 1, timeout=5)  # not the 30 s deadline
    assert woke[0] in "abc"  # of that queue only
    wakeups.changed()  # every queue: one more of each
    wait_until(lambda: "x" in woke and len(woke) >= 3, timeout=5)
    assert len(woke) == 3  # x woke after the first change's sleepers would have: that change woke one
    wakeups.changed("deliveries")
    wait_until(lambda: len(woke) == 4, timeout=5)
    for thread in sleepers:
        thread.join(5)


def test_a_poll_whose_queue_changed_since_it_looked_does_not_sleep():
    from dev.local_aws.long_polls import Wakeups

    wakeups = Wakeups(recheck_seconds=60)
    seen = wakeups.version("deliveries")
    wakeups.changed("deliveries")  # a send between the poll's empty receive and its sleep
    started = time.monotonic()
    wakeups.sleep("deliveries", seen, time.monotonic() + 30)
    assert time.monotonic() - started < 5


def test_the_patches_are_written_for_the_pinned_moto():
    pinned = re.search(r"^moto\[[^\]]*\]==(\S+)", (pathlib.Path(ROOT) / "requirements-dev.txt").read_text(), re.M)
    assert pinned.group(1) == patches.WRITTEN_FOR  # a new pin: check each patch against that moto, then move this


def test_with_another_moto_the_patches_are_not_applied_and_that_is_said_once():
    from moto.dynamodb.models.dynamo_type import Item

    said = []
    before = Item.__init__
    assert patches.apply(environ={}, moto_version="5.3.0", warn=said.append) == []
    assert Item.__init__ is before
    assert len(said) == 1 and "5.2.1" in said[0] and "5.3.0" in said[0] and "NOT APPLIED" in said[0]
    assert all(patch.__name__ in said[0] for patch in patches.PATCHES)  # each one left out is named


def test_the_patches_can_be_switched_off():
    said = []
    assert patches.apply(environ={patches.SWITCH: "off"}, moto_version=patches.WRITTEN_FOR, warn=said.append) == []
    assert said == []



@pytest.mark.parametrize("method", ["OPTIONS", "POST"])
def test_a_web_page_of_another_origin_gets_no_cors_permission(endpoint, method):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(endpoint + "/", method=method, data=b"" if method == "POST" else None, headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target,content-type,authorization",
        "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            headers = answer.headers
    except urllib.error.HTTPError as error:
        headers = error.headers
    assert not [name for name in headers if name.lower().startswith("access-control-allow")]

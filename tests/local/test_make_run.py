"""End to end: ``make run``'s program started as a user would, used over HTTP and EventBridge."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict

import boto3
import pytest

from dev.local_aws.state import SAVE_EVERY_SECONDS
from dev.local_service import free_port
from dev.receiver import Receiver
from dev.resources import create_resources
from dev.run import wait_until_up
from tests.helpers import ADMIN, ROOT, wait_until
from tests.local.helpers import nothing_left_to_send


def test_the_local_run_serves_the_api_delivers_signed_posts_and_stops_cleanly(local_service):
    banner = local_service.wait_ready()
    assert ADMIN in banner
    endpoint = re.search(r"AWS_ENDPOINT_URL=(\S+)", banner).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{local_service.port}/", timeout=5) as page:
        assert page.status == 200

    with Receiver() as receiver:
        receiver.answer(500, 200)  # the first attempt fails: the worker retries on schedule
        status, hook = local_service.call("webhook.create", ADMIN, eventID="1234",
                                          type="activityEnrollment", url=receiver.url + "/hook")
        assert status == 201, hook
        status, sent = local_service.call("webhook.dispatch", ADMIN, type="activityEnrollment",
                                          eventID="1234", activityID="98", personID="5521")
        assert status == 202 and sent["webhooks"] == 1
        got = receiver.wait_for(2, timeout=30)
        assert [r.headers["webhook-id"] for r in got] == [sent["messageID"]] * 2
        assert got[1].verify(hook["secret"])["data"]["personID"] == "5521"

        # The platform's EventBridge events reach the same fan-out.
        events = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        events.put_events(Entries=[{
            "Source": "inevent.platform",
            "DetailType": "activityEnrollment",
            "Detail": json.dumps({"eventID": "1234", "activityID": "7", "personID": "99"}),
        }])
        got = receiver.wait_for(3, timeout=30)
        assert len(got) == 3
        assert got[2].verify(hook["secret"])["data"] | {"date": None} == {
            "eventID": "1234", "activityID": "7", "personID": "99", "date": None}

        # A token in a query string, a secret in an answer: neither reaches the run's logs.
        with urllib.request.urlopen(f"http://127.0.0.1:{local_service.port}/api/webhook.find?eventID=1234"
                                    f"&tokenID={ADMIN}", timeout=5) as answer:
            assert answer.status == 200

    local_service.process.send_signal(signal.SIGINT)
    assert local_service.process.wait(timeout=30) == 0
    logged = [line for line in local_service.lines if not line.lstrip().startswith("admin token:")]
    assert any("tokenID=[redacted]" in line for line in logged)
    assert not any(ADMIN in line or hook["secret"] in line for line in logged)
    def refused(url):
        try:
            urllib.request.urlopen(url, timeout=2).close()
        except OSError:
            return True
        return False

    wait_until(lambda: all(refused(url) for url in (f"http://127.0.0.1:{local_service.port}/", endpoint)))


def test_a_worker_killed_mid_batch_loses_nothing_and_resends_nothing_it_had_delivered(start_local_service):
    service = start_local_service(DELIVERY_TIMEOUT_SECONDS="2", LOCAL_FUNCTION_TIMEOUT="6", LOCAL_VISIBILITY_TIMEOUT="7")
    banner = service.wait_ready()
    worker_pid = int(re.search(r"worker pid:\s+(\d+)", banner).group(1))
    with Receiver() as receiver:
        receiver.answer((200, 0.25))
        hook = service.call("webhook.create", ADMIN, eventID="1", type="activityEnrollment", url=receiver.url)[1]
        sent = [service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1", activityID="1",
                             personID=str(n))[1]["messageID"] for n in range(60)]
        receiver.wait_for(15, successes=True, timeout=30)
        os.kill(worker_pid, signal.SIGKILL)
        killed_at = time.time()
        receiver.wait_for(60, successes=True, timeout=90)
        wait_until(lambda: nothing_left_to_send(banner), timeout=60)  # every message settled: nothing more comes
        successes = receiver.successes()

    ids = [r.headers["webhook-id"] for r in successes]
    assert sorted(set(ids)) == sorted(sent)  # nothing lost
    settled_before_kill = {r.headers["webhook-id"] for r in successes if r.answered_at < killed_at - 0.1}
    assert settled_before_kill
    assert all(ids.count(message) == 1 for message in settled_before_kill)  # nothing delivered is sent again
    assert any("restarted as pid" in line for line in service.lines)
    status, log = service.call("webhook.deliveries", ADMIN, webhookID=hook["webhookID"], limit=200)
    assert {m["status"] for m in log["data"]} == {"delivered"} and log["count"] == 60


def test_a_burst_of_1000_events_to_5_webhooks_is_delivered_whole_once_each_in_order(start_local_service):
    service = start_local_service(RETRY_SCHEDULE="0s,1s,1s,1s,1s", LOCAL_WORKER_CONCURRENCY="6")
    service.wait_ready()
    persons, per_person = 100, 10
    with Receiver() as steady, Receiver() as flaky:
        def a_third_fail_first(request, earlier):
            message = request.headers["webhook-id"]
            first = not any(r.headers["webhook-id"] == message for r in earlier)
            return 500 if first and int(message[-4:], 36) % 3 == 0 else 200

        flaky.rule = a_third_fail_first
        urls = [steady.url + f"/{n}" for n in range(4)] + [flaky.url + "/flaky"]
        for url in urls:
            assert service.call("webhook.create", ADMIN, eventID="9", type="activityEnrollment", url=url)[0] == 201
        order = defaultdict(list)

        def dispatch(worker_index):
            for person in range(worker_index, persons, 4):
                for n in range(per_person):
                    status, body = service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="9",
                                                activityID=str(n), personID=f"p{person}")
                    assert status == 202 and body["webhooks"] == 5
                    order[f"p{person}"].append(body["messageID"])

        threads = [threading.Thread(target=dispatch, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        steady.wait_for(4 * persons * per_person, successes=True, timeout=240)
        flaky.wait_for(persons * per_person, successes=True, timeout=240)
        wait_until(lambda: nothing_left_to_send("".join(service.lines)), timeout=60)  # nothing more comes
        arrived = steady.successes() + flaky.successes()

    assert sum(len(messages) for messages in order.values()) == persons * per_person
    pairs = [(r.path, r.headers["webhook-id"]) for r in arrived]
    assert len(pairs) == len(set(pairs)) == 5 * persons * per_person  # none lost, none twice
    assert any(r.status == 500 for r in flaky.requests)
    for path in [f"/{n}" for n in range(4)] + ["/flaky"]:
        for person, messages in order.items():
            got = [r for r in arrived if r.path == path and r.json()["data"]["personID"] == person]
            assert [r.headers["webhook-id"] for r in got] == messages, (path, person)
            assert [r.json()["sequence"] for r in got] == list(range(1, per_person + 1))


def test_webhooks_tokens_the_log_and_a_pending_retry_outlive_ctrl_c(start_local_service, tmp_path):
    state = str(tmp_path / "state")
    first = start_local_service(LOCAL_STATE_DIR=state, RETRY_SCHEDULE="0s,6s")
    assert state in first.wait_ready()
    with Receiver() as receiver:
        receiver.answer(500, 200)
        hook = first.call("webhook.create", ADMIN, eventID="1234", type="activityEnrollment", url=receiver.url)[1]
        status, made = first.call("token.create", ADMIN, eventID="1234")
        assert status == 201, made
        sent = first.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1234", activityID="98",
                          personID="5521")[1]
        receiver.wait_for(1, timeout=30)  # the first attempt failed: the retry is due 6 s later
        first.process.send_signal(signal.SIGINT)  # as Ctrl-C
        assert first.process.wait(timeout=30) == 0
        assert len(receiver.requests) == 1

        second = start_local_service(LOCAL_STATE_DIR=state, RETRY_SCHEDULE="0s,6s")
        second.wait_ready()
        got = receiver.wait_for(2, timeout=30)
        assert [r.headers["webhook-id"] for r in got] == [sent["messageID"]] * 2
        assert got[1].verify(hook["secret"])["data"]["personID"] == "5521"
        status, found = second.call("webhook.find", made["tokenID"], eventID="1234")
        assert status == 200 and [h["webhookID"] for h in found["data"]] == [hook["webhookID"]]
        wait_until(lambda: second.call("webhook.deliveries", ADMIN, webhookID=hook["webhookID"])[1]["data"][0]
                   ["status"] == "delivered")
        log = second.call("webhook.deliveries", ADMIN, webhookID=hook["webhookID"])[1]
        assert [a["statusCode"] for a in log["data"][0]["attempts"]] == [500, 200]


def test_a_moto_server_killed_outright_keeps_all_but_its_last_second(tmp_path):
    state = tmp_path / "moto-aws.pickle"

    def start():
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "dev.moto_server", "-p", str(port), "--state", str(state)],
                                  cwd=ROOT)
        wait_until_up(f"http://127.0.0.1:{port}/moto-api/", server, "the moto server")
        credentials = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1",
                       "aws_access_key_id": "local", "aws_secret_access_key": "local"}
        return server, boto3.client("dynamodb", **credentials), boto3.client("sqs", **credentials)

    server, dynamodb, sqs = start()
    try:
        created = create_resources(dynamodb, sqs)
        table, queue = created["WebhooksTable"]["name"], created["DeliveryQueue"]["url"]
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "WH#1"}, "sk": {"S": "HOOK"}})
        for n in range(3):  # one person's messages: a FIFO group
            sqs.send_message(QueueUrl=queue, MessageBody=str(n), MessageGroupId="p", MessageDeduplicationId=str(n))
        # Hidden long enough to outlast a kill and a restart on a loaded machine (8 s did not).
        (held,) = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=20)["Messages"]
        hidden_until = time.time() + 20
        time.sleep(SAVE_EVERY_SECONDS + 1)
    finally:
        server.kill()
        server.wait()

    server, dynamodb, sqs = start()
    try:
        queue = create_resources(dynamodb, sqs)["DeliveryQueue"]["url"]  # the same stack again, kept as it was
        assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "WH#1"}, "sk": {"S": "HOOK"}})["Item"]
        assert "Messages" not in sqs.receive_message(QueueUrl=queue)  # the group waits for its held message
        wait_until(lambda: sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0).get("Messages"), timeout=30)
        assert time.time() >= hidden_until - 0.5
        again = sqs.receive_message(QueueUrl=queue, MessageSystemAttributeNames=["All"], VisibilityTimeout=0)
        (back,) = again["Messages"]
        assert (back["Body"], back["Attributes"]["ApproximateReceiveCount"]) == (held["Body"], "3")
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("name, value", [("LOCAL_WORKER_CONCURRENCY", "lots"), ("LOCAL_WORKER_CONCURRENCY", "500"),
                                         ("PORT", "80a"), ("LOCAL_FUNCTION_TIMEOUT", "²")])
def test_the_local_run_refuses_a_bad_local_setting_before_starting_anything(name, value):
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = {**os.environ, name: value}
    finished = subprocess.run([sys.executable, "-m", "dev.run"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
    assert finished.returncode == 1
    assert f"setting error: {name} must be a whole number" in finished.stderr
    assert "Ready." not in finished.stdout

"""Sections 10 and 17 of the contract on the local run, where requests really race: the cap of 200
webhooks under racing creations, the types of one url under racing creations, a creation racing a removal, the local AWS backend's ports
closed to webhooks, and a record that stays small however often its message is replayed."""

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from dev.local_service import start_local_service
from dev.receiver import Receiver
from tests.helpers import wait_until


@pytest.fixture(scope="module")
def service():
    """One local run for the module: its tests each use an event of their own."""
    local = start_local_service({"WEBHOOK_DENY_PORTS": ""})
    printed = local.wait_ready()
    yield local, printed
    local.process.kill()
    local.process.wait()


def test_webhooks_of_one_url_never_share_a_type_however_many_creations_race(service):
    # Before the cap's test, whose 200 webhooks make every later transaction slower on moto.
    local, _ = service  # contract, section 17: the url's claims are taken in the webhook's own transaction
    choices = [["eventCheckIn"], ["eventCheckIn", "eventEnd"], ["eventEnd", "speakerCreated"], ["*"],
               ["speakerCreated"], ["speakerEdited", "eventCheckIn"], ["speakerEdited"], ["activityCreated"]]

    def create(n):
        return local.call("webhook.create", local.token, eventID="types-race", types=choices[n % len(choices)],
                          url="http://127.0.0.1:9/same")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(create, range(32)))
    assert {status for status, _ in answers} == {201, 409}, Counter(status for status, _ in answers)
    made = [body for status, body in answers if status == 201]
    taken = [t for body in made for t in body["types"]]
    assert len(taken) == len(set(taken)) and ("*" not in taken or len(made) == 1), made
    listed = local.call("webhook.find", local.token, eventID="types-race")[1]["data"]
    assert sorted(h["webhookID"] for h in listed) == sorted(h["webhookID"] for h in made)


def test_an_event_holds_at_most_200_webhooks_however_many_creations_race(service):
    local, _ = service

    def create(n):
        return local.call("webhook.create", local.token, eventID="cap", type="eventCheckIn",
                          url=f"http://127.0.0.1:9/hook/{n}")[0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(create, range(240)))
    assert statuses.count(201) == 200 and set(statuses) == {201, 400}, Counter(statuses)
    assert local.call("webhook.find", local.token, eventID="cap")[1]["count"] == 200


def test_a_creation_racing_the_removal_of_the_same_webhook_never_answers_503(service):
    local, _ = service
    params = {"eventID": "race", "type": "eventCheckIn", "url": "http://127.0.0.1:9/same"}

    def create_then_remove(_):
        status, body = local.call("webhook.create", local.token, **params)
        answers = [status]
        if status == 201:
            answers.append(local.call("webhook.remove", local.token, webhookID=body["webhookID"])[0])
        return answers

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [status for statuses in pool.map(create_then_remove, range(80)) for status in statuses]
    assert set(answers) <= {200, 201, 404, 409} and 201 in answers, Counter(answers)


def test_webhooks_cannot_reach_the_local_aws_backend_though_loopback_is_allowed(service):
    local, printed = service
    backend_ports = re.findall(r"http://127\.0\.0\.1:(\d+)", printed.split("AWS backend:")[1].splitlines()[0])
    assert len(backend_ports) == 2
    for port in backend_ports + [str(local.port)]:
        status, body = local.call("webhook.create", local.token, eventID="own", type="eventCheckIn",
                                  url=f"http://127.0.0.1:{port}/")
        assert (status, body["error"]["code"]) == (400, "unsafe_url"), port
    assert local.call("webhook.create", local.token, eventID="own", type="eventCheckIn",
                      url="http://127.0.0.1:9/elsewhere")[0] == 201


def test_a_message_replayed_200_times_to_an_endpoint_answering_junk_keeps_a_small_record():
    import boto3

    local = start_local_service({"RETRY_SCHEDULE": "0s"})
    try:
        printed = local.wait_ready()
        dynamodb_url = re.search(r"DynamoDB: (http://[0-9.:]+)", printed).group(1)
        with Receiver() as receiver:
            receiver.answer((500, 0.0, b"\xff" * 2048))
            hook = local.call("webhook.create", local.token, eventID="1234", type="eventCheckIn",
                              url=receiver.url + "/junk")[1]
            message_id = local.call("webhook.dispatch", local.token, type="eventCheckIn", eventID="1234",
                                    personID="1")[1]["messageID"]

            def replayed(first):
                status = local.call("webhook.redeliver", local.token, webhookID=hook["webhookID"],
                                    messageID=message_id)[0]
                # While the previous attempt's record is being written: 409, or 404 before the first is.
                assert status in ((202, 404, 409) if first else (202, 409))
                return status == 202

            for replays in range(200):
                receiver.wait_for(replays + 1)  # the previous attempt reached the endpoint
                wait_until(lambda: replayed(first=replays == 0))
            receiver.wait_for(201)
            wait_until(lambda: local.call("webhook.message", local.token, webhookID=hook["webhookID"],
                                          messageID=message_id)[1]["status"] == "failed")
        message = local.call("webhook.message", local.token, webhookID=hook["webhookID"], messageID=message_id)[1]
        assert [a["attempt"] for a in message["attempts"]] == list(range(152, 202))  # the latest 50
        assert all(len(a["response"].encode()) <= 2048 for a in message["attempts"])
        table = boto3.client("dynamodb", endpoint_url=dynamodb_url, region_name="us-east-1",
                             aws_access_key_id="local", aws_secret_access_key="local")
        item = table.get_item(TableName="inevent-webhooks-webhooks", Key={
            "pk": {"S": f"WH#{hook['webhookID']}"}, "sk": {"S": f"MSG#{message_id}"}})["Item"]
        assert item["attemptCount"] == {"N": "201"}
        size = len(json.dumps(item, ensure_ascii=False).encode())  # above DynamoDB's own measure
        assert size < 150 * 1024  # DynamoDB stores up to 400 KB
    finally:
        local.process.kill()
        local.process.wait()

"""Replays on the local run (contract, section 10): a message replayed 200 times to an endpoint that
answers junk keeps a small record."""

import json
import re

from dev.local_service import start_local_service
from dev.receiver import Receiver
from tests.helpers import wait_until


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

"""The deployable package: one validated stack, least privilege, a small code package."""

import json
import pathlib
from collections import defaultdict
from contextlib import contextmanager
import subprocess
import sys
import zipfile

import pytest

import app as application
from chalicelib.services import get_services
from dev import package

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The IAM action each API call needs (batch calls need their single-message action).
IAM_ACTION = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
}
# What Lambda's SQS event source does with the function's role, besides the function's own calls.
EVENT_SOURCE = {"deliver": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}}
LOGS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    out = tmp_path_factory.mktemp("package")
    result = subprocess.run([sys.executable, "-m", "dev.package", "--stage", "prod", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, json.loads((out / "sam.json").read_text()), result.stdout


def test_the_template_passes_cfn_lint(packaged):
    out, _, _ = packaged
    lint = subprocess.run([str(pathlib.Path(sys.executable).parent / "cfn-lint"), str(out / "sam.json")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_code_package_holds_only_what_the_functions_need(packaged):
    out, _, printed = packaged
    archive = out / "deployment.zip"
    assert archive.stat().st_size < 1024 * 1024
    assert "KiB" in printed  # make package prints the size
    tops = {name.split("/")[0] for name in zipfile.ZipFile(archive).namelist()}
    assert tops == {"app.py", "chalice", "chalicelib", "standardwebhooks", "standardwebhooks-1.1.0.dist-info",
                    "urllib3", "urllib3-2.7.0.dist-info"}


def test_the_stack_wires_queues_events_throttling_and_alarms(packaged):
    _, template, _ = packaged
    resources = template["Resources"]
    source = resources["Deliver"]["Properties"]["Events"]["DeliverSqsEventSource"]["Properties"]
    assert source["Queue"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    rule = resources["PlatformEvent"]["Properties"]["Events"]["PlatformEventEvent"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "PlatformEventBusName"} and rule["DeadLetterConfig"]
    assert rule["Pattern"]["source"] == ["inevent.platform"]
    assert resources["RestAPI"]["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert resources["DeliveryQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] > 8
    alarms = {k for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"DeadLetterAlarm", "DeliveryFailureRateAlarm"} <= alarms
    assert all(resources[name]["Properties"]["ReservedConcurrentExecutions"] for name in ("Deliver", "APIHandler"))


def test_api_gateways_own_errors_answer_in_the_contracts_shape(packaged):
    _, template, _ = packaged
    responses = {v["Properties"]["ResponseType"]: v["Properties"] for v in template["Resources"].values()
                 if v["Type"] == "AWS::ApiGateway::GatewayResponse"}
    assert {"MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"  # a path outside /api is not found
    for response in responses.values():
        assert response["RestApiId"] == {"Ref": "RestAPI"}
        assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        (body,) = response["ResponseTemplates"].values()
        shaped = json.loads(body.replace("$context.error.messageString", '"a message"'))
        assert set(shaped) == {"error"} and set(shaped["error"]) == {"code", "message", "field"}


def test_every_role_names_only_this_stacks_resources(packaged):
    _, template, _ = packaged
    for role in package.ROLES:
        for statement in template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
            assert statement["Resource"] != "*" and all(isinstance(r, dict) for r in statement["Resource"])


def test_debug_is_off_in_every_stage():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert application.app.debug is False
    assert not any(stage.get("debug") for stage in config["stages"].values())


class CallRecorder:
    """Notes the IAM action of every AWS call the service's clients make, by entry point."""

    def __init__(self, services):
        self.calls = defaultdict(set)
        self.current = None
        for client in (services.dynamodb, services.sqs):
            client.meta.events.register("before-call", self)

    def __call__(self, model, **_):
        if self.current:
            service = model.service_model.endpoint_prefix
            self.calls[self.current].add(IAM_ACTION.get((service, model.name), f"{service}:{model.name}"))

    @contextmanager
    def entry(self, function):
        self.current = function
        try:
            yield
        finally:
            self.current = None


def granted(function):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    name = config["stages"]["prod"]["lambda_functions"][function]["iam_policy_file"]
    document = json.loads((ROOT / ".chalice" / name).read_text())
    return {action for statement in document["Statement"] for action in statement["Action"]}


def needed(calls):
    """TransactWriteItems needs the actions of the writes inside it (this code uses Put,
    Update and Delete in them)."""
    if "dynamodb:TransactWriteItems" in calls:
        calls = (calls - {"dynamodb:TransactWriteItems"}) | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    return calls


def test_each_function_is_granted_exactly_the_calls_its_code_makes(api, receiver, worker, settings, monkeypatch):
    settings(RETRY_SCHEDULE="0s,1s", AUTO_DISABLE_AFTER="1ms")
    recorder = CallRecorder(get_services())
    api_call = api.call

    def call_as_api_handler(*args, **kwargs):
        with recorder.entry("api_handler"):
            return api_call(*args, **kwargs)

    monkeypatch.setattr(api, "call", call_as_api_handler)
    deliver = worker.poller._handler

    def deliver_as_worker(event, context):
        with recorder.entry("deliver"):
            return deliver(event, context)

    worker.poller._handler = deliver_as_worker

    hook = api.create(receiver.url)
    api.create(receiver.url + "/other", type="activityDismissal")
    api.call("webhook.create", eventID="1234", type="activityEnrollment", url=receiver.url)  # a duplicate
    api.call("webhook.find", eventID="1234")
    api.call("webhook.requestExample", webhookID=hook["webhookID"])
    api.call("webhook.responseExample", webhookID=hook["webhookID"])
    api.call("webhook.disable", webhookID=hook["webhookID"])
    api.dispatch(person_id="1")  # kept as skipped
    api.call("webhook.enable", webhookID=hook["webhookID"])
    message = api.dispatch(person_id="2")["messageID"]
    api.call("webhook.test", webhookID=hook["webhookID"])
    api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    token = api.call("token.create", eventID="1")[1]["tokenID"]
    api.call("token.revoke", tokenID=token)
    api.call("webhook.deliveries", webhookID=hook["webhookID"])

    receiver.answer(200, 500, 500, 410)  # success; failure, retry, give up and auto-disable; gone
    worker.run()
    api.call("webhook.redeliver", webhookID=hook["webhookID"], messageID=message)
    worker.run(until=lambda: len(receiver.requests) >= 3, timeout=10)
    api.call("webhook.enable", webhookID=hook["webhookID"])
    api.call("webhook.redeliver", webhookID=hook["webhookID"], since="0")
    api.call("webhook.disable", webhookID=hook["webhookID"])
    worker.run()  # a queued message meets a disabled webhook: kept as skipped
    api.call("webhook.enable", webhookID=hook["webhookID"])
    api.dispatch(person_id="3")
    worker.run()

    with recorder.entry("platform_event"):
        application.platform_event({"version": "0", "id": "e1", "detail-type": "activityEnrollment",
                                    "source": "inevent.platform", "account": "1", "time": "2026-11-27T20:00:00Z",
                                    "region": "us-east-1", "resources": [],
                                    "detail": {"eventID": "1234", "activityID": "1", "personID": "2"}}, None)

    extra = {
        # The event source's own calls, and the read-back when two receipts of one message race.
        "deliver": EVENT_SOURCE["deliver"] | {"dynamodb:GetItem"},
        "platform_event": {"sqs:SendMessage"},  # Lambda puts failed invocations on its dead-letter queue
    }
    for function in ("api_handler", "deliver", "platform_event"):
        calls = needed(recorder.calls[function])
        if function == "deliver":
            calls -= {"dynamodb:PutItem", "dynamodb:DeleteItem"}  # its transactions only update
        assert calls <= granted(function), (function, "not granted", calls - granted(function))
        assert granted(function) - LOGS - extra.get(function, set()) <= calls, (function, "granted, never used",
                                                                               granted(function) - calls)

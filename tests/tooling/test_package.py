"""The deployable package: one validated stack, least privilege, a small code package."""

import json
import os
import pathlib
import py_compile
import re
import subprocess
import sys
import threading
import zipfile
from collections import defaultdict
from contextlib import contextmanager

import boto3
import pytest

import app as application
from chalicelib.services import get_services
from dev import iam, package
from dev.worker import DeliveryPoller

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The IAM action each API call needs (batch calls need their single-message action).
IAM_ACTION = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
}
# What Lambda's SQS event source does with the function's role, besides the function's own calls.
EVENT_SOURCE = {"deliver": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
                "erase_person": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}}
LOGS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
# What Lambda does with the role of a function in a VPC (fixed egress addresses, dev/egress.py):
# it gives the function network interfaces in the VPC's subnets.
VPC_NETWORK_INTERFACES = {"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                          "ec2:UnassignPrivateIpAddresses", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}


def package_stack(tmp_path_factory, *options):
    out = tmp_path_factory.mktemp("package")
    result = subprocess.run([sys.executable, "-m", "dev.package", "--stage", "prod", "--out", str(out), *options],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, json.loads((out / "sam.json").read_text()), result.stdout


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    return package_stack(tmp_path_factory)


@pytest.fixture(scope="module")
def packaged_with_fixed_egress(tmp_path_factory):
    return package_stack(tmp_path_factory, "--fixed-egress")


@pytest.mark.parametrize("stack", ["packaged", "packaged_with_fixed_egress"])
def test_the_template_passes_cfn_lint(stack, request):
    out, _, _ = request.getfixturevalue(stack)
    lint = subprocess.run([str(pathlib.Path(sys.executable).parent / "cfn-lint"), str(out / "sam.json")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_code_package_holds_only_what_the_functions_need(packaged):
    out, _, printed = packaged
    archive = out / "deployment.zip"
    assert archive.stat().st_size < 1024 * 1024
    assert "KiB" in printed  # make package prints the size
    names = zipfile.ZipFile(archive).namelist()
    assert len(names) == len(set(names))  # each file once (no bytecode the source tree held, then added again)
    # Every module of chalicelib's packages travels, and nothing of the tests or tools does.
    assert {n for n in names if n.startswith("chalicelib/") and n.endswith(".py")} == {
        path.relative_to(ROOT).as_posix() for path in (ROOT / "chalicelib").rglob("*.py")}
    tops = {name.split("/")[0] for name in names}
    assert tops == {"app.py", "__pycache__", "chalice", "chalicelib", "standardwebhooks",
                    "standardwebhooks-1.1.0.dist-info", "urllib3", "urllib3-2.7.0.dist-info"}


def test_bytecode_that_other_processes_write_meanwhile_stays_out_of_the_package(tmp_path_factory):
    # The suite's parallel workers and the local run import chalicelib while a package is built,
    # and write its __pycache__ again: a build that emptied those folders first still packed
    # them (1.2 MB, each module's bytecode twice). Here a writer keeps doing it during the build.
    done = threading.Event()

    def keep_writing():
        while not done.is_set():
            py_compile.compile(str(ROOT / "chalicelib" / "errors.py"))  # timestamp-checked, as imports write it
            done.wait(0.002)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        out, _, _ = package_stack(tmp_path_factory)
    finally:
        done.set()
        writer.join()
    names = zipfile.ZipFile(out / "deployment.zip").namelist()
    assert len(names) == len(set(names))
    assert names.count("chalicelib/__pycache__/errors.cpython-313.pyc") == 1


def test_the_code_package_carries_the_bytecode_lambda_loads_without_compiling(packaged, tmp_path):
    # Lambda's code directory is read-only: bytecode not in the package is compiled again at
    # every cold start. Proof that the package's is used: the sources are replaced by code that
    # fails, and the app still imports (unchecked-hash bytecode does not look at its source).
    out, _, _ = packaged
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        archive.extractall(tmp_path)
    sources = [path for path in tmp_path.rglob("*.py") if path.parts[len(tmp_path.parts)] in ("app.py", "chalicelib")]
    assert len(sources) > 40
    for path in sources:
        path.write_text("raise SystemExit('compiled from source')\n")
    loaded = subprocess.run([sys.executable, "-c", "import app, chalicelib.delivery.worker; print(app.app.app_name)"],
                            cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert loaded.stdout.strip() == "inevent-webhooks"


def test_the_stack_wires_queues_events_throttling_and_alarms(packaged):
    _, template, _ = packaged
    resources = template["Resources"]
    source = resources["Deliver"]["Properties"]["Events"]["DeliverSqsEventSource"]["Properties"]
    assert source["Queue"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    erasures = resources["ErasePerson"]["Properties"]["Events"]["ErasePersonSqsEventSource"]["Properties"]
    assert erasures["Queue"] == {"Fn::GetAtt": ["ErasureQueue", "Arn"]} and erasures["BatchSize"] == 1
    assert resources["ErasureQueue"]["Properties"]["VisibilityTimeout"] >= 6 * resources["ErasePerson"][
        "Properties"]["Timeout"]
    rule = resources["PlatformEvent"]["Properties"]["Events"]["PlatformEventEvent"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "PlatformEventBusName"} and rule["DeadLetterConfig"]
    assert rule["Pattern"]["source"] == ["inevent.platform"]
    assert resources["RestAPI"]["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert resources["DeliveryQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] > 8
    alarms = {k for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"DeadLetterAlarm", "DeliveryFailureRateAlarm", "RecordLostAlarm"} <= alarms
    lost = resources["RecordLostAlarm"]["Properties"]  # an attempt missing from the log is never silent
    assert (lost["MetricName"], lost["Namespace"], lost["Threshold"]) == ("RecordLost", "InEventWebhooks", 0)
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


@pytest.mark.parametrize("stack", ["packaged", "packaged_with_fixed_egress"])
def test_every_role_names_only_this_stacks_resources_with_its_templates_conditions(stack, request):
    _, template, _ = request.getfixturevalue(stack)
    fixed_egress = stack == "packaged_with_fixed_egress"
    for role, function in package.ROLES.items():
        if role not in template["Resources"]:
            assert function == "test_send" and not fixed_egress  # without fixed egress, the API sends tests
            continue
        statements = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        for statement in statements:
            if statement["Resource"] == "*":  # EC2's Describe calls take no resource but *
                assert set(statement["Action"]) <= {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}
                continue
            assert all(isinstance(r, dict) for r in statement["Resource"])
        expected = iam.template(function, fixed_egress)["Statement"]
        assert [(s["Sid"], s["Action"], s.get("Condition")) for s in statements] == [
            (s["Sid"], s["Action"], s.get("Condition")) for s in expected]


def test_with_fixed_egress_only_the_delivery_and_test_send_functions_are_in_the_vpc(packaged_with_fixed_egress):
    _, template, _ = packaged_with_fixed_egress
    resources = template["Resources"]
    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert {name for name, properties in functions.items() if "VpcConfig" in properties} == {"Deliver", "TestSend"}
    subnets = functions["Deliver"]["VpcConfig"]["SubnetIds"]
    routes = {r["Properties"]["SubnetId"]["Ref"]: r["Properties"]["RouteTableId"]["Ref"] for r in resources.values()
              if r["Type"] == "AWS::EC2::SubnetRouteTableAssociation"}
    for subnet in subnets:  # each private subnet leaves through its zone's NAT gateway and its Elastic IP
        (route,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::Route"
                    and r["Properties"]["RouteTableId"]["Ref"] == routes[subnet["Ref"]]]
        nat = resources[route["NatGatewayId"]["Ref"]]["Properties"]
        assert route["DestinationCidrBlock"] == "0.0.0.0/0"
        assert resources[nat["AllocationId"]["Fn::GetAtt"][0]]["Type"] == "AWS::EC2::EIP"
    assert len({resources[s["Ref"]]["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets}) == 2
    addresses = template["Outputs"]["EgressAddresses"]["Value"]["Fn::Join"][1]
    assert {a["Ref"] for a in addresses} == {k for k, r in resources.items() if r["Type"] == "AWS::EC2::EIP"}
    assert functions["APIHandler"]["Environment"]["Variables"]["TEST_SEND_FUNCTION"] == {"Ref": "TestSend"}
    group = resources["EgressSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in group  # nothing comes in


def test_without_fixed_egress_no_function_is_in_a_vpc_and_the_api_sends_tests_itself(packaged):
    _, template, _ = packaged
    resources = template["Resources"]
    assert not [k for k, r in resources.items() if r["Type"].startswith("AWS::EC2::")]
    assert "TestSend" not in resources and "EgressAddresses" not in template["Outputs"]
    assert "TEST_SEND_FUNCTION" not in json.dumps(template)


def test_debug_is_off_in_every_stage():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert application.app.debug is False
    assert not any(stage.get("debug") for stage in config["stages"].values())


class CallRecorder:
    """Notes the IAM action of every AWS call the service's clients make, by entry point, and
    for the table the action and partition key of every item each call reads or writes."""

    def __init__(self, services):
        self.calls = defaultdict(set)
        self.items = defaultdict(set)  # function: {(IAM action, partition key)}
        self.current = None
        for client in (services.dynamodb, services.sqs, services.events, services.lambda_client):
            client.meta.events.register("before-call", self)
        services.dynamodb.meta.events.register("before-parameter-build.dynamodb", self.parameters)

    def __call__(self, model, **_):
        if self.current:
            service = model.service_model.endpoint_prefix
            self.calls[self.current].add(IAM_ACTION.get((service, model.name), f"{service}:{model.name}"))

    def parameters(self, params, model, **_):
        if self.current:
            self.items[self.current] |= set(table_items(model.name, params))

    @contextmanager
    def entry(self, function):
        outer, self.current = self.current, function
        try:
            yield
        finally:
            self.current = outer


_SINGLE = {"GetItem": "Key", "PutItem": "Item", "UpdateItem": "Key", "DeleteItem": "Key"}
_IN_TRANSACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def table_items(operation, params):
    """(IAM action, partition key) of each item a DynamoDB call reads or writes. IAM checks a
    transaction's items by their own actions (PutItem, UpdateItem...), a batch's by the batch's."""
    if operation in _SINGLE:
        return [(f"dynamodb:{operation}", params[_SINGLE[operation]]["pk"]["S"])]
    if operation == "Query":
        names = params.get("ExpressionAttributeNames", {})
        (value,) = [v for n, v in re.findall(r"([#\w]+)\s*=\s*(:\w+)", params["KeyConditionExpression"])
                    if names.get(n, n) == "pk"]
        return [("dynamodb:Query", params["ExpressionAttributeValues"][value]["S"])]
    if operation == "BatchGetItem":
        return [("dynamodb:BatchGetItem", key["pk"]["S"]) for table in params["RequestItems"].values()
                for key in table["Keys"]]
    if operation == "BatchWriteItem":
        return [("dynamodb:BatchWriteItem", (r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"])["pk"]["S"])
                for requests in params["RequestItems"].values() for r in requests]
    if operation == "TransactWriteItems":
        return [(f"dynamodb:{_IN_TRANSACTIONS[kind]}", (body.get("Item") or body["Key"])["pk"]["S"])
                for item in params["TransactItems"] for kind, body in item.items()]
    raise AssertionError(f"the test does not know which items {operation} touches")


def granted(function, fixed_egress=False):
    return {action for statement in iam.template(function, fixed_egress)["Statement"] for action in statement["Action"]}


def needed(calls, items):
    """A transaction needs the actions of the items inside it, not an action of its own."""
    return (calls - {"dynamodb:TransactWriteItems"}) | {action for action, _ in items}


def like(pattern, value):
    """IAM's StringLike: * is any run of characters, ? any one."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), value) is not None


def leading_keys(statement):
    return statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")


def allowing(document, action, partition_key):
    """The statements of ``document`` that allow ``action`` on an item with ``partition_key``."""
    return [s for s in document["Statement"] if action in s["Action"]
            and (leading_keys(s) is None or any(like(p, partition_key) for p in leading_keys(s)))]


def test_each_function_is_granted_exactly_the_calls_its_code_makes(api, receiver, worker, settings, monkeypatch):
    settings(RETRY_SCHEDULE="0s,1s", AUTO_DISABLE_AFTER="1ms", ERASURE_SETTLE_SECONDS="0")
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

    hook = api.create(receiver.url, rateLimit="50")  # its rate is kept in the table: the delivery function counts it
    api.create(receiver.url + "/other", type="activityDismissal")
    api.create(receiver.url + "/told", type="webhookDisabled")  # told when the service disables the others
    api.create(receiver.url + "/failed", type="messageFailed")
    # Pull webhooks (section 18): the fan-outs (dispatch, platform event) and the notices put messages in their
    # logs, polls read them, and a device's token polls one.
    door = api.call("webhook.create", eventID="1234", delivery="pull",
                    types=["activityEnrollment", "messageFailed", "webhookDisabled"])[1]
    api.call("webhook.create", companyID="77", delivery="pull", types=["*"])
    api.call("webhook.create", eventID="1234", type="activityEnrollment", url=receiver.url)  # a duplicate
    api.call("webhook.find", eventID="1234")
    status, _ = api.call("webhook.create", companyID="77", type="activityEnrollment", url=receiver.url + "/company")
    assert status == 201  # a company's webhook: only the platform event below names the company
    api.call("webhook.find", companyID="77")
    api.call("webhook.requestExample", webhookID=hook["webhookID"])
    api.call("webhook.responseExample", webhookID=hook["webhookID"])
    api.call("webhook.disable", webhookID=hook["webhookID"])
    api.dispatch(person_id="1", headers={"Idempotency-Key": "once"})  # kept as skipped
    api.call("webhook.enable", webhookID=hook["webhookID"])
    message = api.dispatch(person_id="2")["messageID"]
    api.call("webhook.trace", messageID=message, eventID="1234")  # the fan-out's dispatch record, and the log's
    api.call("webhook.test", webhookID=hook["webhookID"])
    api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    token = api.call("token.create", eventID="1")[1]["tokenID"]
    api.call("token.revoke", tokenID=token)
    device = api.call("token.create", webhookID=door["webhookID"])[1]["tokenID"]
    api.call("webhook.poll", token=device, webhookID=door["webhookID"])
    removed = api.create(receiver.url + "/removed", type="speakerCreated")
    api.call("webhook.remove", webhookID=removed["webhookID"])  # its listing is deleted
    api.call("webhook.deliveries", webhookID=hook["webhookID"])
    api.call("webhook.deliveries", webhookID=door["webhookID"])

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
                                    "detail": {"eventID": "1234", "activityID": "1", "personID": "2",
                                               "companyID": "77"}}, None)
    receiver.answer(410, 410)  # the event's webhook and the company's are gone: each disabled, its listing too
    worker.run()

    erasure = api.call("webhook.erasePerson", personID="2", eventID="1234", companyID="77")[1]["erasureID"]
    api.call("webhook.erasure", erasureID=erasure)
    eraser = DeliveryPoller(boto3.client("sqs"), get_services().settings.erasure_queue_url, application.erase_person,
                            wait_seconds=1)
    while api.call("webhook.erasure", erasureID=erasure)[1]["status"] != "done":
        with recorder.entry("erase_person"):
            eraser.poll_once()

    extra = {
        # The event source's own calls, and the read-back when two receipts of one message race.
        "deliver": EVENT_SOURCE["deliver"] | {"dynamodb:GetItem"},
        "erase_person": EVENT_SOURCE["erase_person"],
        "platform_event": {"sqs:SendMessage"},  # Lambda puts failed invocations on its dead-letter queue
    }
    for function in iam.FUNCTIONS:
        calls = needed(recorder.calls[function], recorder.items[function])
        assert calls <= granted(function), (function, "not granted", calls - granted(function))
        assert granted(function) - LOGS - extra.get(function, set()) <= calls, (function, "granted, never used",
                                                                               granted(function) - calls)
        document = iam.template(function)
        used = set()
        for action, partition_key in recorder.items[function]:
            statements = allowing(document, action, partition_key)
            assert statements, (function, "not granted on its partition key", action, partition_key)
            used |= {(s["Sid"], p) for s in statements for p in leading_keys(s) or () if like(p, partition_key)}
        conditioned = {(s["Sid"], p) for s in document["Statement"] for p in leading_keys(s) or ()}
        assert conditioned - used == set(), (function, "partition keys granted, never used", conditioned - used)


def test_with_fixed_egress_each_function_is_granted_exactly_the_calls_its_code_makes(api, receiver, settings):
    # What changes: the API invokes the test-send function for webhook.test, which only POSTs;
    # both VPC functions' roles let Lambda give them network interfaces.
    from dev.lambda_invoke import answer_invokes

    function_name = "inevent-webhooks-prod-test_send"
    settings(TEST_SEND_FUNCTION=function_name)
    recorder = CallRecorder(get_services())

    def test_send(event, context):
        with recorder.entry("test_send"):
            return application.test_send(event, context)

    answer_invokes(get_services().lambda_client, {function_name: test_send})
    hook = api.create(receiver.url)
    with recorder.entry("api_handler"):
        status, answer = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and answer["statusCode"] == 200
    api_calls = needed(recorder.calls["api_handler"], recorder.items["api_handler"])
    assert "lambda:InvokeFunction" in api_calls and api_calls <= granted("api_handler", fixed_egress=True)
    assert granted("api_handler", fixed_egress=True) - granted("api_handler") == {"lambda:InvokeFunction"}
    assert recorder.calls["test_send"] == set()  # it reads and writes nothing in AWS
    assert granted("test_send", fixed_egress=True) == LOGS | VPC_NETWORK_INTERFACES
    assert granted("deliver", fixed_egress=True) - granted("deliver") == VPC_NETWORK_INTERFACES
    for function in ("platform_event", "erase_person"):
        assert granted(function, fixed_egress=True) == granted(function)


def table_actions(document):
    return {a for s in document["Statement"] for a in s["Action"] if a.startswith("dynamodb:")}


def test_every_table_grant_names_the_partition_keys_it_reaches_and_only_the_api_reaches_tokens():
    for function in iam.FUNCTIONS:
        document = iam.template(function)
        assert all(leading_keys(s) for s in document["Statement"] if s["Resource"] == "${WebhooksTable}"), function
        reaching = {action for action in table_actions(document) if allowing(document, action, "TOK#a-token-hash")}
        assert bool(reaching) == (function == "api_handler"), (function, reaching)


def test_the_delivery_function_reaches_only_webhooks_their_logs_and_counters_and_their_listings_status():
    deliver = iam.template("deliver")
    reach = {key: {action for action in table_actions(deliver) if allowing(deliver, action, key)}
             for key in ("WH#wh_1", "EV#1234", "CO#7", "CAP#EV#1234", "TOK#x", "RATE#TOK#x", "IDEM", "ERASURE#x")}
    listings = {"dynamodb:UpdateItem", "dynamodb:Query"}  # a listing's status; the owner's webhooks, for notices
    # Query on WH#: the end of a pull webhook's log, to put a notice there.
    assert reach == {"WH#wh_1": table_actions(deliver), "EV#1234": listings, "CO#7": listings,
                     "CAP#EV#1234": set(), "TOK#x": set(), "RATE#TOK#x": set(), "IDEM": set(), "ERASURE#x": set()}


def test_the_delivery_function_puts_on_the_bus_only_the_services_own_events():
    (statement,) = [s for s in iam.template("deliver")["Statement"] if "events:PutEvents" in s["Action"]]
    assert statement["Action"] == ["events:PutEvents"] and statement["Resource"] == "${EventBus}"
    assert statement["Condition"] == {"StringEquals": {"events:source": "inevent.webhooks"}}
    assert not [s for f in iam.FUNCTIONS if f != "deliver" for s in iam.template(f)["Statement"]
                if any(a.startswith("events:") for a in s["Action"])]


def test_chalice_deploy_uses_the_stages_own_policies_which_are_the_templates_narrowed_to_that_stage():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in iam.STAGE_STACKS:
        for function, settings in config["stages"][stage]["lambda_functions"].items():
            assert settings["iam_policy_file"] == iam.stage_policy_file(function, stage)
    for name, text in iam.stage_policies().items():
        assert (ROOT / ".chalice" / name).read_text() == text, f"{name} is out of date: make policies"


def stage_resources(stage):
    """Every resource that the chalice deploy policies of ``stage`` name."""
    found = set()
    for function in iam.FUNCTIONS:
        document = json.loads((ROOT / ".chalice" / iam.stage_policy_file(function, stage)).read_text())
        for statement in document["Statement"]:
            found |= set([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
    return found


def test_no_stage_can_reach_another_stages_table_queues_or_logs():
    # The platform's bus is one for every stage: each may put its own notices there (nothing else).
    bus = "arn:aws:events:*:*:event-bus/default"
    dev, prod = stage_resources("dev") - {bus}, stage_resources("prod") - {bus}
    assert {r.split(":")[2] for r in dev} == {"dynamodb", "sqs", "logs"}
    for ours, theirs in ((dev, prod), (prod, dev)):
        concrete = {r.replace("*", "x") for r in theirs}  # some region, account and log stream of theirs
        assert not [(pattern, arn) for pattern in ours for arn in concrete if like(pattern, arn)]
    assert "arn:aws:dynamodb:*:*:table/inevent-webhooks-dev-webhooks" in dev
    assert "arn:aws:sqs:*:*:inevent-webhooks-dev-deliveries.fifo" in dev
    for resource in dev | prod:  # only region, account and a log group's streams are left open
        service, region, account, name = resource.split(":", 5)[2:6]
        assert (region, account) == ("*", "*") and "*" not in name.removesuffix(":*"), resource


@pytest.mark.parametrize("stack, count", [("packaged", 4), ("packaged_with_fixed_egress", 5)])
def test_every_function_of_the_template_runs_on_a_runtime_aws_still_creates_with_active_tracing(stack, count, request):
    from tests.tooling.helpers import assert_creatable

    _, template, _ = request.getfixturevalue(stack)
    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == count  # api_handler, platform_event, deliver, erase_person (and test_send)
    for function in functions:
        assert function["Properties"]["Runtime"] == package.RUNTIME
        assert_creatable(function["Properties"]["Runtime"])
        assert function["Properties"]["Tracing"] == "Active"
    for role in package.ROLES:
        if role in resources:
            assert resources[role]["Properties"]["ManagedPolicyArns"] == [{"Fn::Sub": package.XRAY_POLICY}]
    assert resources["RestAPI"]["Properties"]["TracingEnabled"] is True

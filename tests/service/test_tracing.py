"""X-Ray tracing: what a dispatch and its deliveries record, and how the two traces are joined.

The functions run as on Lambda with active tracing (``LAMBDA_TASK_ROOT`` and the trace header
Lambda gives each invocation); the X-Ray SDK's segments go to an emitter that keeps them, in
place of the daemon.
"""

import json

import boto3
import pytest

import app as application
from chalicelib import tracing
from chalicelib.services import get_services
from dev.worker import DeliveryPoller
from tests.helpers import Worker

DISPATCH_TRACE = "1-67891233-abcdef012345678912345678"
DELIVERY_TRACE = "1-67891234-0123456789abcdef01234567"


class KeptSegments:
    """An X-Ray emitter that keeps what it is given (the SDK's emitter interface)."""

    def __init__(self):
        self.sent = []

    def send_entity(self, entity):
        self.sent.append(json.loads(entity.serialize()))

    def set_daemon_address(self, address):
        pass

    def named(self, prefix):
        return [s for s in self.sent if s["name"].startswith(prefix)]


@pytest.fixture
def xray(monkeypatch):
    """Tracing on, as on Lambda; the segments kept. Turned off again afterwards."""
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.context import Context
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    tracing.tracer.cache_clear()
    kept = KeptSegments()
    global_sdk_config.set_sdk_enabled(True)
    tracing.tracer()
    xray_recorder.configure(context=LambdaContext(), emitter=kept, sampling=False, streaming_threshold=0)  # as Powertools sets it on Lambda
    yield kept
    xray_recorder.configure(context=Context(), context_missing="IGNORE_ERROR")
    global_sdk_config.set_sdk_enabled(False)  # botocore stays patched: the patch then only calls through
    tracing.tracer.cache_clear()


def invocation(monkeypatch, trace_id, parent="53995c3f42cd8ad8"):
    """What Lambda sets for each traced invocation."""
    monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root={trace_id};Parent={parent};Sampled=1")


def trace_headers_sent(sqs):
    """The AWSTraceHeader of every message the service's SQS client sends, by deduplication ID."""
    sent = {}

    def record(params, **_):
        for entry in params["Entries"]:
            header = entry.get("MessageSystemAttributes", {}).get("AWSTraceHeader", {}).get("StringValue")
            sent[entry["MessageDeduplicationId"]] = header

    sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", record)
    return sent


def sqs_keeping_trace_headers(sent):
    """An SQS client whose received messages carry the AWSTraceHeader they were sent with, as
    SQS's do: moto 5.2.1's SendMessageBatch drops MessageSystemAttributes (its SendMessage keeps them)."""
    sqs = boto3.client("sqs")

    def restore(parsed, **_):
        for message in parsed.get("Messages", []):
            header = sent.get(message["Attributes"]["MessageDeduplicationId"])
            if header:
                message["Attributes"]["AWSTraceHeader"] = header

    sqs.meta.events.register("after-call.sqs.ReceiveMessage", restore)
    return sqs


def test_a_dispatch_and_its_deliveries_are_traced_and_joined(xray, monkeypatch, api, receiver, aws):
    api.create(receiver.url)
    api.create(f"{receiver.url}/second")
    sent = trace_headers_sent(get_services().sqs)

    invocation(monkeypatch, DISPATCH_TRACE)
    message_id = api.dispatch()["messageID"]
    (handler,) = xray.named("## api_handler")
    assert handler["trace_id"] == DISPATCH_TRACE
    assert handler["annotations"]["Service"] == "inevent.webhooks"
    aws_calls = {(s["name"], s["aws"]["operation"]) for s in xray.sent
                 if s.get("namespace") == "aws" and s["parent_id"] == handler["id"]}
    # inside the dispatch's trace: finding the matching webhooks, and queueing for them
    assert {("dynamodb", "Query"), ("sqs", "SendMessageBatch")} <= aws_calls
    # each message carries the dispatch's trace header, for Lambda to link its delivery to it
    assert len(sent) == 2 and all(h.startswith(f"Root={DISPATCH_TRACE};Parent=") for h in sent.values())

    invocation(monkeypatch, DELIVERY_TRACE)
    poller = DeliveryPoller(sqs_keeping_trace_headers(sent), aws["DeliveryQueue"]["url"], application.deliver,
                            wait_seconds=0)
    Worker(poller).run(until=lambda: len(receiver.successes()) == 2)
    (delivery,) = xray.named("## deliver")
    assert delivery["trace_id"] == DELIVERY_TRACE
    assert delivery["metadata"]["inevent.webhooks"]["dispatchTraces"] == [DISPATCH_TRACE]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {message_id}
    assert all("x-amzn-trace-id" not in r.headers for r in receiver.requests), "no X-Ray header to receivers"


def test_nothing_is_traced_and_no_header_is_queued_when_tracing_is_off(api, receiver, aws):
    api.create(receiver.url)
    sent = trace_headers_sent(get_services().sqs)
    api.dispatch()
    assert list(sent.values()) == [None]


def test_tracing_is_off_in_the_local_run_and_the_tests_unless_asked_for():
    assert not tracing.enabled({})
    assert tracing.enabled({"WEBHOOKS_TRACE": "1"})
    assert tracing.enabled({"LAMBDA_TASK_ROOT": "/var/task"})
    assert not tracing.enabled({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"})
    assert not tracing.enabled({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"})

"""chalicelib/dynamodb_wire.py: the worker's batch requests answer as botocore's client answers
them, over moto in the process and over real HTTP, with botocore's errors and retries."""

import base64
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zlib import crc32

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, SSLError

from chalicelib.dynamodb_wire import DynamoDBWire, batch_client
from chalicelib.services import get_services
from dev.local_service import free_port
from tests.test_local_moto import CREDENTIALS, endpoint  # noqa: F401 - endpoint: the local run's moto server

BLOB = b"\x00\xffbinary"
ITEMS = [
    {"pk": {"S": "WH#1"}, "sk": {"S": "MSG#1"}, "n": {"N": "12.50"}, "yes": {"BOOL": True}, "none": {"NULL": True},
     "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "text": {"S": "ünïcode \u2028 \"quoted\" \"B\": not a key"},
     "m": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {}}, {"L": []}]}}}},
    {"pk": {"S": "WH#1"}, "sk": {"S": "SEQ#1"}, "sequence": {"N": "7"}},
    {"pk": {"S": "WH#2"}, "sk": {"S": "BIN"}, "b": {"B": BLOB}, "bs": {"BS": [BLOB]}, "m": {"M": {"b": {"B": BLOB}}}},
]
KEYS = [{"pk": item["pk"], "sk": item["sk"]} for item in ITEMS] + [{"pk": {"S": "WH#3"}, "sk": {"S": "WH"}}]


def read_back(client, table):
    answer = client.batch_get_item(RequestItems={table: {"Keys": KEYS, "ConsistentRead": True}})
    return sorted(answer["Responses"][table], key=lambda item: (item["pk"]["S"], item["sk"]["S"])), answer["UnprocessedKeys"]


def test_the_wire_answers_as_the_client_does_in_moto_in_the_process(aws):
    db, table = get_services().dynamodb, aws["WebhooksTable"]["name"]
    wire = DynamoDBWire(db)
    answer = wire.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}} for item in ITEMS]})
    assert answer["UnprocessedItems"] == {} and answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    found, unprocessed = read_back(wire, table)
    assert (found, unprocessed) == read_back(db, table)
    assert len(found) == 3 and found[-1]["b"] == {"B": BLOB} and found[-1]["bs"] == {"BS": [BLOB]}


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


def test_the_service_sends_the_workers_batch_requests_on_the_wire(aws, monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert isinstance(get_services().log._batch_db, DynamoDBWire)


def test_behind_a_proxy_the_client_itself_sends_them(aws, monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    db = get_services().dynamodb
    assert batch_client(db) is db


def test_an_error_is_raised_as_the_clients_own_exception(aws):
    db = get_services().dynamodb
    with pytest.raises(db.exceptions.ResourceNotFoundException) as raised:
        DynamoDBWire(db).batch_get_item(RequestItems={"no-such-table": {"Keys": KEYS[:1]}})
    with pytest.raises(ClientError) as expected:
        db.batch_get_item(RequestItems={"no-such-table": {"Keys": KEYS[:1]}})
    got, wanted = dict(raised.value.response), dict(expected.value.response)
    assert set(got.pop("ResponseMetadata")) == set(wanted.pop("ResponseMetadata"))
    assert got == wanted and "message" in got  # the error's own fields too


def test_hooks_see_the_request_as_botocore_gives_it(aws):
    db, table = get_services().dynamodb, aws["WebhooksTable"]["name"]
    seen = []

    def hook(event_name, **kwargs):
        event = event_name.rsplit(".", 2)[0]
        context = kwargs.get("context") or getattr(kwargs.get("request"), "context", None) or {}
        body = kwargs.get("params", {}).get("body") if event == "before-call" else None
        seen.append((event, sorted(kwargs), sorted(key for key in context if key != "retries"),
                     json.loads(body) if body else None, kwargs.get("params") if event == "before-parameter-build" else None))

    for event in ("before-parameter-build", "before-call", "request-created", "before-send", "needs-retry", "after-call"):
        db.meta.events.register(f"{event}.dynamodb.BatchGetItem", hook)
    db.batch_get_item(RequestItems={table: {"Keys": KEYS[:1]}})
    by_botocore, seen[:] = list(seen), []
    DynamoDBWire(db).batch_get_item(RequestItems={table: {"Keys": KEYS[:1]}})
    assert [entry[0] for entry in by_botocore] == ["before-parameter-build", "before-call", "request-created",
                                                   "before-send", "needs-retry", "after-call"]
    assert seen == by_botocore


def test_the_wire_answers_as_the_client_does_over_http(endpoint):  # the local run's moto server, patched or not
    db = boto3.client("dynamodb", endpoint_url=endpoint, **CREDENTIALS)
    db.create_table(TableName="wire", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                          {"AttributeName": "sk", "AttributeType": "S"}])
    wire = DynamoDBWire(db)
    wire.batch_write_item(RequestItems={"wire": [{"PutRequest": {"Item": item}} for item in ITEMS]})
    assert read_back(wire, "wire") == read_back(db, "wire") and len(read_back(db, "wire")[0]) == 3
    with pytest.raises(db.exceptions.ResourceNotFoundException):
        wire.batch_write_item(RequestItems={"none": [{"PutRequest": {"Item": ITEMS[1]}}]})


class FakeDynamoDB(BaseHTTPRequestHandler):
    """Answers each request with the next of ``answers``: (status, JSON body, extra headers)."""

    answers, requests = [], []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).requests.append((dict(self.headers), body))
        status, payload, headers = type(self).answers.pop(0) if type(self).answers else (200, FOUND, {})
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", headers.get("type", "application/x-amz-json-1.0"))
        self.send_header("content-length", str(len(data)))
        self.send_header("x-amz-crc32", str(headers.get("crc32", crc32(data) & 0xFFFFFFFF)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_dynamodb():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDynamoDB)
    FakeDynamoDB.answers, FakeDynamoDB.requests = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wire_to(url, slept):
    return DynamoDBWire(boto3.client("dynamodb", endpoint_url=url, config=Config(retries={"mode": "standard", "max_attempts": 2}),
                                     **CREDENTIALS), sleep=slept.append)


FOUND = {"Responses": {"t": [{"pk": {"S": "WH#1"}, "sk": {"S": "WH"}}]}, "UnprocessedKeys": {}}


def test_a_throttled_request_is_signed_and_sent_again_after_a_backoff(fake_dynamodb):
    FakeDynamoDB.answers = [(400, {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow"}, {}),
                            (200, FOUND, {})]
    slept = []
    answer = wire_to(fake_dynamodb, slept).batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})
    assert answer["Responses"] == FOUND["Responses"] and answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(slept) == 1
    for headers, body in FakeDynamoDB.requests:
        assert headers["X-Amz-Target"] == "DynamoDB_20120810.BatchGetItem"
        assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=local/")
        assert "/us-east-1/dynamodb/aws4_request" in headers["Authorization"]
        assert json.loads(body) == {"RequestItems": {"t": {"Keys": KEYS[:1]}}}
    assert [headers["amz-sdk-request"].split(";")[0] for headers, _ in FakeDynamoDB.requests] == ["attempt=1", "attempt=2"]


def test_an_answer_that_fails_its_checksum_is_asked_for_again(fake_dynamodb):
    FakeDynamoDB.answers = [(200, b'{"Responses": {"t": [{"pk": {"S"', {"crc32": 1}), (200, FOUND, {})]
    answer = wire_to(fake_dynamodb, []).batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})
    assert answer["Responses"] == FOUND["Responses"] and len(FakeDynamoDB.requests) == 2


def test_an_html_error_page_is_an_error_and_is_asked_again(fake_dynamodb):
    FakeDynamoDB.answers = [(503, b"<html><body>Service Unavailable</body></html>", {"type": "text/html"}),
                            (200, FOUND, {})]
    answer = wire_to(fake_dynamodb, []).batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})
    assert answer["Responses"] == FOUND["Responses"] and len(FakeDynamoDB.requests) == 2


def test_a_lasting_error_is_raised_once_the_attempts_are_spent(fake_dynamodb):
    error = {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "down"}
    FakeDynamoDB.answers = [(500, error, {})] * 3
    slept = []
    with pytest.raises(ClientError) as raised:
        wire_to(fake_dynamodb, slept).batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": ITEMS[1]}}]})
    response = raised.value.response
    assert response["Error"]["Code"] == "InternalServerError" and response["Error"]["Message"] == "down"
    assert response["ResponseMetadata"]["MaxAttemptsReached"] is True  # the client's retry handler decided
    assert len(FakeDynamoDB.requests) == 3 and len(slept) == 2


def test_an_endpoint_that_cannot_be_reached_raises_botocores_connection_error():
    slept = []
    with pytest.raises(EndpointConnectionError):
        wire_to(f"http://127.0.0.1:{free_port()}", slept).batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})
    assert len(slept) == 2


def test_a_binary_value_is_sent_as_botocore_sends_it(fake_dynamodb):
    FakeDynamoDB.answers = [(200, {"UnprocessedItems": {}}, {})]
    wire_to(fake_dynamodb, []).batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": ITEMS[2]}}]})
    sent = json.loads(FakeDynamoDB.requests[0][1])["RequestItems"]["t"][0]["PutRequest"]["Item"]
    assert sent["b"] == {"B": base64.b64encode(BLOB).decode()} and sent["bs"] == {"BS": [base64.b64encode(BLOB).decode()]}


def test_in_lambda_a_request_carries_the_invocations_trace_id(fake_dynamodb, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "deliver")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793")
    wire_to(fake_dynamodb, []).batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})
    assert FakeDynamoDB.requests[0][0]["X-Amzn-Trace-Id"].startswith("Root=1-5759e988")


def test_ten_threads_share_one_wire(fake_dynamodb):
    wire, answers = wire_to(fake_dynamodb, []), []

    def read():
        for _ in range(5):
            answers.append(wire.batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})["Responses"])

    threads = [threading.Thread(target=read) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [FOUND["Responses"]] * 50 and len(FakeDynamoDB.requests) == 50


def test_over_tls_the_certificate_is_checked_against_botocores_ca_bundle(tmp_path, monkeypatch):
    from tests.test_tls_delivery import certificate_for

    cert, key = certificate_for("localhost", tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeDynamoDB)
    FakeDynamoDB.answers, FakeDynamoDB.requests = [], []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}"
    try:
        monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
        with pytest.raises(SSLError):  # not signed by an authority that botocore trusts
            wire_to(url, []).batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        assert wire_to(url, []).batch_get_item(RequestItems={"t": {"Keys": KEYS[:1]}})["Responses"] == FOUND["Responses"]
    finally:
        server.shutdown()
        server.server_close()

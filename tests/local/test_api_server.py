"""The local API server (dev/api_server.py) over real sockets: HTTP spoken properly, every error
in the contract's shape, and no token in its access log."""

import http.client
import json
import os
import socket

import pytest

from dev.local_service import LocalService, free_port
from tests.helpers import ADMIN, wait_until

SECRET = "s3cret-value-not-prefixed"  # no tok_ prefix: only the parameter's name can give it away


@pytest.fixture(scope="module")
def service():
    port = free_port()
    env = {**os.environ, "PORT": str(port), "INEVENT_DEV_TOKEN": ADMIN}
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "WEBHOOKS_TABLE", "DELIVERY_QUEUE_URL",
                 "WEBHOOK_ALLOW_NETWORKS", "MOTO_PORT", "LOCAL_STATE_DIR"):
        env.pop(name, None)
    started = LocalService(port, env)
    try:
        started.wait_ready()
        yield started
    finally:
        started.process.terminate()
        started.process.wait(timeout=30)


def connect(service):
    return http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)


def raw(service, data):
    """Send ``data`` as it is; return everything the server answered until it closed."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def error_of(answer):
    """The status and error code of one raw answer, checking it is JSON in the contract's shape."""
    head, body = answer.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    assert b"\r\ncontent-type: application/json" in head.lower()
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "field"}
    return status, error["code"]


def contract_error(response):
    assert response.getheader("Content-Type") == "application/json"
    error = json.loads(response.read())["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    return response.status, error["code"]


@pytest.mark.parametrize("method, path, headers", [
    ("GET", "/nope", {}),
    ("POST", "/nope/deeper?x=1", {}),
    ("GET", "/nope", {"Authorization": f"Bearer {ADMIN}"}),  # Chalice's answer would echo it back
    ("DELETE", "/apis", {}),
])
def test_a_path_that_matches_no_route_answers_404_in_the_contracts_shape(service, method, path, headers):
    connection = connect(service)
    connection.request(method, path, headers=headers)
    assert contract_error(connection.getresponse()) == (404, "not_found")


@pytest.mark.parametrize("method, path, allow", [("POST", "/", "GET"), ("PUT", "/openapi.yaml", "GET"),
                                                 ("DELETE", "/console/app.js", "GET")])
def test_a_wrong_verb_on_a_known_path_answers_405_in_the_contracts_shape(service, method, path, allow):
    connection = connect(service)
    connection.request(method, path, body=b"{}")
    response = connection.getresponse()
    assert response.getheader("Allow") == allow
    assert contract_error(response) == (405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/", f"/api/webhook.find?eventID=1&tokenID={ADMIN}", "/nope"])
def test_head_gets_the_headers_and_no_body(service, path):
    answer = raw(service, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /openapi.yaml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, rest = answer.split(b"\r\n\r\n", 1)
    assert b"\r\ncontent-type: application/json" in head.lower()
    assert rest.startswith(b"HTTP/1.1 200 ")  # no body came between the two answers


def test_a_chunked_body_is_read_as_the_body(service):
    connection = connect(service)
    parts = [b'{"eventID": "77", "type": "activityEnrollment",', b' "url": "http://127.0.0.1:9/chunked"}']
    connection.request("POST", "/api/webhook.create", body=iter(parts), encode_chunked=True,
                       headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 201, response.read()
    assert json.loads(response.read())["url"] == "http://127.0.0.1:9/chunked"
    connection.request("GET", f"/api/webhook.find?eventID=77&tokenID={ADMIN}")  # the same connection goes on
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["count"] == 1


@pytest.mark.parametrize("framing", [
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is no number
    b"Transfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n0\r\n\r\n",  # a chunk shorter than it says
    b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",  # both
    b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    b"Content-Length: abc\r\n\r\n{}",
    b"Content-Length: -2\r\n\r\n{}",
    b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
])
def test_a_body_whose_end_is_unknown_is_refused_with_400_and_the_connection_closed(service, framing):
    request = b"POST /api/webhook.find HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing
    answer = raw(service, request + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # a second request gets no answer
    assert answer.count(b"HTTP/1.1 ") == 1
    assert b"\r\nconnection: close\r\n" in answer.lower()
    assert error_of(answer) == (400, "invalid_request")


def test_a_body_longer_than_1_mib_is_refused_before_it_is_read(service):
    answer = raw(service, b"POST /api/webhook.find HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}")
    assert error_of(answer) == (413, "payload_too_large")


@pytest.mark.parametrize("request_line", [b"HELLO", b"GET / HTTP/9.x", b"GET /a b HTTP/1.1", b"GET / HTTP/2.0"])
def test_pythons_own_http_errors_are_in_the_contracts_shape(service, request_line):
    assert error_of(raw(service, request_line + b"\r\nHost: x\r\n\r\n"))[0] in (400, 505)


@pytest.mark.parametrize("query", ["token%49D", "TOKENID", "tokenid", "%74oken%49d", "token%2549D", "TokenId"])
def test_the_access_log_hides_a_token_parameter_however_its_name_is_spelt(service, query):
    secret = f"{SECRET}-{query}"  # each case its own, so that one leak fails only its own case
    connection = connect(service)
    connection.request("GET", f"/api/webhook.find?eventID=1&{query}={secret}&marker=probe-{query}")
    connection.getresponse().read()
    wait_until(lambda: any(f"probe-{query}" in line for line in service.lines))
    assert not any(secret in line for line in service.lines)


def test_the_access_log_hides_an_authorization_value(service):
    # A client that lost a line break: the header ends up in the request line, which is logged.
    raw(service, f"GET /api/webhook.find?marker=authorization HTTP/1.1 Authorization: Bearer {SECRET}\r\n\r\n".encode())
    raw(service, f"GET /x Authorization:{SECRET} HTTP/1.1\r\n\r\n".encode())
    wait_until(lambda: sum("Authorization" in line for line in service.lines) >= 2)
    assert not any(SECRET in line for line in service.lines)


@pytest.mark.timing  # a time against a baseline of the same run: parallel load disturbs it
@pytest.mark.parametrize("size", [256, 1024 * 1024], ids=["256 bytes", "1 MiB"])
def test_the_dearest_chunked_body_costs_at_most_three_times_a_plain_body_of_its_size(service, size):
    from dev.adversarial_input import chunked_costs, dearest_chunked
    from dev.api_server import MAX_FRAMING_BYTES

    assert sum(map(len, dearest_chunked(size))) - size <= MAX_FRAMING_BYTES
    costs = chunked_costs(service.port, size)
    assert [status for _, status in costs.values()] == [401, 401, 413], costs  # the million one-byte chunks refused
    assert costs["dearest"][0] <= 3 * costs["plain"][0], costs
    if size == 1024 * 1024:  # refused once its chunks pass the bound, not read to the end
        assert costs["a million one-byte chunks"][0] <= 3 * costs["plain"][0], costs


def test_a_chunked_body_over_1_mib_is_413(service):
    from dev.adversarial_input import chunked, post_and_time

    assert post_and_time(service.port, b"Transfer-Encoding: chunked\r\n", chunked([b" " * 65536] * 17))[1] == 413

"""The local API server (dev/api_server.py) over real sockets: HTTP spoken properly, every error
in the contract's shape, and no token in its access log."""

import http.client
import json
import os
import socket

import pytest

from dev.local_service import LocalService, free_port
from tests.conftest import ADMIN, wait_until

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


def post_and_time(service, head, body_parts):
    """Send a POST with ``head`` (its header lines) and the body in ``body_parts`` on a fresh
    connection, from a thread of its own; return (seconds until the whole answer came, status)."""
    import threading
    import time

    sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)

    def send():
        try:
            sock.sendall(b"POST /api/webhook.find HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head + b"\r\n")
            for part in body_parts:
                sock.sendall(part)
        except OSError:
            pass  # the server answered and closed before all of it was sent

    started = time.perf_counter()
    sender = threading.Thread(target=send)
    sender.start()
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    seconds = time.perf_counter() - started
    sender.join()
    sock.close()
    return seconds, int(answer.split()[1]) if answer else None


def chunked(chunks, extension=b""):
    """A chunked body's parts: each chunk framed, then the last one."""
    framed = b"".join(b"%x%s\r\n%s\r\n" % (len(c), extension, c) for c in chunks)
    return [framed[i:i + 65536] for i in range(0, len(framed), 65536)] + [b"0\r\n\r\n"]


@pytest.mark.parametrize("size", [256, 1024 * 1024], ids=["256 bytes", "1 MiB"])
def test_the_worst_chunked_body_costs_at_most_three_times_a_plain_body_of_its_size(service, size):
    from dev.api_server import MAX_CHUNKS, MAX_FRAMING_BYTES

    plain = [b" " * size]
    # The dearest body of that size still read: in the most chunks, with the most framing.
    count = min(size, MAX_CHUNKS)
    extension = b";" + b"x" * (MAX_FRAMING_BYTES // count - 16)
    worst = chunked([b" " * (size // count)] * count, extension)
    assert sum(map(len, worst)) - size <= MAX_FRAMING_BYTES
    refused = chunked([b" "] * 1_000_000)  # the issue's: a million one-byte chunks (6 MB on the wire)
    times = {"plain": [], "worst": [], "refused": []}
    for _ in range(9):  # interleaved, and the quickest of each kept: the machine is shared
        for name, head, parts in (("plain", b"Content-Length: %d\r\n" % size, plain),
                                  ("worst", b"Transfer-Encoding: chunked\r\n", worst),
                                  ("refused", b"Transfer-Encoding: chunked\r\n", refused)):
            seconds, status = post_and_time(service, head, parts)
            assert status == {"plain": 401, "worst": 401, "refused": 413}[name], (name, status)
            times[name].append(seconds)
    best = {name: min(found) for name, found in times.items()}
    assert best["worst"] <= 3 * best["plain"], best
    if size == 1024 * 1024:
        assert best["refused"] <= 3 * best["plain"], best  # refused once its chunks pass the bound


def test_a_chunked_body_over_1_mib_is_413(service):
    seconds, status = post_and_time(service, b"Transfer-Encoding: chunked\r\n", chunked([b" " * 65536] * 17))
    assert status == 413

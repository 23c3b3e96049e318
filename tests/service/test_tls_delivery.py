"""HTTPS delivery: connecting to the checked address still verifies the certificate of the name."""

import http.server
import ipaddress
import ssl
import threading

import pytest
import urllib3

from chalicelib.delivery.destinations import DestinationPolicy
from chalicelib.delivery.sender import HttpSender, send, signed_request
from tests.service.helpers import FakeDNS, certificate_for, webhook


@pytest.fixture
def tls_receiver(tmp_path):
    cert, key = certificate_for("hooks.example.test", tmp_path)
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append((self.headers["host"], self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert, got, tmp_path
    server.shutdown()


def test_https_delivery_connects_to_the_checked_address_and_verifies_the_name(tls_receiver):
    port, cert, got, _ = tls_receiver
    policy = DestinationPolicy([ipaddress.ip_network("127.0.0.0/8")], resolver=FakeDNS(**{"hooks.example.test": ["127.0.0.1"]}))
    sender = HttpSender(5, pool_manager=urllib3.PoolManager(ca_certs=str(cert), retries=False))
    request = signed_request(webhook(f"https://hooks.example.test:{port}/in"), "msg_1", '{"a":1}', 1764273600)
    attempt = send(policy, sender, request)
    assert attempt.status_code == 200, attempt.error
    assert got == [(f"hooks.example.test:{port}", b'{"a":1}')]


def test_a_certificate_for_another_name_fails_the_attempt(tls_receiver):
    port, _, got, directory = tls_receiver
    other, _ = certificate_for("other.example.test", directory)
    policy = DestinationPolicy([ipaddress.ip_network("127.0.0.0/8")], resolver=FakeDNS(**{"hooks.example.test": ["127.0.0.1"]}))
    sender = HttpSender(5, pool_manager=urllib3.PoolManager(ca_certs=str(other), retries=False))
    request = signed_request(webhook(f"https://hooks.example.test:{port}/in"), "msg_1", "{}", 1764273600)
    attempt = send(policy, sender, request)
    assert attempt.status_code is None and attempt.error == "TLS handshake with the endpoint failed"
    assert got == []

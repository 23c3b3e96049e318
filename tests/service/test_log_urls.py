"""A webhook's query string never reaches the logs: some receivers carry a key in it (issue 19)."""

import logging
import socket
import threading

import pytest


class BrokenHeaders:
    """A loopback endpoint that answers 500 with a header line urllib3 cannot parse (it then logs
    a warning that names the URL) and closes the connection."""

    ANSWER = b"HTTP/1.1 500 Oops\r\nthis line has no colon\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @staticmethod
    def _size(data):
        head, _, _ = data.partition(b"\r\n\r\n")
        length = [line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
        return len(head) + 4 + int(length[0]) if length else 0

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data or len(data) < self._size(data):  # read it all: no reset
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests += 1
                conn.sendall(self.ANSWER)


@pytest.fixture
def broken():
    server = BrokenHeaders()
    yield server
    server.sock.close()


def test_a_failing_delivery_to_a_url_with_a_key_logs_no_key(api, settings, worker, broken, caplog, capfd):
    settings(RETRY_SCHEDULE="0s,0s")
    caplog.set_level(logging.INFO)  # every logger (botocore's DEBUG lines print whole items: not logged in service)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # the lines with the path, even at DEBUG
    hook = api.create(f"http://127.0.0.1:{broken.port}/hook?key=SECRET123&x=1")
    api.dispatch()
    worker.run()
    assert broken.requests == 2  # the first attempt failed, and was retried
    status, body = api.call("webhook.deliveries", http="GET", webhookID=hook["webhookID"])
    assert [a["statusCode"] for a in body["data"][0]["attempts"]] == [500, 500]
    printed = capfd.readouterr()
    logged = caplog.text + printed.out + printed.err
    assert "Failed to parse headers" in logged and f"127.0.0.1:{broken.port}/hook" in logged
    assert "SECRET123" not in logged

"""A kept-alive connection that the endpoint closed is not the endpoint's failure: the request
goes again on a new connection, within the same deadline (issue 19)."""

import ipaddress
import socket
import threading
import time

from chalicelib.delivery.destinations import DestinationPolicy
from chalicelib.delivery.sender import HttpSender, send

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class ClosesIdleConnections:
    """A loopback endpoint that keeps connections alive, but closes one that stayed idle longer
    than ``idle_seconds`` as the next request arrives on it (its idle timer fired just then), so
    that the client finds out only after sending."""

    def __init__(self, idle_seconds=0.1):
        self.idle_seconds = idle_seconds
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = self.answered = self.closed_idle = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            last = time.monotonic()
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                          if line.startswith(b"content-length:")]
                if not sep or len(rest) < (length[0] if length else 0):
                    continue
                if time.monotonic() - last > self.idle_seconds:
                    self.closed_idle += 1
                    return  # closed without a byte of answer
                self.answered += 1  # counted first: the client may look as soon as the answer is out
                conn.sendall(ANSWER)
                data, last = b"", time.monotonic()


def post(sender, port):
    policy = DestinationPolicy([ipaddress.ip_network("127.0.0.0/8")])
    request = {"url": f"http://127.0.0.1:{port}/hook", "headers": {"content-type": "application/json"}, "body": "{}"}
    return send(policy, sender, request)


def test_a_kept_alive_connection_closed_by_the_endpoint_is_sent_again_on_a_new_one():
    endpoint = ClosesIdleConnections(idle_seconds=0.1)
    sender = HttpSender(timeout_seconds=5)
    assert post(sender, endpoint.port).ok
    time.sleep(0.3)  # idle past the endpoint's limit; the connection stays in the pool
    second = post(sender, endpoint.port)
    assert (second.status_code, second.error) == (200, None)
    assert (endpoint.connections, endpoint.closed_idle, endpoint.answered) == (2, 1, 2)


def test_a_new_connection_closed_without_an_answer_is_not_sent_again():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []

    def close_each():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.recv(65536)
            conn.close()

    threading.Thread(target=close_each, daemon=True).start()
    attempt = post(HttpSender(timeout_seconds=5), listener.getsockname()[1])
    listener.close()
    assert attempt.status_code is None and "closed the connection" in attempt.error
    assert len(accepted) == 1  # the endpoint's own failure: one request, no second one

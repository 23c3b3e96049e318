"""End to end: ``make run``'s program started as a user would, used over HTTP and EventBridge."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import pytest

from tests.receiver import Receiver

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalService:
    def __init__(self, port, env):
        self.port = port
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dev.run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Ready."):
                self._ready.set()

    def wait_ready(self, timeout=90):
        if not self._ready.wait(timeout):
            raise AssertionError("the local run did not get ready:\n" + "".join(self.lines[-40:]))
        return "".join(self.lines)

    def call(self, name, token, **params):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/{name}",
            data=json.dumps(params).encode(),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def local_service():
    port = free_port()
    env = dict(os.environ, PORT=str(port), INEVENT_DEV_TOKEN="tok_e2e-admin", RETRY_SCHEDULE="0s,1s,1s")
    for name in ("AWS_ENDPOINT_URL", "WEBHOOKS_TABLE", "DELIVERY_QUEUE_URL", "WEBHOOK_ALLOW_NETWORKS", "MOTO_PORT"):
        env.pop(name, None)
    service = LocalService(port, env)
    yield service
    if service.process.poll() is None:
        service.process.kill()
        service.process.wait()


def test_the_local_run_serves_the_api_delivers_signed_posts_and_stops_cleanly(local_service):
    banner = local_service.wait_ready()
    assert "tok_e2e-admin" in banner
    endpoint = re.search(r"AWS_ENDPOINT_URL=(\S+)", banner).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{local_service.port}/", timeout=5) as page:
        assert page.status == 200

    with Receiver() as receiver:
        receiver.answer(500, 200)  # the first attempt fails: the worker retries on schedule
        status, hook = local_service.call("webhook.create", "tok_e2e-admin", eventID="1234",
                                          type="activityEnrollment", url=receiver.url + "/hook")
        assert status == 201, hook
        status, sent = local_service.call("webhook.dispatch", "tok_e2e-admin", type="activityEnrollment",
                                          eventID="1234", activityID="98", personID="5521")
        assert status == 202 and sent["webhooks"] == 1
        got = receiver.wait_for(2, timeout=30)
        assert [r.headers["webhook-id"] for r in got] == [sent["messageID"]] * 2
        assert got[1].verify(hook["secret"])["data"]["personID"] == "5521"

        # The platform's EventBridge events reach the same fan-out.
        events = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        events.put_events(Entries=[{
            "Source": "inevent.platform",
            "DetailType": "activityEnrollment",
            "Detail": json.dumps({"eventID": "1234", "activityID": "7", "personID": "99"}),
        }])
        got = receiver.wait_for(3, timeout=30)
        assert len(got) == 3
        assert got[2].verify(hook["secret"])["data"] | {"date": None} == {
            "eventID": "1234", "activityID": "7", "personID": "99", "date": None}

    local_service.process.send_signal(signal.SIGINT)
    assert local_service.process.wait(timeout=30) == 0
    time.sleep(0.5)
    for url in (f"http://127.0.0.1:{local_service.port}/", endpoint):
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)

"""What test modules of several folders share: the API through the Chalice test client, the
delivery worker run in process, waiting for a state, the delivery log's stored items, the local
run's moto server, AWS failing under the service (behind the fault proxy, or through botocore's own
event hooks), and the markers each folder's conftest.py sets on its tests."""

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import time

import boto3
from botocore.exceptions import ConnectionClosedError

from chalicelib.services import get_services, reset_services
from dev.local_aws import corrections
from dev.local_service import ADMIN_TOKEN
from dev.local_service import ROOT as LOCAL_ROOT
from dev.local_service import free_port
from dev.resources import create_resources, service_environment
from dev.run import wait_until_up


REGION = "us-east-1"


class Api:
    """Calls methods through the Chalice test client and decodes the JSON answer."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def call(self, name, http="POST", token=None, headers=None, **params):
        token = token if token is not None else self.token
        all_headers = {"content-type": "application/json"}
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        if http == "GET":
            from urllib.parse import urlencode

            response = self.client.http.get(f"/api/{name}?{urlencode(params)}", headers=all_headers)
        else:
            response = getattr(self.client.http, http.lower())(
                f"/api/{name}", headers=all_headers, body=json.dumps(params)
            )
        return response.status_code, json.loads(response.body)

    def create(self, url, event_id="1234", type="activityEnrollment", **extra):
        status, body = self.call("webhook.create", eventID=event_id, url=url, type=type, **extra)
        assert status == 201, body
        return body

    def dispatch(self, event_id="1234", type="activityEnrollment", activity_id="98", person_id="5521", **extra):
        status, body = self.call(
            "webhook.dispatch", type=type, eventID=event_id, activityID=activity_id, personID=person_id, **extra
        )
        assert status == 202, body
        return body


class Worker:
    def __init__(self, poller):
        self.poller = poller

    def run(self, until=None, timeout=10.0):
        """Poll until ``until()`` is true (or, without it, until the queue gives nothing)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.poller.poll_once()
            if until is not None and until():
                return True
            if until is None and not got:
                return True
            if not got:
                time.sleep(0.05)
        return False


def wait_until(condition, timeout=10):
    """Wait for ``condition()`` to hold; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# The local run, started as a user starts it (`make run` runs `python -m dev.run`).
ROOT = str(LOCAL_ROOT)
ADMIN = ADMIN_TOKEN


def stored_message(webhook_id, message_id):
    """The delivery log's item for one message, as stored (attributes by their stored names)."""
    from chalicelib.store.table import get_item, message_key

    services = get_services()
    return get_item(services.dynamodb, services.settings.table_name, message_key(webhook_id, message_id))


@contextlib.contextmanager
def moto_server(corrected=True, quiet=False, **environment):
    """The local run's moto server (``python -m dev.moto_server``), corrected as the local run's is
    or plain, with ``environment`` added to its own, on a free loopback port: its URL."""
    port = free_port()
    output = subprocess.DEVNULL if quiet else None
    server = subprocess.Popen([sys.executable, "-m", "dev.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                              cwd=ROOT, stdout=output, stderr=output,
                              env={**os.environ, corrections.SWITCH: "on" if corrected else "off", **environment})
    try:
        wait_until_up(f"http://127.0.0.1:{port}/moto-api/", server, "the moto server")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def aws_behind_a_fault_proxy(monkeypatch, endpoint):
    """The moto server at ``endpoint``, emptied, with the stack's resources, behind a fault proxy
    that the service's settings point at; yields the proxy."""
    import urllib.request

    from dev.fault_proxy import FaultProxy

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    for name in ("AWS_PROFILE", "RETRY_SCHEDULE", "DELIVERY_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
                        "WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128", "WEBHOOK_DESTINATIONS": "allowed-only"}.items():
        monkeypatch.setenv(name, value)
    direct = {"endpoint_url": endpoint, "region_name": REGION}
    created = create_resources(boto3.client("dynamodb", **direct), boto3.client("sqs", **direct))
    with FaultProxy(endpoint) as proxy:
        for name, value in {**service_environment(created), "AWS_ENDPOINT_URL": proxy.url,
                            "AWS_ENDPOINT_URL_DYNAMODB": proxy.url}.items():
            monkeypatch.setenv(name, value)
        reset_services()
        proxy.created = created
        try:
            yield proxy
        finally:
            reset_services()


class DynamoDBFaults:
    """AWS failing under the service's DynamoDB client, with botocore's own event hooks (the
    client and botocore's retries are the real ones): ``lose_answer`` lets a request be made and
    then loses its answer, so botocore sends it again; ``brownout`` makes every request matched
    fail without an answer for a while. ``matches`` sees the operation's name and its body."""

    def __init__(self, client):
        self._lost, self._brownout = [], None
        self.failed = 0
        # A service's own name is more specific than moto's handler (on every before-send), so it
        # runs before moto makes the request; the last of the plain event's handlers, after.
        client.meta.events.register_first("before-send.dynamodb", self._before)
        client.meta.events.register_last("before-send", self._after)

    def lose_answer(self, operation, contains=b"", times=1):
        self._lost.append([operation, contains, times])

    def brownout(self, seconds, contains=b""):
        self._brownout = (time.monotonic() + seconds, contains)

    def end_brownout(self):
        self._brownout = None

    @staticmethod
    def _operation(request):
        target = request.headers.get("X-Amz-Target", b"")
        return (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]

    def _before(self, request, **_):
        if self._brownout and time.monotonic() < self._brownout[0] and self._brownout[1] in (request.body or b""):
            self.failed += 1
            raise ConnectionClosedError(endpoint_url=request.url)

    def _after(self, request, **_):
        for rule in self._lost:
            operation, contains, times = rule
            if times and operation == self._operation(request) and contains in (request.body or b""):
                rule[2] -= 1
                raise ConnectionClosedError(endpoint_url=request.url)


def mark_tests_in(folder, items, *markers):
    """Set ``markers`` (registered in pytest.ini) on the collected tests that live under ``folder``:
    a folder's conftest.py calls it from its ``pytest_collection_modifyitems``, which pytest hands
    every test of the session, not only the folder's."""
    folder = pathlib.Path(folder)
    for item in items:
        if item.path.is_relative_to(folder):
            for marker in markers:
                item.add_marker(marker)


def most_in_any_window(times, seconds):
    """The most arrivals in any window of ``seconds`` (one starting at each arrival holds the most)."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)

"""The relay, ``python -m chalicelib.listen`` (contract, section 18), as a developer runs it: against
the real local service (``make run``'s), forwarding to a real local receiver, stopped with Ctrl-C
(SIGINT) and started again on its webhook."""

import os
import re
import signal
import subprocess
import sys
import threading

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from dev.local_service import free_port, start_local_service
from dev.receiver import Receiver
from tests.helpers import ROOT, wait_until


@pytest.fixture(scope="module")
def service():
    local = start_local_service()
    local.wait_ready()
    yield local
    local.stop()


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


class Relay:
    """The relay as a process, its lines read as they come."""

    def __init__(self, service, *args, token=None, cursor_file=None):
        env = {**os.environ, "INEVENT_TOKEN": service.token if token is None else token}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.listen", "--api", f"http://127.0.0.1:{service.port}", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern, timeout=30):
        wait_until(lambda: any(re.search(pattern, line) for line in self.lines) or self.process.poll() is not None,
                   timeout)
        found = [re.search(pattern, line) for line in self.lines]
        assert any(found), "\n".join(self.lines)
        return next(m for m in found if m)

    def interrupt(self):
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


def dispatch(service, person, type="eventCheckIn", event="relay"):
    status, body = service.call("webhook.dispatch", service.token, type=type, eventID=event, personID=person)
    assert status == 202, body
    return body["messageID"]


def test_it_forwards_each_delivery_as_pushed_in_order_and_ctrl_c_removes_its_webhook(service, receiver):
    relay = Relay(service, "--event", "relay", "--types", "eventEnrollment,eventCheckIn",
                  "--forward", receiver.url + "/hook")
    webhook = relay.wait_for(r"as pull webhook (wh_\w+)").group(1)
    secret = relay.wait_for(r"Signing secret \(to verify deliveries\): (whsec_\S+)").group(1)
    sent = [dispatch(service, "1", "eventEnrollment"), dispatch(service, "1"), dispatch(service, "2")]
    receiver.wait_for(3, timeout=30)
    assert [r.headers["webhook-id"] for r in receiver.requests] == sent
    payloads = [Verifier(secret).verify(r.body, r.headers) for r in receiver.requests]
    assert [(p["type"], p["sequence"]) for p in payloads] == [("eventEnrollment", 1), ("eventCheckIn", 2),
                                                              ("eventCheckIn", 1)]
    assert {r.path for r in receiver.requests} == {"/hook"}
    assert {r.headers["content-type"] for r in receiver.requests} == {"application/json"}
    for message in sent:  # one line a delivery: time, type, messageID, status, duration
        relay.wait_for(rf"^\d\d:\d\d:\d\d  (eventCheckIn|eventEnrollment)\s+{message}\s+200\s+\d+ ms$")
    assert relay.interrupt() == 0
    relay.wait_for(rf"pull webhook {webhook} removed")
    assert service.call("webhook.poll", service.token, webhookID=webhook)[0] == 404


def test_a_refused_delivery_is_retried_holding_back_only_its_subjects_later_ones(service, receiver, tmp_path):
    refused = set()

    def rule(request, earlier):  # person 1's first message is refused twice
        body = request.json()
        if body["data"]["personID"] == "1" and body["sequence"] == 1 and len(refused) < 2:
            refused.add(len(refused))
            return 503
        return 200

    receiver.rule = rule
    # All three wait on the webhook before the relay starts, so that its first poll gets them
    # together (dispatched while it listened, the first could come alone, with none behind it).
    status, hook = service.call("webhook.create", service.token, eventID="relay-retry", delivery="pull",
                                types=["eventCheckIn"])
    assert status == 201
    first = dispatch(service, "1", event="relay-retry")
    second = dispatch(service, "1", event="relay-retry")
    other = dispatch(service, "2", event="relay-retry")
    relay = Relay(service, "--webhook", hook["webhookID"], "--forward", receiver.url,
                  "--cursor-file", str(tmp_path / "cursor"))
    receiver.wait_for(3, timeout=30, successes=True)
    delivered = [r.headers["webhook-id"] for r in receiver.successes()]
    assert delivered.index(first) < delivered.index(second)  # person 1's later message waited
    assert delivered.index(other) < delivered.index(first)  # person 2's did not
    relay.wait_for(rf"{first}\s+503\s+\d+ ms\s+retrying in 1s; 1 later about person:1 wait")
    relay.wait_for(rf"{first}\s+503\s+\d+ ms\s+retrying in 2s")
    relay.interrupt()


def test_with_webhook_it_keeps_its_cursor_and_goes_on_where_it_stopped(service, receiver, tmp_path):
    status, hook = service.call("webhook.create", service.token, eventID="relay-keep", delivery="pull",
                                types=["eventCheckIn"])
    assert status == 201
    cursor_file = tmp_path / "cursor"
    args = ("--webhook", hook["webhookID"], "--forward", receiver.url, "--cursor-file", str(cursor_file))
    relay = Relay(service, *args)
    relay.wait_for(r"Listening on pull webhook")

    def ctrl_c_while_the_second_is_forwarded(request, earlier):
        if len(earlier) == 1:
            relay.process.send_signal(signal.SIGINT)  # the receiver has it; the relay has no answer yet
        return 200

    receiver.rule = ctrl_c_while_the_second_is_forwarded
    before = [dispatch(service, "1", event="relay-keep"), dispatch(service, "2", event="relay-keep")]
    assert relay.process.wait(timeout=30) == 0
    relay.wait_for(r"Start again with --webhook")
    receiver.rule = None
    assert service.call("webhook.find", service.token, eventID="relay-keep")[1]["count"] == 1  # not removed
    after = [dispatch(service, "3", event="relay-keep")]
    again = Relay(service, *args)
    again.wait_for(r"from the cursor in")
    receiver.wait_for(3, timeout=30)
    # The second was taken before Ctrl-C landed: its cursor was saved, and the relay started again
    # goes on after it (forwarded again, it would come before the third, from the same poll).
    assert [r.headers["webhook-id"] for r in receiver.requests] == before + after
    again.interrupt()


def test_a_wrong_token_or_api_is_said_plainly(service, receiver):
    relay = Relay(service, "--event", "relay", "--forward", receiver.url, token="tok_" + "x" * 43)
    assert relay.process.wait(timeout=30) == 1
    assert "the API refused the token in INEVENT_TOKEN" in "\n".join(relay.lines)
    dead = subprocess.run([sys.executable, "-m", "chalicelib.listen", "--event", "1", "--forward", receiver.url,
                           "--api", f"http://127.0.0.1:{free_port()}"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "INEVENT_TOKEN": service.token}, timeout=30)
    assert dead.returncode == 1 and "cannot reach the API at" in dead.stderr and "connection refused" in dead.stderr
    unset = subprocess.run([sys.executable, "-m", "chalicelib.listen", "--event", "1", "--forward", receiver.url],
                           cwd=ROOT, capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items() if k != "INEVENT_TOKEN"})
    assert unset.returncode == 2 and "set INEVENT_TOKEN" in unset.stderr

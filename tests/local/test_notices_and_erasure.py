"""Section 15 against the local run (``make run``'s program): a disabled webhook's notice reaches the
organizer's other webhook and the local bus (``python -m dev.service_events``), and an erasure
leaves nothing of the person in the logs and sends nothing more about them."""

import json
import os
import re
import subprocess
import sys

from dev.receiver import Receiver
from tests.helpers import ADMIN, ROOT, wait_until
from tests.local.helpers import nothing_left_to_send


def service_events(banner):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": re.search(r"AWS_ENDPOINT_URL=(\S+)", banner).group(1)}
    shown = subprocess.run([sys.executable, "-m", "dev.service_events", "--wait", "5"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    return [json.loads(line) for line in shown.stdout.splitlines()]


def test_the_local_run_tells_the_organizer_and_forgets_a_person(start_local_service):
    service = start_local_service(RETRY_SCHEDULE="0s,2s,2s", ERASURE_SETTLE_SECONDS="1")
    banner = service.wait_ready()
    with Receiver() as failing, Receiver() as told:
        failing.answer(500, 500, 410)
        hook = service.call("webhook.create", ADMIN, eventID="1", type="activityEnrollment", url=failing.url)[1]
        watcher = service.call("webhook.create", ADMIN, eventID="1", type="webhookDisabled", url=told.url)[1]
        service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1", activityID="9", personID="7")
        retrying = service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1", activityID="9",
                                personID="8")[1]["messageID"]
        wait_until(lambda: failing.requests, timeout=30)

        # Person 8's message waits for its retry when the erasure is asked for.
        status, started = service.call("webhook.erasePerson", ADMIN, personID="8", eventID="1")
        assert status == 202
        wait_until(lambda: service.call("webhook.erasure", ADMIN, **started)[1]["status"] == "done", timeout=60)
        assert service.call("webhook.message", ADMIN, webhookID=hook["webhookID"], messageID=retrying)[0] == 404
        wait_until(lambda: nothing_left_to_send(banner), timeout=60)  # its retry's time came: it was dropped or sent
        assert not [r for r in failing.requests if r.json()["data"]["personID"] == "8"][1:]  # one attempt, before
        listed = service.call("webhook.deliveries", ADMIN, webhookID=hook["webhookID"])[1]["data"]
        assert retrying not in [m["messageID"] for m in listed]

        # Person 7's message fails, then the endpoint is gone: the webhook is disabled and the watcher told.
        notice = told.wait_for(1, timeout=30)[0].verify(watcher["secret"])
        assert notice["type"] == "webhookDisabled" and notice["data"]["webhookID"] == hook["webhookID"]
        events = service_events(banner)
        assert {e["detail-type"] for e in events} >= {"webhookDisabled"}
        assert all(e["source"] == "inevent.webhooks" for e in events)

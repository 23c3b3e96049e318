"""Receivers in control on the local run (contract, section 14): headers reach the endpoint and
never its logs; an update and a filter as an integrator sees them over HTTP."""

import signal

from dev.receiver import Receiver
from tests.helpers import ADMIN

VALUE = "Bearer hdr-7f3a9c1e-never-logged"
NEW_VALUE = "hdr-after-update-5b8e2d"


def test_header_values_reach_the_endpoint_and_never_the_local_runs_log(local_service):
    local_service.wait_ready()
    with Receiver() as receiver:
        receiver.answer(500, 200)  # a failing attempt first: its error path logs too
        status, hook = local_service.call("webhook.create", ADMIN, eventID="1", type="activityEnrollment",
                                          url=receiver.url + "/a", headers={"Authorization": VALUE})
        assert status == 201 and hook["headers"] == ["Authorization"]
        status, sent = local_service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1",
                                          activityID="98", personID="1")
        assert status == 202
        receiver.wait_for(2, timeout=30)
        local_service.call("webhook.test", ADMIN, webhookID=hook["webhookID"])
        status, changed = local_service.call("webhook.update", ADMIN, webhookID=hook["webhookID"],
                                             url=receiver.url + "/b", headers={"X-Api-Key": NEW_VALUE},
                                             filter={"activityID": ["98"]})
        assert status == 200 and changed["headers"] == ["X-Api-Key"] and changed["url"] == receiver.url + "/b"
        local_service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1", activityID="5",
                           personID="1")  # kept out by the filter
        status, last = local_service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1",
                                          activityID="98", personID="1")
        assert last["webhooks"] == 1
        got = receiver.wait_for(4, timeout=30)
        status, shown = local_service.call("webhook.message", ADMIN, webhookID=hook["webhookID"],
                                           messageID=sent["messageID"])
        assert shown["request"]["headers"]["Authorization"] == "[redacted]"
    assert [r.headers.get("authorization") for r in got[:3]] == [VALUE] * 3
    assert got[3].path == "/b" and got[3].headers["x-api-key"] == NEW_VALUE and "authorization" not in got[3].headers
    assert got[3].verify(hook["secret"])["sequence"] == 2  # the secret and the sequence were kept

    local_service.process.send_signal(signal.SIGINT)
    assert local_service.process.wait(timeout=30) == 0
    logged = "".join(local_service.lines)
    assert "delivery attempt" in logged  # the attempts were logged, and with them nothing of the values
    assert VALUE not in logged and NEW_VALUE not in logged and "hdr-" not in logged

"""Keys and credentials on the local run (contract, sections 19 and 20), as an integrator meets
them over HTTP: an ed25519 webhook's deliveries verify with its public key alone (libsodium, not
the service's library), and a burst to an endpoint behind OAuth 2.0, delivered by the local
worker's pollers at once, makes one token request; nothing secret reaches the run's log."""

import base64
import signal

from nacl.signing import VerifyKey

from dev.receiver import Receiver
from dev.token_endpoint import TokenEndpoint
from tests.helpers import ADMIN

BURST = 200


def test_an_ed25519_webhook_and_a_burst_behind_oauth_on_the_local_run(local_service):
    local_service.wait_ready()
    with Receiver() as receiver, TokenEndpoint(client_secret="cs-9d1f0b-never-logged") as tokens:
        tokens.answer((200, {"access_token": "at-4c7e2a-never-logged", "expires_in": 3600}, 0.3))
        receiver.rule = lambda request, earlier: (
            200 if request.path != "/crm" or request.headers.get("authorization") == "Bearer at-4c7e2a-never-logged"
            else 401)
        status, signed = local_service.call("webhook.create", ADMIN, eventID="1", type="activityEnrollment",
                                            url=receiver.url + "/keys", signature="ed25519")
        assert status == 201 and "secret" not in signed
        status, crm = local_service.call("webhook.create", ADMIN, eventID="1", type="activityCheckIn",
                                         url=receiver.url + "/crm", auth=tokens.auth())
        assert status == 201 and crm["auth"]["tokenUrl"] == tokens.url
        local_service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="1", activityID="98",
                           personID="1")
        for person in range(BURST):  # one subject each: the pollers deliver them in parallel
            local_service.call("webhook.dispatch", ADMIN, type="activityCheckIn", eventID="1", activityID="98",
                               personID=str(person))
        got = receiver.wait_for(BURST + 1, timeout=60, successes=True)
        assert len(got) == BURST + 1
        assert len(tokens.requests) == 1
        (enrollment,) = [r for r in got if r.path == "/keys"]
        key = VerifyKey(base64.b64decode(signed["publicKey"].removeprefix("whpk_")))
        signature = enrollment.headers["webhook-signature"].removeprefix("v1a,")
        key.verify(f"{enrollment.headers['webhook-id']}.{enrollment.headers['webhook-timestamp']}.".encode()
                   + enrollment.body, base64.b64decode(signature))

    local_service.process.send_signal(signal.SIGINT)
    assert local_service.process.wait(timeout=30) == 0
    logged = "".join(local_service.lines)
    assert "delivery attempt" in logged
    assert "never-logged" not in logged and "whsk_" not in logged

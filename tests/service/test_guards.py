"""Guards that were broken by hand without a test noticing (issue 19): each is pinned here
exactly, with a fixed clock where time matters."""

import json
import time

import pytest

from chalicelib.delivery.signing import signature_header
from chalicelib.errors import RateLimited
from chalicelib.services import get_services

DAY = 24 * 3600


def test_a_rotated_secret_signs_beside_the_new_one_for_exactly_24_hours(api):
    hook = api.create("http://127.0.0.1:9/hook")
    before = int(time.time())
    status, rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    after = int(time.time())
    assert status == 200
    webhook = get_services().webhooks.get(hook["webhookID"])
    assert before + DAY <= webhook.previous_secret_until <= after + DAY
    rotation = webhook.previous_secret_until - DAY
    for offset, signatures in ((DAY - 60, 2), (DAY + 60, 1)):  # 23 h 59 m, then 24 h 01 m
        at = rotation + offset
        header = signature_header(webhook.signing_secrets(at), "msg_1", at, '{"a":1}')
        assert len(header.split(" ")) == signatures, offset
    assert webhook.signing_secrets(rotation + DAY - 60)[0] == rotated["secret"]  # the new one first


@pytest.mark.parametrize("per_second", [1, 50])
def test_exactly_the_burst_passes_at_one_instant_and_then_one_per_interval(aws, per_second):
    limits, burst, now = get_services().limits, 2 * per_second, 1_800_000_000.0
    for _ in range(burst):
        limits.take("TOK#fixed", per_second, burst, now, "the limit")
    with pytest.raises(RateLimited):
        limits.take("TOK#fixed", per_second, burst, now, "the limit")
    limits.take("TOK#fixed", per_second, burst, now + 1 / per_second, "the limit")  # one interval later: one more
    with pytest.raises(RateLimited):
        limits.take("TOK#fixed", per_second, burst, now + 1 / per_second, "the limit")


def test_the_api_allows_a_token_a_burst_of_twice_its_rate(api, settings):
    settings(RATE_LIMIT_PER_SECOND="1")
    token = api.call("token.create", eventID="1234")[1]["tokenID"]
    answers = [api.call("webhook.find", http="GET", token=token, eventID="1234")[0] for _ in range(3)]
    assert answers == [200, 200, 429]  # three calls well within a second: the burst is 2


def test_a_revoked_token_that_was_used_stops_working_at_once(api):
    token = api.call("token.create", eventID="1234")[1]["tokenID"]
    assert api.call("webhook.find", http="GET", token=token, eventID="1234")[0] == 200  # used: any cache has it
    assert api.call("token.revoke", tokenID=token)[0] == 200
    status, body = api.call("webhook.find", http="GET", token=token, eventID="1234")
    assert (status, body["error"]["code"]) == (401, "unauthorized")


def test_nan_in_event_id_is_refused_for_being_nan(api):
    response = api.client.http.post("/api/webhook.find", body='{"eventID": NaN}', headers={
        "authorization": f"Bearer {api.token}", "content-type": "application/json"})
    error = json.loads(response.body)["error"]
    assert (response.status_code, error["code"]) == (400, "invalid_body")
    assert error["message"] == "the request body holds NaN, which is not a JSON number"

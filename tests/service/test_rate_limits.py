"""The API's rate limits (contract, section 10): a token's requests a second with a burst of twice its
rate, and webhook.test's sends a minute per webhook, counted in any minute. A webhook's own rate of
deliveries is tests/service/test_webhook_rates.py."""

import json

import pytest

from chalicelib.errors import RateLimited
from chalicelib.services import get_services


@pytest.mark.timing  # times against the same run: parallel load disturbs them
def test_a_token_past_its_rate_is_429_with_retry_after_and_an_admin_token_is_not_limited(api, settings):
    settings(RATE_LIMIT_PER_SECOND="2")
    scoped = api.call("token.create", eventID="1234")[1]["tokenID"]
    answers = [api.client.http.get("/api/webhook.find?eventID=1234", headers={"authorization": f"Bearer {scoped}"})
               for _ in range(8)]
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4 and 429 in statuses  # a burst of twice the rate, then refused
    refused = answers[statuses.index(429)]
    assert int(refused.headers["Retry-After"]) >= 1
    assert json.loads(refused.body)["error"]["code"] == "rate_limited"
    assert all(api.call("webhook.find", http="GET", eventID="1234")[0] == 200 for _ in range(8))


def test_webhook_test_runs_at_most_its_number_a_minute_per_webhook(api, receiver, settings):
    settings(TEST_SENDS_PER_MINUTE="3")
    hook, other = api.create(receiver.url), api.create(receiver.url + "/other")
    statuses = [api.call("webhook.test", webhookID=hook["webhookID"])[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert api.call("webhook.test", webhookID=other["webhookID"])[0] == 200  # per webhook
    assert len(receiver.requests) == 4


def test_test_sends_are_counted_in_any_minute_not_per_bucket(aws):
    limits = get_services().limits
    for second in (0, 1, 2):
        limits.take_within("TEST#wh_x", 3, 60, 1_000 + second, "three a minute")
    with pytest.raises(RateLimited) as refused:
        limits.take_within("TEST#wh_x", 3, 60, 1_030, "three a minute")  # a bucket would allow one by now
    assert refused.value.headers["Retry-After"] == "30"
    limits.take_within("TEST#wh_x", 3, 60, 1_060.5, "three a minute")  # the first has left the minute


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

"""A webhook's own rate limit (contract, section 14): the table-kept counter, the worker that waits
for it (the local run that keeps the promise at the receiver: tests/local/test_rate_limit.py)."""

import json
from collections import Counter

import pytest

from chalicelib.delivery.admission import Admission
from chalicelib.delivery.sender import Attempt
from chalicelib.services import get_services
from chalicelib.store.webhook_record import Webhook
from tests.helpers import most_in_any_window


FAST = Attempt(status_code=200, duration_ms=5, error=None, response="")


def a_webhook(rate_limit, webhook_id="wh_1"):
    return Webhook(webhook_id=webhook_id, level="event", owner_id="1", types=("activityEnrollment",), url="http://x",
                   normal_url="http://x", date="1", status="enabled", secrets=("whsec_x",), rate_limit=rate_limit)


class Requests:
    """Counts the DynamoDB requests a client makes, by operation, and by outcome."""

    def __init__(self, client):
        self.made = Counter()
        client.meta.events.register("before-parameter-build.dynamodb.*", self._count)

    def _count(self, model, params, **_):
        self.made[model.name] += 1
        if model.name == "UpdateItem" and params["Key"]["pk"]["S"].startswith("RATE#WH#"):
            self.made["rate counter"] += 1


def admission():
    services = get_services()
    return Admission(services.dynamodb, services.settings.table_name, services.webhooks)


def proven(admit, webhook):
    """A webhook this process has seen answer fast: it is not on probation (admission's share)."""
    admit.attempt(webhook, lambda: FAST)
    return webhook


def test_a_second_admits_rate_limit_attempts_then_holds_back_until_the_next(aws):
    with admission().batch() as admit:
        hook, other = proven(admit, a_webhook(2)), proven(admit, a_webhook(2, "wh_other"))
        assert [admit.hold_back(hook, 100.1), admit.hold_back(hook, 100.5)] == [None, None]
        assert admit.hold_back(hook, 100.75) == pytest.approx(0.25)
        assert admit.hold_back(other, 100.8) is None  # each webhook has its own
        assert admit.hold_back(hook, 101.0) is None


def test_a_webhook_without_a_limit_costs_no_request(aws):
    requests = Requests(get_services().dynamodb)
    with admission().batch() as admit:
        hook = proven(admit, a_webhook(None))
        assert all(admit.hold_back(hook, 100 + n / 1000) is None for n in range(1000))
    assert sum(requests.made.values()) == 0


def test_held_back_messages_wait_on_the_queue_use_no_attempt_and_keep_order(api, receiver, worker):
    services = get_services()
    requests = Requests(services.dynamodb)
    hook = api.create(receiver.url, rateLimit=1)
    sent = [api.dispatch(person_id="5521", activity_id=str(n))["messageID"] for n in range(4)]
    assert worker.run(until=lambda: len(receiver.successes()) == 4, timeout=40)
    got = receiver.successes()
    assert [r.headers["webhook-id"] for r in got] == sent
    assert [r.json()["sequence"] for r in got] == [1, 2, 3, 4]
    times = [r.at for r in got]
    assert most_in_any_window(times, 1) <= 2 and most_in_any_window(times, 2) <= 3  # (t + 1) x 1
    assert max(times) - min(times) > 2  # four places take four different seconds
    log = api.call("webhook.deliveries", webhookID=hook["webhookID"])[1]["data"]
    assert {m["status"] for m in log} == {"delivered"} and all(len(m["attempts"]) == 1 for m in log)
    assert requests.made["rate counter"] >= 4


# The promise on the local run: a receiver counts the attempts of every window.


def test_what_a_rate_limited_delivery_costs_beyond_an_unlimited_one(api, receiver, worker, aws):
    """The figures of docs/deploy.md: DynamoDB and SQS requests per delivery, with and without a limit."""
    services = get_services()
    dynamodb, sqs = Requests(services.dynamodb), Counter()
    services.sqs.meta.events.register("before-parameter-build.sqs.*", lambda model, **_: sqs.update([model.name]))
    made = {}
    for rate in (None, 2):
        dynamodb.made.clear()
        sqs.clear()
        api.create(receiver.url + f"/{rate}", event_id=f"cost{rate}", **({"rateLimit": rate} if rate else {}))
        before = len(receiver.successes())
        for n in range(10):
            api.dispatch(event_id=f"cost{rate}", person_id=f"p{n % 2}", activity_id=str(n))
        dynamodb.made.clear()  # the API's own requests are the same either way
        sqs.clear()
        assert worker.run(until=lambda: len(receiver.successes()) == before + 10, timeout=60)
        made[rate] = {"dynamodb": dict(dynamodb.made), "sqs": dict(sqs)}
    print(json.dumps(made))
    assert made[None]["dynamodb"].get("rate counter", 0) == 0
    assert made[2]["dynamodb"]["rate counter"] >= 10  # a place for each of the 10 attempts, and the refusals

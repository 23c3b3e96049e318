"""Fair sharing's admission hook (chalicelib.delivery.fair_share), against moto's DynamoDB: a slow or
failing webhook is marked and held to its share of batches, a quiet one costs no request, a
killed worker's lease ends by itself, and a webhook leaves its share when it is fast again."""

import time

import pytest

from chalicelib.delivery.fair_share import FairShare
from chalicelib.delivery.sender import Attempt
from chalicelib.services import get_services

FAST = Attempt(status_code=200, duration_ms=20, error=None, response="")
SLOW = Attempt(status_code=200, duration_ms=2000, error=None, response="")
TIMED_OUT = Attempt(status_code=None, duration_ms=10_000, error="timed out after 10 s", response="")


class Requests:
    """Counts the DynamoDB requests a client makes (botocore's own event hooks)."""

    def __init__(self, client):
        self.made = []
        client.meta.events.register("before-call.dynamodb.*", lambda model, **_: self.made.append(model.name))


@pytest.fixture
def services(api):
    return get_services()


@pytest.fixture
def make_webhook(api, services):
    def make(url="http://127.0.0.1:9/hook", event_id="1234"):
        return services.webhooks.get(api.create(url, event_id=event_id)["webhookID"])
    return make


def fair(services, batches=2, timeout_seconds=10.0):
    return FairShare(services.dynamodb, services.settings.table_name, services.webhooks, batches=batches,
                     timeout_seconds=timeout_seconds)


class Batch:
    """Stands for the worker's batch: admission only needs it to tell batches apart."""


def read(services, webhook):
    return services.webhooks.get(webhook.webhook_id)


def test_a_webhook_that_is_not_held_costs_no_request(services, make_webhook):
    webhook = make_webhook()
    share = fair(services)
    requests = Requests(services.dynamodb)
    batch = Batch()
    for _ in range(10):
        assert share.admit(webhook, time.time(), batch) is None
        share.done(webhook, FAST, batch)
    assert requests.made == []


def test_a_slow_attempt_marks_the_webhook_and_a_fast_one_clears_it(services, make_webhook):
    webhook = make_webhook()
    share = fair(services)
    share.admit(webhook, time.time(), Batch())
    share.done(webhook, SLOW, None)
    held = read(services, webhook)
    assert held.held_since_ms is not None and held.held_reason.startswith("slow: an attempt took 2.0 s")
    batch = Batch()
    assert share.admit(held, time.time(), batch) is None  # its share has room
    share.done(held, FAST, batch)
    assert read(services, webhook).held_since_ms is None
    assert fair(services).mark_of(read(services, webhook)) is None


def test_a_failing_attempt_marks_the_webhook_with_its_error(services, make_webhook):
    webhook = make_webhook()
    fair(services).done(webhook, TIMED_OUT, None)
    assert read(services, webhook).held_reason == "failing: timed out after 10 s after 10.0 s"


def test_a_held_webhook_runs_in_its_share_of_batches_and_the_rest_waits_its_turn(services, make_webhook):
    webhook = make_webhook()
    fair(services).done(webhook, SLOW, None)
    webhook = read(services, webhook)
    share, other_instance = fair(services), fair(services)
    now = time.time()
    first, second, third = Batch(), Batch(), Batch()
    assert share.admit(webhook, now, first) is None
    assert share.admit(webhook, now, first) is None  # the same batch's next message: the same lease
    assert other_instance.admit(webhook, now, second) is None
    wait = other_instance.admit(webhook, now, third)
    assert wait is not None and wait >= 1
    requests = Requests(services.dynamodb)
    assert other_instance.admit(webhook, now, third) == wait  # the batch's others follow it, no request
    assert requests.made == []
    share.done(webhook, SLOW, first)
    fourth, fifth = Batch(), Batch()
    assert fair(services).admit(webhook, now, fourth) is not None  # one message of ``first`` still runs
    share.done(webhook, SLOW, first)
    assert fair(services).admit(webhook, now, fifth) is None  # its lease was given back


def test_turns_grow_with_the_backlog(services, make_webhook):
    webhook = make_webhook()
    fair(services).done(webhook, SLOW, None)  # 2 s attempts, 2 batches at once: a turn each second
    webhook = read(services, webhook)
    share = fair(services)
    now = time.time()
    batches = [Batch() for _ in range(8)]  # kept, as the worker keeps a batch until it is over
    assert share.admit(webhook, now, batches[0]) is None and share.admit(webhook, now, batches[1]) is None
    waits = [fair(services).admit(webhook, now, batch) for batch in batches[2:]]
    assert waits == [1, 2, 3, 4, 5, 6]
    later = Batch()
    assert fair(services).admit(webhook, now + 8, later) == 1  # those turns are over; the leases are not


def test_a_killed_workers_lease_ends_after_the_delivery_timeout(services, make_webhook):
    webhook = make_webhook()
    fair(services).done(webhook, SLOW, None)
    webhook = read(services, webhook)
    now = time.time()
    killed = fair(services, batches=1, timeout_seconds=10)
    assert killed.admit(webhook, now, Batch()) is None  # and it never says it is done
    assert fair(services, batches=1).admit(webhook, now + 10, Batch()) is not None
    assert fair(services, batches=1).admit(webhook, now + 16, Batch()) is None


def test_stats_show_when_and_why_a_webhook_is_held(api, services, make_webhook):
    webhook = make_webhook()
    status, stats = api.call("webhook.stats", http="GET", webhookID=webhook.webhook_id)
    assert status == 200 and stats["heldToShare"] is None
    fair(services).done(webhook, SLOW, None)
    status, stats = api.call("webhook.stats", http="GET", webhookID=webhook.webhook_id)
    assert stats["heldToShare"]["reason"] == "slow: an attempt took 2.0 s"
    assert abs(int(stats["heldToShare"]["since"]) - time.time()) < 60

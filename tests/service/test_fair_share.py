"""An organizer's share of the delivery capacity (contract, section 16), as admission
(chalicelib.delivery.admission) keeps it against moto's DynamoDB: a slow or failing webhook is
marked, from the first second of a slow attempt, and its organizer held to a share of batches; a
webhook proven fast costs no request; a killed worker's lease ends by itself; a webhook leaves
its share when it is fast again; a process's batches wait while an unknown endpoint shows itself."""

import threading
import time

import pytest

from chalicelib.delivery.admission import SLOW_MS, Admission
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


def fair(services, share=2, timeout_seconds=10.0):
    """An instance's admission (each one stands for a Lambda instance, or the local worker)."""
    return Admission(services.dynamodb, services.settings.table_name, services.webhooks, share=share,
                     timeout_seconds=timeout_seconds)


def read(services, webhook):
    return services.webhooks.get(webhook.webhook_id)


def marked(services, webhook, attempt=SLOW):
    """The webhook after an attempt like ``attempt`` marked it."""
    with fair(services).batch() as admit:
        admit.attempt(webhook, lambda: attempt)
    return read(services, webhook)


def test_a_webhook_proven_fast_costs_no_request(services, make_webhook):
    webhook = make_webhook()
    share = fair(services)
    requests = Requests(services.dynamodb)
    for _ in range(10):
        with share.batch([webhook]) as admit:
            assert admit.hold_back(webhook, time.time()) is None
            admit.attempt(webhook, lambda: FAST)
    assert requests.made == []


def test_a_slow_attempt_marks_the_webhook_and_a_fast_one_clears_it(services, make_webhook):
    held = marked(services, make_webhook())
    assert held.held_since_ms is not None and held.held_reason.startswith("slow: an attempt took 2.0 s")
    with fair(services).batch([held]) as admit:
        assert admit.hold_back(held, time.time()) is None  # its share has room
        admit.attempt(held, lambda: FAST)
    assert read(services, held).held_since_ms is None
    assert fair(services).mark_of(read(services, held)) is None


def test_a_failing_attempt_marks_the_webhook_with_its_error(services, make_webhook):
    assert marked(services, make_webhook(), TIMED_OUT).held_reason == "failing: timed out after 10 s after 10.0 s"


def test_an_attempt_still_running_after_a_second_marks_its_webhook_for_every_instance(services, make_webhook):
    """Held from the first second of a slow attempt, also when the endpoint never answers: while
    the attempt runs, another instance reading the webhook finds it held."""
    webhook = make_webhook()
    seen = {}

    def endpoint_that_does_not_answer():
        started = time.monotonic()
        while time.monotonic() - started < 5 and "since" not in seen:
            held = read(services, webhook).held_since_ms
            if held is not None:
                seen["since"], seen["after"] = held, time.monotonic() - started
            time.sleep(0.05)
        return TIMED_OUT

    with fair(services).batch([webhook]) as admit:
        admit.attempt(webhook, endpoint_that_does_not_answer)
    assert SLOW_MS / 1000 <= seen["after"] < 3, seen
    assert read(services, webhook).held_reason == "slow: an attempt has run 1 s without an answer"


def test_a_held_organizer_runs_in_its_share_of_batches_and_the_rest_waits_its_turn(services, make_webhook):
    webhook = marked(services, make_webhook())
    share, other_instance = fair(services), fair(services)
    now = time.time()
    with share.batch([webhook] * 2) as first, other_instance.batch([webhook]) as second:
        assert first.hold_back(webhook, now) is None
        assert first.hold_back(webhook, now) is None  # the same batch's next message: the same lease
        assert second.hold_back(webhook, now) is None
        with other_instance.batch([webhook]) as third:
            wait = third.hold_back(webhook, now)
            assert wait is not None and wait >= 1
            requests = Requests(services.dynamodb)
            assert third.hold_back(webhook, now) == wait  # the batch's others follow it, no request
            assert requests.made == []
        with fair(services).batch([webhook]) as fourth:
            assert fourth.hold_back(webhook, now) is not None  # ``first`` still runs
    with fair(services).batch([webhook]) as fifth:
        assert fifth.hold_back(webhook, now) is None  # the leases went back with their batches


def test_an_organizers_slow_webhooks_together_take_one_share(services, make_webhook):
    """Section 16, fourth round: the share is the event's, not each webhook's."""
    slow = [marked(services, make_webhook(f"http://127.0.0.1:9/hook{n}")) for n in range(3)]
    elsewhere = marked(services, make_webhook("http://127.0.0.1:9/other", event_id="other-event"))
    now = time.time()
    with fair(services).batch(slow[:1]) as a, fair(services).batch(slow[1:2]) as b:
        assert a.hold_back(slow[0], now) is None and b.hold_back(slow[1], now) is None
        with fair(services).batch(slow[2:]) as c, fair(services).batch([elsewhere]) as d:
            assert c.hold_back(slow[2], now) is not None  # a third webhook of the event waits its turn
            assert d.hold_back(elsewhere, now) is None  # another event's share is its own


def test_turns_grow_with_the_backlog(services, make_webhook):
    webhook = marked(services, make_webhook())  # 2 s attempts, 2 batches at once: a turn each second
    now = time.time()
    with fair(services).batch([webhook] * 10) as one, fair(services).batch([webhook] * 10) as two:
        assert one.hold_back(webhook, now) is None and two.hold_back(webhook, now) is None
        waits = []
        for _ in range(6):
            with fair(services).batch([webhook] * 10) as turned:
                waits.append(turned.hold_back(webhook, now))
        assert waits == [1, 2, 3, 4, 5, 6]
        with fair(services).batch([webhook] * 10) as later:
            assert later.hold_back(webhook, now + 8) == 1  # those turns are over; the leases are not


def test_a_killed_workers_lease_ends_after_the_delivery_timeout(services, make_webhook):
    webhook = marked(services, make_webhook())
    now = time.time()
    killed = fair(services, share=1, timeout_seconds=10).batch([webhook])
    assert killed.__enter__().hold_back(webhook, now) is None  # and it never says it is done
    with fair(services, share=1).batch([webhook]) as soon:
        assert soon.hold_back(webhook, now + 10) is not None
    with fair(services, share=1).batch([webhook]) as later:
        assert later.hold_back(webhook, now + 16) is None


def test_a_processs_batches_wait_while_an_unknown_endpoint_shows_whether_it_is_fast(services, make_webhook):
    """Probation: at most the share of one process's batches attempt an organizer's endpoint it
    has not seen answer; a third waits, and goes as soon as one of them answers fast."""
    webhook = make_webhook()
    share = fair(services)
    went = []
    with share.batch([webhook]) as one, share.batch([webhook]) as two, share.batch([webhook]) as three:
        assert one.hold_back(webhook, time.time()) is None and two.hold_back(webhook, time.time()) is None
        waiting = threading.Thread(target=lambda: went.append((three.hold_back(webhook, time.time()), time.monotonic())))
        waiting.start()
        time.sleep(0.3)
        assert went == []  # it waits
        answered_at = time.monotonic()
        one.attempt(webhook, lambda: FAST)
        waiting.join(2)
    assert went[0][0] is None and went[0][1] - answered_at < 0.2


def test_a_waiting_batch_is_held_back_once_the_unknown_endpoint_proves_slow(services, make_webhook):
    webhook = make_webhook()
    share = fair(services, share=1)
    now = time.time()
    with share.batch([webhook]) as one, share.batch([webhook]) as two:
        assert one.hold_back(webhook, now) is None
        probe = threading.Thread(target=one.attempt, args=(webhook, lambda: time.sleep(2) or SLOW))
        probe.start()
        started = time.monotonic()
        assert two.hold_back(webhook, now) >= 1  # held back: the probe took the event's share, and is not fast
        assert time.monotonic() - started < 1.8  # decided long before the attempt's end
        probe.join()


def test_stats_show_when_and_why_a_webhook_is_held(api, services, make_webhook):
    webhook = make_webhook()
    status, stats = api.call("webhook.stats", http="GET", webhookID=webhook.webhook_id)
    assert status == 200 and stats["heldToShare"] is None
    marked(services, webhook)
    status, stats = api.call("webhook.stats", http="GET", webhookID=webhook.webhook_id)
    assert stats["heldToShare"]["reason"] == "slow: an attempt took 2.0 s"
    assert abs(int(stats["heldToShare"]["since"]) - time.time()) < 60

"""A webhook's own rate limit (contract, section 14) on the local run, where the promise is kept at
the receiver: at most (t + 1) times the rate in any window of t seconds, every message delivered at
its first attempt, in order (the counter and the worker in process: tests/service/test_webhook_rates.py)."""

import itertools
import json
from collections import defaultdict

import pytest

from dev.receiver import Receiver
from tests.helpers import ADMIN, most_in_any_window


@pytest.mark.timing  # times against the same run: parallel load disturbs them
def test_the_local_run_starts_at_most_t_plus_1_times_the_rate_in_any_window_of_t_seconds(start_local_service):
    service = start_local_service(LOCAL_WORKER_CONCURRENCY="4")
    service.wait_ready()
    rate, persons, per_person = 2, 4, 5
    with Receiver() as receiver:
        status, hook = service.call("webhook.create", ADMIN, eventID="7", type="activityEnrollment", url=receiver.url,
                                    rateLimit=rate)
        assert status == 201 and hook["rateLimit"] == rate
        order = defaultdict(list)
        for n, person in itertools.product(range(per_person), range(persons)):
            status, sent = service.call("webhook.dispatch", ADMIN, type="activityEnrollment", eventID="7",
                                        activityID=str(n), personID=f"p{person}")
            assert status == 202
            order[f"p{person}"].append(sent["messageID"])
        got = receiver.wait_for(persons * per_person, successes=True, timeout=90)
    times = [r.at for r in receiver.requests]
    for seconds in (1, 2, 3, 5):
        assert most_in_any_window(times, seconds) <= (seconds + 1) * rate, seconds
    assert len(receiver.requests) == persons * per_person  # every one delivered at its first attempt
    for person, messages in order.items():
        mine = [r for r in got if r.json()["data"]["personID"] == person]
        assert [r.headers["webhook-id"] for r in mine] == messages
        assert [r.json()["sequence"] for r in mine] == list(range(1, per_person + 1))
    status, log = service.call("webhook.deliveries", ADMIN, webhookID=hook["webhookID"], limit=200)
    assert {m["status"] for m in log["data"]} == {"delivered"} and log["count"] == persons * per_person
    assert all(len(m["attempts"]) == 1 for m in log["data"])
    # It was held back: 20 messages at 2 a second take about 9 seconds or more.
    assert max(times) - min(times) >= (persons * per_person) / rate - 2
    print(json.dumps({"spanSeconds": round(max(times) - min(times), 1),
                      "mostPerSecond": most_in_any_window(times, 1)}))

"""Contract section 13, on the local run: the worker killed with SIGKILL while it delivers, at
moments spread over the run and right after a POST answered 2xx (before its record), and every
promise checked from what the receiver got and from webhook.deliveries (dev/chaos.py; `make
chaos` runs a larger one). The webhooks take several types and each person's events come of
those types in turn, so order and sequence are checked across a webhook's types (section 17). On plain moto (LOCAL_MOTO_CORRECTIONS=off) it fails: moto hands a
group's timed-out messages out of order."""

from dev import chaos


def test_a_worker_killed_at_any_moment_keeps_every_promise_of_section_13():
    figures = chaos.run(people=6, events=90, webhooks=2, after_2xx=3, kills=2, timeout=90)
    report = "\n".join(figures.lines() + figures.details[:10])
    assert figures.kills >= 4, report  # the kills happened, the hook's among them
    assert figures.delivered == figures.expected == 180 and figures.lost == 0, report  # nothing lost
    assert figures.sequence_changes == 0, report  # a re-send keeps its webhook-id, body and sequence
    assert figures.order_breaks == 0, report  # a person's messages reach each webhook in order
    assert figures.sequence_gaps == 0 and figures.sequence_reuses == 0, report  # 1, 2, 3...
    # Re-sent after a 2xx only what a dying worker held: the hook's kills make at least one each.
    assert 3 <= figures.resends_after_2xx <= figures.kills * 10, report

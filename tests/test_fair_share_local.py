"""Section 16 on the local run, at a smaller size than ``make neighbour``: a quiet webhook's
deliveries beside a slow webhook's backlog arrive about as fast as they do alone, and the slow
webhook's messages all arrive, in order, none failed, each with one attempt."""

from dev.neighbour import measure


def test_a_quiet_webhook_is_not_held_up_by_a_slow_ones_backlog():
    figures = measure(slow_count=160, slow_seconds=3.0, quiet_count=20, slow_timeout=240)
    alone, beside = figures["alone"], figures["beside"]
    assert beside["arrived"] == alone["arrived"] == 20
    # Contract 16 allows 1 s at the median and 4 s at most at full size; make neighbour measures
    # that (2026-12-03: median 0.010 s, max 0.026 s beside the slow one, its 400 dispatched in
    # 6.9 s). This smaller run dispatches its 160 in under 2 s, so the quiet ones come while the
    # first batches of slow messages are still out: the share starts once an attempt has run
    # 1 s (FairShare._running_long), and the batches that the pollers took before that hold them
    # until their 3 s attempts end. So it measures a median of 1.4 to 1.7 s beside the slow
    # webhook on a quiet 2-core machine and 2.0 s under CI's own load; the margins (4 s, 8 s)
    # are for that, and still far below what the quiet messages wait without the share, behind
    # the whole backlog (tens of seconds).
    assert beside["median"] <= alone["median"] + 4.0, figures
    assert beside["max"] <= alone["max"] + 8.0, figures
    assert figures["slow_arrived"] == 160 and figures["slow_delivered"] == 160, figures
    assert figures["slow_failed"] == 0 and figures["slow_attempts"] == 160, figures
    assert figures["slow_in_order"], figures
    assert figures["held"]["reason"].startswith("slow: an attempt took 3."), figures

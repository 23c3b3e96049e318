"""``make neighbour``: a quiet webhook beside a slow one, on the local run (contract, section 16).

One event's webhook gets ``slow_count`` messages (one person each) to a loopback endpoint that
answers in ``slow_seconds``; right after, another event's webhook, whose endpoint answers at
once, gets ``quiet_count`` messages, one every ``interval`` seconds. Printed: the quiet
webhook's latency from ``webhook.dispatch``'s 202 to arrival (median and max), alone and beside
the slow one, and their ratio; and that the slow webhook's messages all arrived, in order, none
failed, each with one attempt (holding one back uses none).
"""

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def measure(slow_count=400, slow_seconds=2.0, quiet_count=40, interval=0.05, settings=None, slow_timeout=600):
    """Run the measurement on a fresh local run; return its figures as a dict."""
    from dev.local_service import start_local_service
    from dev.receiver import Receiver

    service = start_local_service({"DELIVERY_TIMEOUT_SECONDS": "10", "RETRY_SCHEDULE": "0s,5s,5m,30m,2h,5h,10h,10h",
                                   "LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING",
                                   "POWERTOOLS_METRICS_DISABLED": "true", **(settings or {})})
    try:
        service.wait_ready()
        with Receiver(check_schema=False) as slow, Receiver(check_schema=False) as quiet:
            slow.answer((200, slow_seconds))
            slow_hook = _create(service, "neighbour-slow", slow.url)
            quiet_hook = _create(service, "neighbour-quiet", quiet.url)
            alone = _quiet_run(service, quiet, quiet_count, interval, "alone")
            _say(f"alone: {alone}")
            started = time.time()
            with ThreadPoolExecutor(4) as pool:  # the platform reports 400 enrollments, quickly
                list(pool.map(lambda n: _dispatch(service, "neighbour-slow", f"p{n}"), range(slow_count)))
            dispatched = time.time() - started
            held = {}
            watcher = threading.Thread(target=_watch_held, args=(service, slow_hook, held), daemon=True)
            watcher.start()
            _say(f"{slow_count} slow messages dispatched in {dispatched:.1f} s")
            beside = _quiet_run(service, quiet, quiet_count, interval, "beside")
            _say(f"beside: {beside}")
            arrived = slow.wait_for(slow_count, timeout=slow_timeout, successes=True)
            slow_done = time.time() - started
            held["stop"] = True
            check = _check_slow(service, slow_hook, slow, slow_count)
    finally:
        service.stop()
    return {"alone": alone, "beside": beside, "ratio_median": beside["median"] / max(alone["median"], 1e-3),
            "ratio_max": beside["max"] / max(alone["max"], 1e-3), "slow_arrived": len(arrived),
            "slow_seconds_total": slow_done, "dispatch_seconds": dispatched, "held": held.get("seen"), **check,
            "slow_count": slow_count, "slow_answer_seconds": slow_seconds, "quiet_count": quiet_count}


def _say(text):
    print(text, file=sys.stderr, flush=True)


def _create(service, event_id, url):
    status, body = service.call("webhook.create", service.token, eventID=event_id, type="activityEnrollment", url=url)
    assert status == 201, body
    return body["webhookID"]


def _dispatch(service, event_id, person):
    status, body = service.call("webhook.dispatch", service.token, type="activityEnrollment", eventID=event_id,
                                activityID="1", personID=person)
    assert status == 202, body
    return body["messageID"], time.time()


def _quiet_run(service, receiver, count, interval, tag):
    """Dispatch ``count`` quiet messages, one every ``interval`` s; their latencies, 202 to arrival."""
    began, answered = time.time(), {}
    for n in range(count):
        time.sleep(max(0.0, began + n * interval - time.time()))
        message_id, at = _dispatch(service, "neighbour-quiet", f"{tag}{n}")
        answered[message_id] = at
    deadline = time.time() + 120
    while time.time() < deadline:
        arrived = {r.headers["webhook-id"]: r.at for r in list(receiver.requests)}
        if all(m in arrived for m in answered):
            break
        time.sleep(0.05)
    latencies = sorted(max(0.0, arrived[m] - at) for m, at in answered.items() if m in arrived)
    return {"median": statistics.median(latencies) if latencies else float("inf"),
            "max": latencies[-1] if latencies else float("inf"), "arrived": len(latencies), "count": count}


def _watch_held(service, webhook_id, held):
    """Note the first ``heldToShare`` that ``webhook.stats`` shows for the slow webhook."""
    while "stop" not in held and "seen" not in held:
        status, stats = service.call("webhook.stats", service.token, webhookID=webhook_id)
        if status == 200 and stats.get("heldToShare"):
            held["seen"] = stats["heldToShare"]
        time.sleep(0.5)


def _all_records(service, webhook_id):
    records, cursor = [], None
    while True:
        params = {"webhookID": webhook_id, "limit": 200, **({"cursor": cursor} if cursor else {})}
        status, page = service.call("webhook.deliveries", service.token, **params)
        assert status == 200, page
        records += page["data"]
        cursor = page["cursor"]
        if not cursor:
            return records


def _check_slow(service, webhook_id, receiver, count):
    """Every message to the slow webhook delivered, none failed, each with one attempt, and each
    person's sequence 1 (holding back used no attempt and no sequence number)."""
    # A record is written just after its endpoint answers: the last ones may still be on their way.
    deadline = time.monotonic() + 10
    while True:
        records = _all_records(service, webhook_id)
        finished = sum(r["status"] in ("delivered", "failed") for r in records)
        if finished >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    bodies = [r.json() for r in receiver.successes()]
    people = {}
    for body in bodies:
        people.setdefault(body["data"]["personID"], []).append(body["sequence"])
    return {
        "slow_delivered": sum(r["status"] == "delivered" for r in records),
        "slow_failed": sum(r["status"] == "failed" for r in records),
        "slow_attempts": sum(len(r["attempts"]) for r in records),
        "slow_in_order": len(people) == count and all(seqs[0] == 1 and seqs == sorted(seqs) for seqs in people.values()),
    }


def report(figures):
    """The figures as text, for the terminal and docs/benchmarks.md."""
    a, b = figures["alone"], figures["beside"]
    return "\n".join([
        f"quiet webhook, {b['count']} messages one every 50 ms, latency from 202 to arrival:",
        f"  alone:                 median {a['median']:.3f} s, max {a['max']:.3f} s ({a['arrived']}/{a['count']} arrived)",
        f"  beside the slow one:   median {b['median']:.3f} s, max {b['max']:.3f} s ({b['arrived']}/{b['count']} arrived)",
        f"  ratio beside/alone:    median {figures['ratio_median']:.1f}x, max {figures['ratio_max']:.1f}x",
        f"slow webhook, {figures['slow_count']} messages (one person each) to an endpoint answering in "
        f"{figures['slow_answer_seconds']:g} s (dispatched in {figures['dispatch_seconds']:.1f} s):",
        f"  arrived {figures['slow_arrived']}/{figures['slow_count']} within {figures['slow_seconds_total']:.0f} s; "
        f"delivered {figures['slow_delivered']}, failed {figures['slow_failed']}, attempts {figures['slow_attempts']}, "
        f"in order: {'yes' if figures['slow_in_order'] else 'NO'}",
        f"  held to its share: {figures['held']}",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.neighbour", description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=400, help="messages to the slow webhook (default 400)")
    parser.add_argument("--slow-seconds", type=float, default=2.0, help="how long the slow endpoint takes (2)")
    parser.add_argument("--quiet", type=int, default=40, help="messages to the quiet webhook (40)")
    args = parser.parse_args(argv)
    figures = measure(args.slow, args.slow_seconds, args.quiet)
    print(report(figures))
    b = figures["beside"]
    promise = b["median"] <= 1.0 and b["max"] <= 4.0
    print(f"section 16 (median <= 1 s, max <= 4 s beside the slow one): {'held' if promise else 'NOT held'}")


if __name__ == "__main__":
    main()

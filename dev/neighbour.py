"""``make neighbour``: a quiet webhook beside a slow organizer, on the local run (contract, section 16).

One event's webhooks (``slow_webhooks`` of them, each a path of one loopback endpoint) get
``slow_count`` messages in all (one person per platform event, each event reaching every one of
them) from an endpoint that answers in ``slow_seconds``, or never (``never_answers``: every
attempt ends at the 10 s delivery timeout); right after, another event's webhook, whose endpoint
answers at once, gets ``quiet_count`` messages, one every ``interval`` seconds. Printed: the
quiet webhook's latency from ``webhook.dispatch``'s 202 to arrival (median and max), alone and
beside the slow organizer, and their ratio; and, for an endpoint that answers, that the slow
messages all arrived, in order, none failed, each with one attempt (holding one back uses none).

``make neighbour`` runs the contract's three cases, each on a fresh local run: 400 messages to
a 2 s endpoint; 400 to an endpoint that never answers; one event's 720 messages over 12
webhooks to a 2.5 s endpoint.
"""

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


CASES = {  # name: (slow_count, slow_seconds, slow_webhooks, never_answers)
    "slow": (400, 2.0, 1, False),
    "never": (400, None, 1, True),
    "many": (720, 2.5, 12, False),
}


def measure(slow_count=400, slow_seconds=2.0, quiet_count=40, interval=0.05, settings=None, slow_timeout=600,
            slow_webhooks=1, never_answers=False):
    """Run the measurement on a fresh local run; return its figures as a dict."""
    from dev.local_service import start_local_service
    from dev.receiver import Receiver

    service = start_local_service({"DELIVERY_TIMEOUT_SECONDS": "10", "RETRY_SCHEDULE": "0s,5s,5m,30m,2h,5h,10h,10h",
                                   "LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING",
                                   "POWERTOOLS_METRICS_DISABLED": "true", **(settings or {})})
    events = slow_count // slow_webhooks
    try:
        service.wait_ready()
        with Receiver(check_schema=False) as slow, Receiver(check_schema=False) as quiet:
            slow.answer((200, 3600.0 if never_answers else slow_seconds))
            slow_hooks = [_create(service, "neighbour-slow", f"{slow.url}/{n}") for n in range(slow_webhooks)]
            _create(service, "neighbour-quiet", quiet.url)
            alone = _quiet_run(service, quiet, quiet_count, interval, "alone")
            _say(f"alone: {alone}")
            started = time.time()
            with ThreadPoolExecutor(4) as pool:  # the platform reports the enrollments, quickly
                list(pool.map(lambda n: _dispatch(service, "neighbour-slow", f"p{n}"), range(events)))
            dispatched = time.time() - started
            held = {}
            watcher = threading.Thread(target=_watch_held, args=(service, slow_hooks[0], held), daemon=True)
            watcher.start()
            _say(f"{events * slow_webhooks} slow messages dispatched in {dispatched:.1f} s")
            beside = _quiet_run(service, quiet, quiet_count, interval, "beside")
            _say(f"beside: {beside}")
            if never_answers:
                time.sleep(max(0.0, 3 - (time.time() - started)))  # the first attempts have run a second or more
                arrived, check = [], {"slow_attempts_so_far": len(slow.requests)}
            else:
                arrived = slow.wait_for(events * slow_webhooks, timeout=slow_timeout, successes=True)
                check = _check_slow(service, slow_hooks, slow, events)
            slow_done = time.time() - started
            held["stop"] = True
            watcher.join(2)
    finally:
        service.stop()
    return {"alone": alone, "beside": beside, "ratio_median": beside["median"] / max(alone["median"], 1e-3),
            "ratio_max": beside["max"] / max(alone["max"], 1e-3), "slow_arrived": len(arrived),
            "slow_seconds_total": slow_done, "dispatch_seconds": dispatched, "held": held.get("seen"), **check,
            "slow_count": events * slow_webhooks, "slow_webhooks": slow_webhooks,
            "slow_answer_seconds": None if never_answers else slow_seconds, "quiet_count": quiet_count}


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


def _check_slow(service, webhook_ids, receiver, events):
    """Every message to the slow webhooks delivered, none failed, each with one attempt, and each
    person's sequence 1 at each webhook (holding back used no attempt and no sequence number)."""
    # A record is written just after its endpoint answers: the last ones may still be on their way.
    count = events * len(webhook_ids)
    deadline = time.monotonic() + 10
    while True:
        records = [r for webhook_id in webhook_ids for r in _all_records(service, webhook_id)]
        finished = sum(r["status"] in ("delivered", "failed") for r in records)
        if finished >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    people = {}
    for request in receiver.successes():
        body = request.json()
        people.setdefault((request.path, body["data"]["personID"]), []).append(body["sequence"])
    return {
        "slow_delivered": sum(r["status"] == "delivered" for r in records),
        "slow_failed": sum(r["status"] == "failed" for r in records),
        "slow_attempts": sum(len(r["attempts"]) for r in records),
        "slow_in_order": len(people) == count and all(seqs[0] == 1 and seqs == sorted(seqs) for seqs in people.values()),
    }


def report(figures):
    """The figures as text, for the terminal and docs/benchmarks.md."""
    a, b = figures["alone"], figures["beside"]
    answer = ("never answers (every attempt ends at the 10 s timeout)" if figures["slow_answer_seconds"] is None
              else f"answers in {figures['slow_answer_seconds']:g} s")
    lines = [
        f"quiet webhook, {b['count']} messages one every 50 ms, latency from 202 to arrival:",
        f"  alone:                 median {a['median']:.3f} s, max {a['max']:.3f} s ({a['arrived']}/{a['count']} arrived)",
        f"  beside the slow one:   median {b['median']:.3f} s, max {b['max']:.3f} s ({b['arrived']}/{b['count']} arrived)",
        f"  ratio beside/alone:    median {figures['ratio_median']:.1f}x, max {figures['ratio_max']:.1f}x",
        f"slow organizer, {figures['slow_count']} messages over {figures['slow_webhooks']} webhook(s) (one person an "
        f"event) to an endpoint that {answer} (dispatched in {figures['dispatch_seconds']:.1f} s):",
    ]
    if figures["slow_answer_seconds"] is None:
        lines.append(f"  attempts begun in the first {figures['slow_seconds_total']:.0f} s: {figures['slow_attempts_so_far']}")
    else:
        lines.append(f"  arrived {figures['slow_arrived']}/{figures['slow_count']} within {figures['slow_seconds_total']:.0f} s; "
                     f"delivered {figures['slow_delivered']}, failed {figures['slow_failed']}, attempts "
                     f"{figures['slow_attempts']}, in order: {'yes' if figures['slow_in_order'] else 'NO'}")
    lines.append(f"  held to its share: {figures['held']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.neighbour", description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append",
                        help="slow (400 to a 2 s endpoint), never (400 to one that never answers), many (720 over "
                             "12 webhooks to a 2.5 s endpoint); repeat for several (default: all three)")
    parser.add_argument("--quiet", type=int, default=40, help="messages to the quiet webhook (40)")
    args = parser.parse_args(argv)
    held_all = True
    for name in args.case or ["slow", "never", "many"]:
        slow_count, slow_seconds, webhooks, never = CASES[name]
        print(f"== {name}", flush=True)
        figures = measure(slow_count, slow_seconds, args.quiet, slow_webhooks=webhooks, never_answers=never)
        print(report(figures))
        b = figures["beside"]
        promise = b["median"] <= 1.0 and b["max"] <= 4.0
        held_all &= promise
        print(f"section 16 (median <= 1 s, max <= 4 s beside the slow one): {'held' if promise else 'NOT held'}",
              flush=True)
    sys.exit(0 if held_all else 1)


if __name__ == "__main__":
    main()

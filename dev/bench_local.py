"""``make bench``'s figure 4: the local run (``make run``'s own processes) end to end, dispatch
over HTTP to arrival at a loopback receiver."""

import contextlib
import functools
import itertools
import math
import os
import pathlib
import statistics
import subprocess
import threading
import time


def bench_local_run(events=2000, webhooks=5, threads=8, rate=60, paced_runs=3, idle_seconds=10):
    """Figure 4: the local run (``make run``'s own processes) end to end, dispatch over HTTP to
    arrival at a loopback receiver. ``events`` offered evenly at ``rate`` events a second
    (``rate`` × ``webhooks`` deliveries a second), ``paced_runs`` times; then the same number as
    fast as ``threads`` dispatchers go, for the capacity; and the CPU an idle local run uses."""
    from dev.local_service import NOT_INHERITED, start_local_service
    from dev.receiver import Receiver

    service = start_local_service({"RETRY_SCHEDULE": "0s,1s", "LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING",
                                   "POWERTOOLS_METRICS_DISABLED": "true"},
                                  not_inherited=NOT_INHERITED + ("LOCAL_WORKER_CONCURRENCY",))
    try:
        service.wait_ready()
        # The schema is checked by the tests; here it would take CPU from the local run it measures.
        with Receiver(check_schema=False) as receiver:
            for n in range(webhooks):
                service.call("webhook.create", service.token, eventID="bench", type="activityEnrollment",
                             url=f"{receiver.url}/{n}")
            run = functools.partial(_offer, service, receiver, events, webhooks, threads)
            before = _cpu_by_process(service.process.pid)
            paced = [run(rate) for _ in range(paced_runs)]
            after = _cpu_by_process(service.process.pid)
            burst = run(None)
            burst_used = _cpu_by_process(service.process.pid)
            time.sleep(2)  # let the last deliveries settle
            idle_before = _cpu_by_process(service.process.pid)
            time.sleep(idle_seconds)
            idle_after = _cpu_by_process(service.process.pid)
    finally:
        service.stop()
    used = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    middle = {key: statistics.median(run[key] for run in paced) for key in paced[0]}
    in_burst = {name: burst_used.get(name, 0) - after.get(name, 0) for name in burst_used}
    paced_cpu = _per_delivery(used, 1)
    return {"paced": middle, "paced_runs": paced_runs, "rate": rate, "burst": burst, "threads": threads,
            "webhooks": webhooks, "events": events, "burst_cpu_ms": _per_delivery(in_burst, burst["deliveries"]),
            "moto_share": paced_cpu["moto servers"] / max(paced_cpu["all"], 1e-9),
            "idle_cpu": (sum(idle_after.values()) - sum(idle_before.values())) / idle_seconds}


def _offer(service, receiver, events, webhooks, threads, rate):
    """Dispatch ``events`` over HTTP, event n due at n / ``rate`` seconds (all at once if None),
    and wait for every delivery; the figures of that run. A paced event's latency counts from
    when it was due, so dispatchers falling behind could not hide a backlog."""
    sent_at, refused, lock, numbers = {}, [], threading.Lock(), itertools.count()
    already = len(receiver.successes())
    began = time.time()

    def dispatch():
        while (n := next(numbers)) < events and not refused:
            due = began + n / rate if rate else time.time()
            time.sleep(max(0.0, due - time.time()))
            try:
                status, body = service.call("webhook.dispatch", service.token, type="activityEnrollment",
                                            eventID="bench", activityID="1", personID=f"p{began}-{n}")
            except OSError as exc:
                status, body = None, str(exc)
            with lock:
                if status == 202:
                    sent_at[body["messageID"]] = due
                else:
                    refused.append((status, body))

    workers = [threading.Thread(target=dispatch) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if refused:
        raise SystemExit(f"the local run refused a dispatch: {refused[0]}")
    dispatched = time.time()
    receiver.wait_for(already + events * webhooks, successes=True, timeout=600)
    finished = time.time()
    arrivals = [r for r in receiver.successes()[already:] if r.headers["webhook-id"] in sent_at]
    if len({(r.path, r.headers["webhook-id"]) for r in arrivals}) != events * webhooks:
        raise SystemExit(f"{len(arrivals)} of {events * webhooks} deliveries arrived within 10 minutes")
    latencies = sorted((r.at - sent_at[r.headers["webhook-id"]]) * 1000 for r in arrivals)
    return {
        "deliveries": len(arrivals),
        "per_second": len(arrivals) / (finished - began),
        "dispatch_per_second": events / (dispatched - began),
        "p50_ms": latencies[len(latencies) // 2],
        "p99_ms": latencies[math.ceil(len(latencies) * 0.99) - 1],
    }


def _per_delivery(used, deliveries):
    """CPU milliseconds per delivery: all the local run's processes, and each kind of them."""
    kinds = {"worker": "dev.worker", "moto servers": "dev.moto_server", "API": "dev.api_server"}
    split = {kind: sum(v for k, v in used.items() if marker in k) * 1000 / deliveries for kind, marker in kinds.items()}
    return {"all": sum(used.values()) * 1000 / deliveries, **split}


def _cpu_by_process(parent_pid):
    """CPU seconds used so far by the local run's process and each of its children, by command."""
    used = {}
    listing = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(parent_pid)], capture_output=True, text=True)
    for line in listing.stdout.splitlines() + [f"{parent_pid} dev.run"]:
        pid, command = line.split(None, 1)
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[f"{pid} {command}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def bench_poll(messages=100, runs=7):
    """Section 18's figures on the local run: ``webhook.poll`` of ``messages`` messages (the first
    poll, which numbers them, and then the median of ``runs`` polls that return them again), beside
    ``webhook.deliveries`` of as many messages, of that pull webhook and of a push webhook that
    delivered as many, in the same run."""
    from dev.local_service import start_local_service
    from dev.receiver import Receiver

    service = start_local_service({"LOG_LEVEL": "WARNING", "POWERTOOLS_LOG_LEVEL": "WARNING",
                                   "POWERTOOLS_METRICS_DISABLED": "true"})

    def timed(name, **params):
        started = time.perf_counter()
        status, body = service.call(name, service.token, **params)
        if status != 200:
            raise SystemExit(f"{name} answered {status}: {body}")
        return time.perf_counter() - started, body

    try:
        service.wait_ready()
        with Receiver(check_schema=False) as receiver:
            _, pull = service.call("webhook.create", service.token, eventID="bench-poll", delivery="pull",
                                   types=["eventCheckIn"])
            _, push = service.call("webhook.create", service.token, eventID="bench-push", type="eventCheckIn",
                                   url=receiver.url)
            for person in range(messages):
                for event in ("bench-poll", "bench-push"):
                    service.call("webhook.dispatch", service.token, type="eventCheckIn", eventID=event,
                                 personID=str(person))
            receiver.wait_for(messages, timeout=120, successes=True)
            time.sleep(1)  # the last records are written
            first, answer = timed("webhook.poll", webhookID=pull["webhookID"], limit=messages)
            if len(answer["data"]) != messages:
                raise SystemExit(f"webhook.poll returned {len(answer['data'])} of {messages}")
            again = [timed("webhook.poll", webhookID=pull["webhookID"], limit=messages)[0] for _ in range(runs)]
            pull_log = [timed("webhook.deliveries", webhookID=pull["webhookID"], limit=messages)[0] for _ in range(runs)]
            push_log = [timed("webhook.deliveries", webhookID=push["webhookID"], limit=messages)[0] for _ in range(runs)]
    finally:
        service.stop()
    return {"messages": messages, "runs": runs, "first": first, "poll": statistics.median(again),
            "pull_log": statistics.median(pull_log), "push_log": statistics.median(push_log)}

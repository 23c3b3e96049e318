"""``make bench``: what the service costs and how fast it is, measured here and now.

Prints one table and writes it to docs/benchmarks.md with the date and the machine. Counts of
AWS requests are taken at the botocore level (every API call the service's clients make), on an
in-process moto backend; times are medians of several runs, with the floor measured in the same
run. No figure here is asserted by a test: the machines are shared and noisy.

    python -m dev.bench [--quick]
"""

import argparse
import contextlib
import datetime
import functools
import itertools
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter

ROOT = pathlib.Path(__file__).resolve().parent.parent
# us-east-1 on-demand prices (USD), late 2025.
PRICES = {
    "sqs_fifo_request": 0.50e-6,
    "dynamodb_wru": 0.625e-6,
    "dynamodb_rru": 0.125e-6,
    "lambda_request": 0.20e-6,
    "lambda_gb_second": 0.0000166667,
}


NOTES = """Figure 4 runs `make run`'s own processes (chalice's local server, the local worker calling
the app's Lambda handlers, two moto servers) and a loopback receiver, all on this machine: an
event goes in as a `webhook.dispatch` call and comes out as a signed POST to each webhook. The
paced runs give the latency at the target rate; the burst gives the capacity (a burst that
dispatches faster than the machine delivers waits in the queue, which is what its p50 shows).
In the paced runs the two moto servers, emulating AWS, used {moto_share:.0%} of the local run's CPU.
"""


class Counting:
    """Counts the AWS calls that the given boto3 clients make, by service and operation."""

    def __init__(self, *clients):
        self.calls = Counter()
        for client in clients:
            client.meta.events.register("before-call", self._count)

    def _count(self, model, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    @contextlib.contextmanager
    def measuring(self):
        self.calls.clear()
        yield self.calls


def in_process_stack():
    """Moto in this process, with the stack's resources; returns (services, created, receiver)."""
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    mock = mock_aws()
    mock.start()
    import boto3

    from chalicelib.services import get_services, reset_services
    from dev.resources import create_resources, service_environment

    created = create_resources(boto3.client("dynamodb"), boto3.client("sqs"))
    os.environ.update(service_environment(created))
    reset_services()
    return get_services(), created, mock


def webhooks_for(services, event_id, count, url):
    from chalicelib.ids import new_id, new_secret
    from chalicelib.webhook_store import Webhook

    for n in range(count):
        services.webhooks.create(Webhook(new_id("wh"), "event", event_id, "activityEnrollment", f"{url}/{n}",
                                         f"{url}/{n}", str(int(time.time())), "enabled", (new_secret(),)))


def drain(services, created):
    """Receive everything queued, as the event source would, and return the Lambda records."""
    import boto3

    from dev.worker import sqs_event

    sqs = boto3.client("sqs")
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=created["DeliveryQueue"]["url"], MaxNumberOfMessages=10,
                                  MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not got:
            return records
        records.append(sqs_event(got, "arn", "us-east-1")["Records"])
        sqs.delete_message_batch(QueueUrl=created["DeliveryQueue"]["url"],
                                 Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


def bench_requests(services, created, receiver_url):
    """Figures 1 and 2: AWS requests per dispatch, and per successful delivery."""
    import app as application

    counting = Counting(services.dynamodb, services.sqs)
    rows = {}
    for n in (1, 10, 100):
        event_id = f"bench-{n}"
        webhooks_for(services, event_id, n, receiver_url)
        envelope = {"version": "0", "id": f"e-{n}", "detail-type": "activityEnrollment", "source": "inevent.platform",
                    "account": "1", "time": "2026-11-27T20:00:00Z", "region": "us-east-1", "resources": [],
                    "detail": {"eventID": event_id, "activityID": "1", "personID": "p"}}
        with counting.measuring() as calls:
            application.platform_event(envelope, None)
        rows[n] = dict(calls)
        drain(services, created)
    # Per delivery: 10 people each sent one message to one webhook, delivered in full batches.
    webhooks_for(services, "bench-delivery", 1, receiver_url)
    envelope = {"version": "0", "detail-type": "activityEnrollment", "source": "inevent.platform", "account": "1",
                "time": "2026-11-27T20:00:00Z", "region": "us-east-1", "resources": []}
    for person in range(100):
        application.platform_event({**envelope, "id": f"d-{person}",
                                    "detail": {"eventID": "bench-delivery", "activityID": "1", "personID": str(person)}},
                                   None)
    batches = drain(services, created)
    with counting.measuring() as calls:
        failed = sum(len(services.worker.handle(batch)) for batch in batches)
    delivered = sum(len(batch) for batch in batches) - failed
    return rows, dict(calls), delivered, len(batches)


def bench_batch_latency(services, created, delay=0.2, runs=5):
    """Figure 3: one batch of 10 deliveries to an endpoint that takes ``delay`` to answer."""
    import app as application
    from dev.receiver import Receiver

    times = []
    with Receiver() as receiver:
        receiver.answer((200, delay))
        webhooks_for(services, "bench-slow", 1, receiver.url)
        envelope = {"version": "0", "detail-type": "activityEnrollment", "source": "inevent.platform", "account": "1",
                    "time": "2026-11-27T20:00:00Z", "region": "us-east-1", "resources": []}
        for run in range(runs):
            for person in range(10):
                application.platform_event({**envelope, "id": f"s-{run}-{person}",
                                            "detail": {"eventID": "bench-slow", "activityID": "1",
                                                       "personID": f"{run}-{person}"}}, None)
            (batch,) = drain(services, created)
            started = time.perf_counter()
            assert services.worker.handle(batch) == []
            times.append(time.perf_counter() - started)
    return statistics.median(times), times


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
        with Receiver() as receiver:
            for n in range(webhooks):
                service.call("webhook.create", service.token, eventID="bench", type="activityEnrollment",
                             url=f"{receiver.url}/{n}")
            run = functools.partial(_offer, service, receiver, events, webhooks, threads)
            before = _cpu_by_process(service.process.pid)
            paced = [run(rate) for _ in range(paced_runs)]
            after = _cpu_by_process(service.process.pid)
            burst = run(None)
            time.sleep(2)  # let the last deliveries settle
            idle_before = _cpu_by_process(service.process.pid)
            time.sleep(idle_seconds)
            idle_after = _cpu_by_process(service.process.pid)
    finally:
        service.stop()
    used = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    middle = {key: statistics.median(run[key] for run in paced) for key in paced[0]}
    return {"paced": middle, "paced_runs": paced_runs, "rate": rate, "burst": burst, "threads": threads,
            "webhooks": webhooks, "events": events,
            "moto_share": sum(v for k, v in used.items() if "dev.moto_server" in k) / max(sum(used.values()), 1e-9),
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


def import_time(module, runs=7):
    """Median seconds to import ``module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def package_size():
    subprocess.run([sys.executable, "-m", "dev.package", "--stage", "prod"], cwd=ROOT, check=True,
                   capture_output=True)
    return (ROOT / "build" / "package" / "deployment.zip").stat().st_size


def cost_per_million(delivery_calls, delivered, batches):
    per = {k: v / delivered for k, v in delivery_calls.items()}
    sqs_requests = 0.1 + 2 / 10  # fan-out SendMessageBatch, and the event source's receive and delete
    rru = 3  # webhook, record and counter, strongly consistent, under 4 KB each
    wru = 2  # the record (about 1 KB) and the counter
    lambda_requests = batches / delivered
    gb_seconds = lambda_requests * 0.5 * 0.3
    dollars = (sqs_requests * PRICES["sqs_fifo_request"] + rru * PRICES["dynamodb_rru"]
               + wru * PRICES["dynamodb_wru"] + lambda_requests * PRICES["lambda_request"]
               + gb_seconds * PRICES["lambda_gb_second"])
    return dollars * 1e6, per


def machine():
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.bench")
    parser.add_argument("--quick", action="store_true", help="500 events per local run instead of 2,000")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.INFO)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    from dev.receiver import Receiver

    services, created, mock = in_process_stack()
    with Receiver() as receiver:
        dispatch_rows, delivery_calls, delivered, batches = bench_requests(services, created, receiver.url)
    batch_median, batch_runs = bench_batch_latency(services, created)
    mock.stop()
    local = bench_local_run(events=500 if args.quick else 2000)
    app_import, boto3_import = import_time("app"), import_time("boto3")
    size = package_size()
    cost, per_delivery = cost_per_million(delivery_calls, delivered, batches)

    def calls(row):
        return ", ".join(f"{n} {op.split(':')[1]}" for op, n in sorted(row.items()))

    lines = [
        "| # | figure | measured | target |",
        "| --- | --- | --- | --- |",
    ]
    for n, row in dispatch_rows.items():
        target = f"1 Query + {math.ceil(n / 10)} SendMessageBatch"
        lines.append(f"| 1 | AWS requests per platform event, {n} matching webhook(s) | {calls(row)} | {target} |")
    lines.append("| 1 | the same over HTTP (`webhook.dispatch`) | the above, plus 1 GetItem for the token | |")
    ddb = sum(v for k, v in per_delivery.items() if k.startswith("dynamodb"))
    sqs = sum(v for k, v in per_delivery.items() if k.startswith("sqs"))
    lines.append(f"| 2 | AWS requests per successful delivery ({delivered} in {batches} batches) | "
                 f"DynamoDB {ddb:.2f} ({calls(delivery_calls)}); SQS {sqs:.2f} by the function | "
                 "at most 2 DynamoDB, no SQS beyond the event source |")
    lines.append(f"| 3 | a batch of 10 deliveries to an endpoint answering in 200 ms | "
                 f"{batch_median * 1000:.0f} ms median of {len(batch_runs)} = {batch_median / 0.2:.2f} × the floor | "
                 "at most 1.5 × 200 ms |")
    paced, burst, hooks = local["paced"], local["burst"], local["webhooks"]
    lines.append(f"| 4 | local run: {local['events']} events × {hooks} webhooks offered evenly at "
                 f"{local['rate'] * hooks} deliveries/s over HTTP (medians of {local['paced_runs']} runs) | "
                 f"all {paced['deliveries']:.0f} delivered; dispatched at {paced['dispatch_per_second'] * hooks:.0f}/s, "
                 f"delivered at {paced['per_second']:.0f}/s (first dispatch to last arrival); from when each "
                 f"event was due to its arrival p50 {paced['p50_ms']:.0f} ms, p99 {paced['p99_ms']:.0f} ms | "
                 "p50 < 100 ms at 300/s |")
    lines.append(f"| 4 | the same all at once ({burst['dispatch_per_second']:.0f} events/s from {local['threads']} "
                 f"dispatchers): capacity | {burst['per_second']:.0f} deliveries/s (p50 {burst['p50_ms'] / 1000:.1f} s, "
                 f"p99 {burst['p99_ms'] / 1000:.1f} s: the backlog of a burst faster than delivery) | ≥ 300/s |")
    lines.append(f"| 4 | the local run idle (API, worker long-polling, two moto servers) | "
                 f"{local['idle_cpu'] * 100:.1f}% of one core | |")
    lines.append(f"| 5 | cold start: importing `app` vs `boto3` alone (medians of 7) | "
                 f"{app_import * 1000:.0f} ms vs {boto3_import * 1000:.0f} ms: "
                 f"+{(app_import - boto3_import) * 1000:.0f} ms | at most +100 ms |")
    lines.append(f"| 5 | code package (deployment.zip) | {size / 1024:.0f} KiB | under 1 MiB |")
    lines.append(f"| 6 | cost per million deliveries on AWS (first attempt, full batches) | ${cost:.2f} "
                 "(plus $0.20 per million platform events for the fan-out, and the platform's own "
                 "EventBridge or API Gateway call) | |")
    table = "\n".join(lines)
    print(table)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (ROOT / "docs" / "benchmarks.md").write_text(
        "# Benchmarks\n\n"
        f"Measured by `make bench` on {stamp}, on {machine()}. Requests are counted at the botocore\n"
        "level on moto (figure 2's BatchWriteItem count depends on how many deliveries finish\n"
        "together); times vary with the machine's load. Cost uses us-east-1 on-demand\n"
        "prices; see docs/deploy.md for the arithmetic.\n\n" + table + "\n\n" + NOTES.format(moto_share=local["moto_share"])
    )


if __name__ == "__main__":
    main()

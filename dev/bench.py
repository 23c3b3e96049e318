"""``make bench``: what the service costs and how fast it is, measured here and now.

Prints one table and writes it to docs/benchmarks.md with the date and the machine. Counts of
AWS requests are taken at the botocore level (every API call the service's clients make), on an
in-process moto backend; times are medians of several runs, with the floor measured in the same
run; ratios measured in the same run (CPU against a floor, capacity against the emulator's
ceiling) are the figures to compare between machines. No figure here is asserted by a test: the
machines are shared and noisy.

    python -m dev.bench [--quick] [--events N] [...]     (make bench BENCH_ARGS=--quick)

The figures are taken by dev/bench_aws.py (in-process moto), dev/bench_emulator.py (the local
run's moto servers) and dev/bench_local.py (the local run end to end).
"""

import argparse
import contextlib
import datetime
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
# us-east-1 on-demand prices (USD), late 2025.
PRICES = {
    "sqs_fifo_request": 0.50e-6,
    "dynamodb_wru": 0.625e-6,
    "dynamodb_rru": 0.125e-6,
    "lambda_request": 0.20e-6,
    "lambda_gb_second": 0.0000166667,
}


NOTES = """Figure 1's fan-out at the most webhooks runs on moto in this process with the local moto
server's speed-ups (dev/moto_server.py, which change no answer: without them moto counts the
whole queue for every message sent), and {round_trip_ms:.0f} ms of simulated AWS round trip before
every request; "one batch after another" is the same fan-out with `BATCHES_AT_ONCE` set to 1.

Figure 2's CPU time is this process's (`time.process_time()`), the worker called as Lambda calls
it on batches received from the local run's moto servers, the receiver in a process of its own;
the floor signs the same bodies with the Standard Webhooks library and POSTs them with urllib3
on one kept-alive connection, one after another, each batch right after the worker has
delivered it, so that both are measured under the same load of the machine (measured apart,
all the worker's batches and then all the floor's POSTs in a tight loop, the floor came out
about a fifth cheaper, and the ratio moved with whatever else the machine did between the two).
The floor's bodies are built before it is timed; the worker builds its own. Before each of
the worker's batches, what this process holds for the bench (the requests it keeps to replay,
the API's test client) is frozen out of the garbage collector's way, outside the timing: a Lambda
holds none of the bench's objects, and a full collection that walks them cost the worker about
0.04 ms per delivery. Figure 4's ceiling sends the AWS requests counted for figure 2's
deliveries (dispatch over the API, the event source's receive and delete, the worker's reads and
writes) straight to the moto servers from {threads} threads, as many as the local run's
dispatchers and pollers. Machines differ a lot in the absolute figures; the ratios, measured in
the same run, are the ones to compare.

Figure 4 runs `make run`'s own processes (chalice's local server, the local worker calling
the app's Lambda handlers, two moto servers) and a loopback receiver, all on this machine: an
event goes in as a `webhook.dispatch` call and comes out as a signed POST to each webhook. The
paced runs give the latency at the target rate; the burst gives the capacity (a burst that
dispatches faster than the machine delivers waits in the queue, which is what its p50 shows).
In the paced runs the two moto servers, emulating AWS, used {moto_share:.0%} of the local run's CPU.
"""

POLLERS = 8  # the local worker's pollers (LOCAL_WORKER_CONCURRENCY's default)
QUICK = {"events": 300, "paced_runs": 1, "idle_seconds": 3, "fan_out_runs": 3, "cpu_events": 60,
         "ceiling_seconds": 3.0, "import_runs": 3, "poll_runs": 3}
FULL = {"events": 2000, "paced_runs": 3, "idle_seconds": 10, "fan_out_runs": 7, "cpu_events": 200,
        "ceiling_seconds": 10.0, "import_runs": 7, "poll_runs": 7}


def arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m dev.bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the bench itself (a few minutes)")
    parser.add_argument("--events", type=int, help="events per local run (2,000; quick 300)")
    parser.add_argument("--paced-runs", type=int, help="paced local runs (3; quick 1)")
    parser.add_argument("--idle-seconds", type=int, help="seconds the idle local run is watched (10; quick 3)")
    parser.add_argument("--fan-out-runs", type=int, help="runs of the fan-out at the most webhooks (7; quick 3)")
    parser.add_argument("--cpu-events", type=int, help="events (× 5 webhooks) for the CPU per delivery (200; quick 60)")
    parser.add_argument("--ceiling-seconds", type=float, help="seconds the emulator's ceiling is measured (10; quick 3)")
    parser.add_argument("--import-runs", type=int, help="fresh interpreters per import time (7; quick 3)")
    parser.add_argument("--poll-runs", type=int, help="polls and log pages timed on the local run (7; quick 3)")
    parser.add_argument("--threads", type=int, default=8, help="the local run's dispatchers (8)")
    parser.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md as it is (--quick does)")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None):
    args = arguments(argv)
    import logging

    logging.disable(logging.INFO)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    from dev import bench_aws, bench_emulator, bench_local
    from dev.receiver import Receiver

    where = f"{machine()}; load average {os.getloadavg()[0]:.1f} at the start"
    print(f"make bench on {where}{' (quick: sizes too small for the record)' if args.quick else ''}", flush=True)
    services, created, mock = bench_aws.in_process_stack()
    with Receiver() as receiver:
        dispatch_rows, delivery_calls, delivered, batches = bench_aws.bench_requests(services, created, receiver.url)
    dispatch_calls = bench_aws.bench_dispatch_requests(services, created)
    batch_median, batch_runs = bench_aws.bench_batch_latency(services, created)
    pages = bench_aws.bench_log_page_reads(services)
    bench_aws.quicker_moto()
    most = bench_aws.bench_fan_out_at_most(services, created, runs=args.fan_out_runs)
    mixed = bench_aws.bench_fan_out_at_most(services, created, runs=args.fan_out_runs, mixed=True)
    limits = bench_aws.bench_listing_at_the_limits(services)
    pulled = bench_aws.bench_pull_requests(services)
    edge = bench_unauthenticated()
    mock.stop()
    chunks = bench_chunked_bodies()
    with bench_emulator.moto_servers():
        cpu = bench_emulator.bench_worker_cpu(events=args.cpu_events)
        ceiling = bench_emulator.bench_emulator_ceiling(cpu["kept"], cpu["deliveries"], threads=args.threads + POLLERS,
                                                        seconds=args.ceiling_seconds)
    local = bench_local.bench_local_run(events=args.events, threads=args.threads, paced_runs=args.paced_runs,
                                        idle_seconds=args.idle_seconds)
    polls = bench_local.bench_poll(runs=args.poll_runs)
    size = package_size()
    with tempfile.TemporaryDirectory() as code:  # the code package as Lambda unpacks it, bytecode and all
        with zipfile.ZipFile(ROOT / "build" / "package" / "deployment.zip") as archive:
            archive.extractall(code)
        app_import = import_time("app", args.import_runs, cwd=code)
        keys = bench_ed25519(args.import_runs, cwd=code)
    boto3_import = import_time("boto3", args.import_runs)
    cost, per_delivery = cost_per_million(delivery_calls, delivered, batches)
    table = figures_table(dispatch_rows, dispatch_calls, most, delivery_calls, per_delivery, delivered, batches, cpu,
                          batch_median, batch_runs, local, ceiling, app_import, boto3_import, size, cost, args, edge,
                          mixed, limits, pulled, polls, keys, chunks, pages)
    print(table)
    if args.no_write or args.quick:  # quick figures are too small for the record
        print("docs/benchmarks.md left as it was", "(quick mode)" if args.quick else "")
        return
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path = ROOT / "docs" / "benchmarks.md"
    # The sections after this run's own (## ...: make neighbour's, written by hand) are kept.
    _, heading, rest = path.read_text().partition("\n## ") if path.exists() else ("", "", "")
    path.write_text(
        "# Benchmarks\n\n"
        f"Measured by `make bench` on {stamp}, on {where}.\n"
        "Requests are counted at the botocore level on moto; times vary with the machine's load. Cost uses\n"
        "us-east-1 on-demand prices; see docs/deploy.md for the arithmetic.\n\n" + table + "\n\n"
        + NOTES.format(moto_share=local["moto_share"], round_trip_ms=most["round_trip"] * 1000,
                       threads=args.threads + POLLERS)
        + heading + rest
    )


def bench_unauthenticated():
    """The worst of dev/adversarial_input.py's requests, sent with no token through chalice's
    test client, as a ratio to ``json.loads`` of a valid body of the same size."""
    from chalice.test import Client

    import app as application
    from dev.adversarial_input import unauthenticated_ratios

    with Client(application.app, stage_name="local") as client:
        ratios, _ = unauthenticated_ratios(client, rounds=1)
    return ratios


def bench_chunked_bodies():
    """Figure 0b: the local API server (dev/api_server.py, on its own) taking the dearest chunked
    body of 1 MiB it still reads, and a million one-byte chunks, against a plain 1 MiB body."""
    from dev.adversarial_input import MIB, chunked_costs
    from dev.local_service import NOT_INHERITED, free_port
    from dev.run import wait_until_up

    port = free_port()
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    server = subprocess.Popen([sys.executable, "-m", "dev.api_server", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", server, "the local API server")
        return chunked_costs(port, MIB)
    finally:
        server.terminate()
        server.wait(timeout=10)


def figures_table(dispatch_rows, dispatch_calls, most, delivery_calls, per_delivery, delivered, batches, cpu,
                  batch_median, batch_runs, local, ceiling, app_import, boto3_import, size, cost, args, edge, mixed,
                  limits, pulled, polls, keys, chunks, pages):
    from dev.bench_aws import calls_text as calls
    from dev.bench_aws import dispatch_target

    lines = ["| # | figure | measured | target |", "| --- | --- | --- | --- |"]
    worst = max(edge, key=edge.get)
    lines.append(f"| 0 | an unauthenticated 1 MiB request built to cost the most ({len(edge)} kinds), against `json.loads` "
                 f"of a valid 1 MiB body (best of 3 each) | worst {edge[worst]:.1f} × ({worst}) | at most 3 × |")
    plain, many = chunks["plain"][0], chunks["a million one-byte chunks"]
    lines.append(f"| 0 | the local API server: the dearest chunked 1 MiB body it still reads (256 chunks, 16 KiB of "
                 f"framing), and a million one-byte chunks (answered {many[1]}), against a plain 1 MiB body (best of "
                 f"9, interleaved) | {chunks['dearest'][0] / plain:.1f} × and {many[0] / plain:.1f} × "
                 f"({plain * 1000:.1f} ms plain) | at most 3 × |")
    for n, row in dispatch_rows.items():
        if n == "10 filtered":
            lines.append(f"| 1 | the same, 10 webhooks with filters (5 keep it out, 5 let it through) | {calls(row)} | "
                         f"{calls(dispatch_rows[10])}, as without filters |")
            continue
        lines.append(f"| 1 | AWS requests per platform event, {n} matching webhook(s) | {calls(row)} | "
                     f"{dispatch_target(n)} |")
    n = dispatch_calls["no key webhooks"]
    lines.append(f"| 1 | `webhook.dispatch` over HTTP, {n} matching webhooks, no Idempotency-Key | "
                 f"{calls(dispatch_calls['no key'])} | 1 GetItem (the token) + {dispatch_target(n)} |")
    lines.append(f"| 1 | the same with an Idempotency-Key | {calls(dispatch_calls['new key'])} | "
                 "at most 3 more (Powertools' PutItem and UpdateItem, the messageID's PutItem) |")
    lines.append(f"| 1 | the same key again (the first answer replayed) | {calls(dispatch_calls['same key'])} | "
                 "no SendMessageBatch |")
    lines.append(f"| 1 | a new key whose first PutItem (Powertools' in-progress record) was answered and the answer "
                 f"lost: botocore sends it again, and the retry is the call's own (`202`, not `409`) | requests sent: "
                 f"{calls(dispatch_calls['answer lost sent'])} | one PutItem more than "
                 f"{calls(dispatch_calls['new key sent'])} |")
    lines.append(f"| 1 | one platform event, its event and its company with the most webhooks each "
                 f"({most['webhooks']}, all matching) | {calls(most['requests'])} | 2 Query + 1 UpdateItem (the dispatch record, "
                 "both levels) + 40 SendMessageBatch |")
    lines.append(f"| 1 | the same, in-process with {most['round_trip'] * 1000:.0f} ms of AWS round trip a request "
                 f"(medians of {most['runs']}) | {most['concurrent'] * 1000:.0f} ms, {most['batches_at_once']} batches "
                 f"at once; one batch after another {most['sequential'] * 1000:.0f} ms: "
                 f"{most['sequential'] / most['concurrent']:.1f} × faster | at most 200 ms |")
    lines.append(f"| 1 | the same with webhooks of mixed types ({mixed['webhooks']}: each takes the event's type alone, "
                 f"among 1 to 3 others, or through `*`) | {calls(mixed['requests'])}; "
                 f"{mixed['concurrent'] * 1000:.0f} ms with {mixed['round_trip'] * 1000:.0f} ms a request "
                 f"(one type each, above: {most['concurrent'] * 1000:.0f} ms) | 2 Query + 40 SendMessageBatch, "
                 "as with one type each |")
    lines.append(f"| 1 | an event's {limits['webhooks']} webhooks at their largest (url of 2,048 characters, 10 headers "
                 f"of 1 KiB, a 4 KB filter, {limits['types']} types each): the listing a fan-out "
                 f"reads | {limits['pages']} Query page of {limits['listing_bytes'] / 1000:.0f} KB"
                 f"{' (more pages!)' if limits['more'] else ''} | 1 page (DynamoDB's is 1 MB) |")
    lines.append(f"| 1 | `webhook.find` of those {limits['webhooks']} webhooks | {limits['find_bytes'] / 1e6:.2f} MB "
                 f"answered in {limits['find_seconds'] * 1000:.0f} ms (in process, on moto) | well under Lambda's 6 MB |")
    ddb = sum(v for k, v in per_delivery.items() if k.startswith("dynamodb"))
    sqs = sum(v for k, v in per_delivery.items() if k.startswith("sqs"))
    lines.append(f"| 2 | AWS requests per successful delivery ({delivered} in {batches} batches) | "
                 f"DynamoDB {ddb:.2f} ({calls(delivery_calls)}); SQS {sqs:.2f} by the function | "
                 "a BatchGetItem a batch, then per message its sequence's PutItem (before the POST) and its "
                 "record's (after it); no SQS beyond the event source |")
    lines.append(f"| 2 | the worker's CPU time per delivery, against the floor (signing and POSTing the same bodies "
                 f"with urllib3 alone, each batch right after the worker's; {cpu['deliveries']} deliveries) | {cpu['worker_ms']:.2f} ms vs "
                 f"{cpu['floor_ms']:.2f} ms: **{cpu['worker_ms'] / cpu['floor_ms']:.1f} × the floor** | "
                 "reported, not a target |")
    lines.append(f"| 3 | a batch of 10 deliveries to an endpoint answering in 200 ms | "
                 f"{batch_median * 1000:.0f} ms median of {len(batch_runs)} = {batch_median / 0.2:.2f} × the floor | "
                 "at most 1.15 × 200 ms |")
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
    lines.append(f"| 4 | the capacity against the emulator's ceiling (the same AWS requests per delivery sent "
                 f"straight to the moto servers from {args.threads + POLLERS} threads) | {burst['per_second']:.0f} vs "
                 f"{ceiling:.0f} deliveries/s: **{burst['per_second'] / ceiling:.2f} × the ceiling** | |")
    spent = local["burst_cpu_ms"]
    lines.append(f"| 4 | the burst's CPU time per delivery, all the local run's processes (dispatch, fan-out, "
                 f"delivery, the emulator) | {spent['all']:.1f} ms (worker {spent['worker']:.1f}, moto servers "
                 f"{spent['moto servers']:.1f}, API {spent['API']:.1f}): this machine's {os.cpu_count()} cores carry "
                 f"at most {os.cpu_count() * 1000 / spent['all']:.0f} deliveries/s | |")
    lines.append(f"| 4 | the local run idle (API, worker long-polling, two moto servers) | "
                 f"{local['idle_cpu'] * 100:.1f}% of one core | |")
    lines.append(f"| 5 | cold start: importing `app` from the code package (with its bytecode, as Lambda loads it) vs "
                 f"`boto3` alone (medians of {args.import_runs}) | "
                 f"{app_import * 1000:.0f} ms vs {boto3_import * 1000:.0f} ms: "
                 f"**{app_import / boto3_import:.2f} ×** ({(app_import - boto3_import) * 1000:+.0f} ms) | "
                 "at most 1.25 × `import boto3` |")
    lines.append(f"| 5 | code package (deployment.zip) | {size / 1024:.0f} KiB | under 1 MiB |")
    lines.append(f"| 5 | Ed25519 signatures (section 19): importing `app` loads no `cryptography` "
                 f"({'checked' if not keys['loaded_by_app'] else '**it does**'}); an instance's first v1a signature "
                 f"imports it (medians of {args.import_runs}) | first v1a {keys['first_v1a'] * 1000:.0f} ms vs first v1 "
                 f"{keys['first_v1'] * 1000:.1f} ms; then {keys['v1a_us']:.0f} µs vs {keys['v1_us']:.0f} µs a "
                 "signature | reported |")
    bundled = "; ".join(f"with {name} bundled {(size + extra) / 1024:.0f} KiB" for name, extra in keys["bundled"].items())
    lines.append(f"| 5 | the code package if it carried the Ed25519 library (it comes with the Powertools layer) | "
                 f"{size / 1024:.0f} KiB as built; {bundled} | under 1 MiB |")
    lines.append(f"| 6 | cost per million deliveries on AWS (first attempt, full batches) | ${cost:.2f} "
                 "(plus, per million platform events, $0.20 for the fan-out's invocations and $0.625 for its "
                 "dispatch record up to about 29 webhooks (a write unit a KB), and the platform's own EventBridge or "
                 "API Gateway call) | |")
    n = pulled["messages"]
    per_message = {op: count / n for op, count in pulled["fan_out"].items()}
    lines.append(f"| 7 | AWS requests per message to a pull webhook, at the fan-out (its {n} messages) | "
                 f"{', '.join(f'{v:.2f} {op.split(':')[1]}' for op, v in sorted(per_message.items()))} | "
                 "the owner's Query and the dispatch record's UpdateItem (per platform event, as for push) + 1 "
                 "Query (the log's end) + 1 PutItem (the entry); no SQS |")
    lines.append(f"| 7 | a poll of {n} that returns them first (numbers them) / again | {calls(pulled['first'])} / "
                 f"{calls(pulled['again'])} | a write per subject at the first return; none again |")
    lines.append(f"| 7 | cost per million pulled messages on AWS (polls of {n}) | "
                 f"${pulled_cost_per_million(pulled):.2f}, against ${cost:.2f} a push delivery | below a push delivery |")
    lines.append(f"| 7 | local run: `webhook.poll` of {polls['messages']} messages, the first (numbering them), then "
                 f"again (median of {polls['runs']}) | {polls['first'] * 1000:.0f} ms, then {polls['poll'] * 1000:.0f} ms; "
                 f"`webhook.deliveries` of {polls['messages']} in the same run: {polls['pull_log'] * 1000:.0f} ms (that "
                 f"pull webhook's), {polls['push_log'] * 1000:.0f} ms (a push webhook's): "
                 f"**{polls['poll'] / polls['push_log']:.2f} × a push log's page** | |")
    read = "; ".join(f"limit {limit}: {n} read, count {count}{' and a cursor' if cursor else ''}"
                     for limit, (n, count, cursor) in pages.items())
    lines.append(f"| 7 | the records one `webhook.deliveries` page reads when its filter (status=failed) matches "
                 f"nothing in a log of 600 | {read} | at most 200 a page (10 reads before: 500 at limit 1, 2,000 at "
                 "200) |")
    return "\n".join(lines)


def bench_ed25519(runs, cwd):
    """What Ed25519 signing costs a function (contract, section 19): whether importing ``app``
    (from the code package in ``cwd``) loads ``cryptography``; the first v1a and v1 signatures
    in a fresh interpreter after it (the first v1a imports ``cryptography``); the time of a
    signature after that; and what the code package would weigh with the library bundled."""
    from chalicelib.delivery.signing import new_key_pair, signature_header

    private_key = new_key_pair()[0]
    code = ("import sys, time, app\n"
            "from chalicelib.delivery.signing import signature_header\n"
            "loaded = 'cryptography' in sys.modules\n"
            "t = time.perf_counter(); signature_header([sys.argv[2]], 'msg_1', 1, '{}'); v1 = time.perf_counter() - t\n"
            "t = time.perf_counter(); signature_header([sys.argv[1]], 'msg_1', 1, '{}'); v1a = time.perf_counter() - t\n"
            "print(loaded, v1, v1a)\n")
    firsts = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code, private_key, "whsec_" + "A" * 43 + "="], cwd=cwd,
                             capture_output=True, text=True, check=True, env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
        loaded, v1, v1a = out.stdout.split()
        firsts.append((loaded == "True", float(v1), float(v1a)))
    body = "x" * 1000
    each = {}
    for name, secret in (("v1a", private_key), ("v1", "whsec_" + "A" * 43 + "=")):
        started = time.perf_counter()
        for _ in range(2000):
            signature_header([secret], "msg_1", 1, body)
        each[name] = (time.perf_counter() - started) / 2000 * 1e6
    return {"loaded_by_app": any(f[0] for f in firsts), "first_v1": statistics.median(f[1] for f in firsts),
            "first_v1a": statistics.median(f[2] for f in firsts), "v1a_us": each["v1a"], "v1_us": each["v1"],
            "bundled": {"PyNaCl (with cffi, pycparser)": zipped_size("pynacl", "cffi", "pycparser"),
                        "cryptography (with cffi, pycparser)": zipped_size("cryptography", "cffi", "pycparser")}}


def zipped_size(*distributions):
    """Bytes that the installed ``distributions``' files take in a deflated zip, as a bundled
    dependency takes in the code package."""
    import importlib.metadata
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in distributions:
            dist = importlib.metadata.distribution(name)
            for file in dist.files or ():
                path = pathlib.Path(dist.locate_file(file))
                if path.is_file() and "__pycache__" not in file.parts:
                    archive.write(path, str(file))
    return buffer.tell()


def import_time(module, runs=7, cwd=ROOT):
    """Median seconds to import ``module`` in a fresh interpreter started in ``cwd``."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
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


def pulled_cost_per_million(pulled, entry_kb=0.6):
    """Dollars per million messages pulled (docs/deploy.md, "A pulled message"), from the requests
    ``bench_aws.bench_pull_requests`` counted: each PutItem and UpdateItem 1 WRU (an entry of about
    ``entry_kb`` KB, a subject's counter, a first return's mark and state), the fan-out's Query of
    the log's last entry ½ RRU, the first poll's BatchGetItem 1 RRU a counter (every message of the
    bench is about another person), each poll's Query of its entries (twice: read, then numbered)
    1 RRU per 4 KB, and a poll's token, webhook and state 1 RRU each; API Gateway and a 512 MB
    Lambda of 0.15 s a poll."""
    n = pulled["messages"]
    fan_out, first = pulled["fan_out"], pulled["first"]
    writes = fan_out.get("dynamodb:PutItem", 0) + first.get("dynamodb:PutItem", 0) + first.get("dynamodb:UpdateItem", 0)
    # The fan-out's Query of the owner's listing and its UpdateItem of the dispatch record are the
    # platform event's, for push and pull alike (per event, not per message: section "What a method
    # call costs"); the other Query is the log's end.
    reads = (0.5 * (fan_out.get("dynamodb:Query", 0) - n) + fan_out.get("dynamodb:GetItem", 0)
             + n * first.get("dynamodb:BatchGetItem", 0) + 2 * math.ceil(n * entry_kb / 4) + 3)
    per_poll = 3.50e-6 + PRICES["lambda_request"] + 0.5 * 0.15 * PRICES["lambda_gb_second"]
    return (writes / n * PRICES["dynamodb_wru"] + reads / n * PRICES["dynamodb_rru"] + per_poll / n) * 1e6


def machine():
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


if __name__ == "__main__":
    main()

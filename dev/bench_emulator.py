"""``make bench``'s ratios that should hold from one machine to the next, measured on the local
run's own moto servers (dev/moto_server.py) in the same run as the absolute figures:

- the delivery worker's CPU time per delivery against the floor: signing and POSTing the same
  bodies on one kept-alive connection with urllib3 alone, in one process;
- the local run's capacity against the emulator's ceiling: the same mix of AWS requests per
  delivery, sent straight to the moto servers from as many threads as the local run uses.

The receiver runs in a process of its own (``python -m dev.receiver``), so that this process's
CPU time is the sender's alone.
"""

import contextlib
import gc
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone

from dev.bench_aws import Counting, webhooks_for
from dev.local_service import ROOT


@contextlib.contextmanager
def moto_servers():
    """The local run's two moto servers and the stack's resources, this process pointed at
    them; yields the created resources."""
    from chalicelib.services import reset_services
    from dev.run import LocalRun

    saved = dict(os.environ)
    run = LocalRun({**os.environ, "LOCAL_STATE_DIR": ""})
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "MOTO_PORT"):
        run.env.pop(name, None)
    try:
        run.start_moto(state_dir=None)
        run.create_stack()
        os.environ.update(run.env)
        reset_services()
        yield run.env
    finally:
        run.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_services()


@contextlib.contextmanager
def receiver_process():
    """A :class:`dev.receiver.Receiver` in a child process; yields its URL."""
    child = subprocess.Popen([sys.executable, "-m", "dev.receiver"], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        yield child.stdout.readline().strip()
    finally:
        child.stdin.close()
        summary = child.stdout.read()
        child.wait(timeout=30)
    if json.loads(summary or "{}").get("invalid"):
        raise SystemExit(f"deliveries that break the published schema: {summary}")


def bench_worker_cpu(events=100, webhooks=5):
    """CPU per delivery of the worker and of the floor, and the AWS requests of the whole path
    (dispatch over the API, the event source's receive and delete, the worker), kept to replay.

    ``events`` dispatches to ``webhooks`` webhooks each. Each batch is delivered by the worker,
    then its bodies are sent again by the floor (signed with the same secrets, POSTed one after
    another on one kept-alive connection with urllib3 alone), so both are measured under the
    same load of the machine. The first batch warms both up and is not counted."""
    import urllib3
    from chalice.test import Client
    from standardwebhooks.webhooks import Webhook as Signer

    import app as application
    from chalicelib.api.webhook_methods import issue_token
    from chalicelib.occurrences import delivery_body
    from chalicelib.services import get_services
    from chalicelib.store.tokens import Grant
    from dev.worker import LambdaContext, sqs_event

    services = get_services()
    sqs, url = services.sqs, services.settings.queue_url
    counting = Counting(services.dynamodb, services.sqs, keep=True)
    token = issue_token(services.tokens, Grant(admin=True, events=frozenset()), time.time())
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with receiver_process() as receiver_url:
        webhooks_for(services, "bench-cpu", webhooks, receiver_url)
        hooks = {hook.webhook_id: services.webhooks.get(hook.webhook_id, time.time())  # with their secrets
                 for hook in services.webhooks.list("event", "bench-cpu", None)}
        pool = urllib3.HTTPConnectionPool("127.0.0.1", int(receiver_url.rsplit(":", 1)[1]), maxsize=1, retries=False)
        signers = {hook_id: Signer(hook.secrets[0]) for hook_id, hook in hooks.items()}

        def floor_send(received):
            """What the floor sends for a message: built before it is timed."""
            message = json.loads(received["Body"])
            hook = hooks[message["webhookID"]]
            body = delivery_body(message["type"], hook.webhook_id, message["data"], message["timestamp"], 1)
            when = datetime.fromtimestamp(message["timestamp"], tz=timezone.utc)
            return hook, message["messageID"], when, str(message["timestamp"]), body

        def floor_post(hook, message_id, when, timestamp, body):
            pool.urlopen("POST", hook.url.split(receiver_url, 1)[1], body=body.encode("utf-8"), headers={
                "content-type": "application/json", "webhook-id": message_id, "webhook-timestamp": timestamp,
                "webhook-signature": signers[hook.webhook_id].sign(message_id, when, body)}, retries=False)

        batches, cpu, floor = [], 0.0, 0.0
        with counting.measuring() as calls, Client(application.app, stage_name="local") as client:
            for n in range(events):
                answer = client.http.post("/api/webhook.dispatch", body=json.dumps(
                    {"type": "activityEnrollment", "eventID": "bench-cpu", "activityID": "1", "personID": f"c{n}"}),
                    headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
                if answer.status_code != 202:
                    raise SystemExit(f"webhook.dispatch answered {answer.status_code}: {answer.body!r}")
            while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                             MessageSystemAttributeNames=["All"]).get("Messages", []):
                batches.append(got)
                event = sqs_event(got, arn, sqs.meta.region_name)
                # What this process holds for the bench (the requests kept to replay, the API's
                # test client) is no Lambda's: frozen out of the collector's way, so that the
                # worker's full collections do not walk it.
                gc.freeze()
                started = time.process_time()
                failed = application.deliver(event, LambdaContext())["batchItemFailures"]
                worker_cpu = time.process_time() - started
                if failed:
                    raise SystemExit(f"{len(failed)} deliveries to a loopback receiver failed")
                sends = [floor_send(received) for received in got]
                started = time.process_time()
                for send in sends:
                    floor_post(*send)
                floor_cpu = time.process_time() - started
                if len(batches) > 1:
                    cpu, floor = cpu + worker_cpu, floor + floor_cpu
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        delivered = sum(map(len, batches))
        calls, kept = dict(calls), list(counting.kept)
    counted = delivered - len(batches[0])
    return {"deliveries": delivered, "batches": len(batches), "worker_ms": cpu / counted * 1000,
            "floor_ms": floor / counted * 1000, "calls": calls, "kept": kept}


def bench_emulator_ceiling(kept, deliveries, threads=16, seconds=10.0):
    """Deliveries a second that the moto servers allow, sent ``kept`` (the requests of
    ``deliveries`` deliveries, in order) again and again from ``threads`` threads, for
    ``seconds``. Messages sent are received and deleted again, each with a fresh
    deduplication ID; reads and writes of the table go as they were."""
    import boto3
    from botocore.config import Config

    config = Config(max_pool_connections=threads + 2, retries={"mode": "standard", "max_attempts": 3})
    clients = {"dynamodb": boto3.client("dynamodb", config=config), "sqs": boto3.client("sqs", config=config)}
    methods = {name: {op: getattr(client, method) for method, op in client.meta.method_to_api_mapping.items()}
               for name, client in clients.items()}
    done, lock, stop = [0], threading.Lock(), threading.Event()

    def replay(offset):
        received, sent = [], 0
        for service, operation, params in itertools.islice(itertools.cycle(kept), offset, None):
            if stop.is_set():
                break
            if operation == "SendMessageBatch":
                params = {**params, "Entries": [{**e, "MessageDeduplicationId": uuid.uuid4().hex}
                                                for e in params["Entries"]]}
            elif operation == "ReceiveMessage":
                params = {**params, "WaitTimeSeconds": 0}
            elif operation in ("DeleteMessageBatch", "ChangeMessageVisibilityBatch"):
                if not received:
                    continue
                params = {**params, "Entries": [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                for i, m in enumerate(received)]}
            try:
                answer = methods[service][operation](**params)
            except clients["dynamodb"].exceptions.ConditionalCheckFailedException:
                answer = {}  # a record's conditional write, replayed: the server did the same work
            if operation == "ReceiveMessage":
                received = answer.get("Messages", [])
            elif operation in ("DeleteMessageBatch", "ChangeMessageVisibilityBatch"):
                received = []
            sent += 1
        with lock:
            done[0] += sent

    workers = [threading.Thread(target=replay, args=(n * len(kept) // threads,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    return done[0] / len(kept) * deliveries / elapsed

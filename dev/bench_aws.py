"""``make bench``'s figures taken in-process on moto: AWS requests per platform event, per
dispatch and per delivery, the fan-out of an event with the most webhooks allowed, and a batch
of deliveries to a slow endpoint."""

import contextlib
import json
import math
import os
import statistics
import time
from collections import Counter

ENVELOPE = {"version": "0", "detail-type": "activityEnrollment", "source": "inevent.platform", "account": "1",
            "time": "2026-11-27T20:00:00Z", "region": "us-east-1", "resources": []}


class Counting:
    """Counts the AWS calls that the given boto3 clients make, by service and operation; with
    ``keep``, also keeps each call's parameters, in order (to send them again later)."""

    def __init__(self, *clients, keep=False):
        self.calls = Counter()
        self.kept = []
        for client in clients:
            client.meta.events.register("before-call", self._count)
            if keep:
                client.meta.events.register("before-parameter-build", self._keep)

    def _count(self, model, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def _count_sent(self, request, operation_name, **_):
        self.sent[f"{request.url.split('//')[-1].split('.')[0]}:{operation_name}"] += 1

    def counting_sends(self, *clients):
        """Also count each request sent (``sent``), botocore's retries included, by operation."""
        self.sent = Counter()
        for client in clients:
            client.meta.events.register("request-created", self._count_sent)
        return self

    def _keep(self, params, model, **_):
        # A shallow copy: the call's keyword dict is the caller's own, built for this call, and
        # a deep copy here would be counted in the CPU time of the code being measured.
        self.kept.append((model.service_model.service_name, model.name, dict(params)))

    @contextlib.contextmanager
    def measuring(self):
        self.calls.clear()
        self.kept.clear()
        getattr(self, "sent", Counter()).clear()
        yield self.calls


@contextlib.contextmanager
def round_trip(seconds, *clients):
    """Every request of ``clients`` waits ``seconds`` before it is sent, as a trip to AWS would.
    Registered first, so it runs before moto's own ``before-send`` hook answers the request."""

    def wait(**_):
        time.sleep(seconds)

    for client in clients:
        client.meta.events.register_first("before-send", wait, unique_id="bench-round-trip")
    try:
        yield
    finally:
        for client in clients:
            client.meta.events.unregister("before-send", unique_id="bench-round-trip")


def in_process_stack():
    """Moto in this process, with the stack's resources; returns (services, created, mock)."""
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8", WEBHOOK_DESTINATIONS="allowed-only")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
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


def webhooks_for(services, owner_id, count, url, level="event", type="activityEnrollment", filters=()):
    """``count`` enabled webhooks of ``type`` for one event (or company), made with the
    service's own store; their URLs are ``url``/0, ``url``/1... The first ones have the
    ``filters`` given, in turn."""
    from chalicelib.ids import new_id, new_secret
    from chalicelib.store.webhook_record import Webhook

    for n in range(count):
        services.webhooks.create(Webhook(new_id("wh"), level, owner_id, type, f"{url}/{n}", f"{url}/{n}",
                                         str(int(time.time())), "enabled", (new_secret(),),
                                         filter=filters[n] if n < len(filters) else None))


def drain(created, sqs=None):
    """Receive everything queued, as the event source would, and return the Lambda records."""
    import boto3

    from dev.worker import sqs_event

    sqs = sqs or boto3.client("sqs")
    url = created["DeliveryQueue"]["url"]
    records = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
                                  ).get("Messages", [])
        if not got:
            return records
        records.append(sqs_event(got, "arn", "us-east-1")["Records"])
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                         for i, m in enumerate(got)])


def bench_requests(services, created, receiver_url):
    """Figures 1 and 2: AWS requests per platform event, and per successful delivery."""
    import app as application

    counting = Counting(services.dynamodb, services.sqs)
    rows = {}
    for n in (1, 10, 100):
        event_id = f"bench-{n}"
        webhooks_for(services, event_id, n, receiver_url)
        envelope = {**ENVELOPE, "id": f"e-{n}", "detail": {"eventID": event_id, "activityID": "1", "personID": "p"}}
        with counting.measuring() as calls:
            application.platform_event(envelope, None)
        rows[n] = dict(calls)
        drain(created)
    # Filters travel with the listing: the same fan-out with half its webhooks filtering the
    # person out, and the other half letting them through, makes the same requests.
    webhooks_for(services, "bench-filtered", 10, receiver_url,
                 filters=[{"personID": ["someone else"]}] * 5 + [{"personID": ["p"], "activityID": ["1"]}] * 5)
    envelope = {**ENVELOPE, "id": "e-filtered", "detail": {"eventID": "bench-filtered", "activityID": "1", "personID": "p"}}
    with counting.measuring() as calls:
        application.platform_event(envelope, None)
    rows["10 filtered"] = dict(calls)
    drain(created)
    # Per delivery: 100 people each sent one message to one webhook, delivered in full batches.
    webhooks_for(services, "bench-delivery", 1, receiver_url)
    for person in range(100):
        application.platform_event({**ENVELOPE, "id": f"d-{person}",
                                    "detail": {"eventID": "bench-delivery", "activityID": "1", "personID": str(person)}},
                                   None)
    batches = drain(created)
    with counting.measuring() as calls:
        failed = sum(len(services.worker.handle(batch).retry) for batch in batches)
    delivered = sum(len(batch) for batch in batches) - failed
    return rows, dict(calls), delivered, len(batches)


def bench_dispatch_requests(services, created, event_id="bench-100"):
    """Figure 1b: AWS requests of one ``webhook.dispatch`` (an admin token, so no rate limit)
    to ``event_id``'s webhooks, without an Idempotency-Key, with one, and with the same again."""
    from chalice.test import Client

    import app as application
    from chalicelib.api.webhook_methods import issue_token
    from chalicelib.store.tokens import Grant

    token = issue_token(services.tokens, Grant(admin=True, events=frozenset()), time.time())
    counting = Counting(services.dynamodb, services.sqs).counting_sends(services.dynamodb, services.sqs)
    params = {"type": "activityEnrollment", "eventID": event_id, "activityID": "1"}
    rows = {}
    with Client(application.app, stage_name="local") as client:
        runs = (("no key", None, "k0"), ("new key", "bench-key", "k1"), ("same key", "bench-key", "k1"),
                ("answer lost", "bench-lost", "k2"))
        for name, key, person in runs:
            headers = {"content-type": "application/json", "authorization": f"Bearer {token}",
                       **({"idempotency-key": key} if key else {})}
            with counting.measuring() as calls, (answer_lost(services.dynamodb, "PutItem") if name == "answer lost"
                                                 else contextlib.nullcontext()):
                response = client.http.post("/api/webhook.dispatch", headers=headers,
                                            body=json.dumps({**params, "personID": person}))
            if response.status_code != 202:
                raise SystemExit(f"webhook.dispatch answered {response.status_code}: {response.body!r}")
            rows[name] = dict(calls)
            rows[name + " sent"] = dict(counting.sent)
            rows[name + " webhooks"] = json.loads(response.body)["webhooks"]
    drain(created)
    return rows


@contextlib.contextmanager
def answer_lost(client, operation):
    """The first ``operation`` request of ``client`` is answered (AWS did it), and then sent again
    by botocore as if its answer had been lost on the way back."""
    lost = []

    def retry_once(attempts, **_):
        if not lost:
            lost.append(attempts)
            return 0  # retry at once
        return None

    event = f"needs-retry.{client.meta.service_model.endpoint_prefix}.{operation}"
    client.meta.events.register_first(event, retry_once, unique_id="bench-answer-lost")
    try:
        yield lost
    finally:
        client.meta.events.unregister(event, unique_id="bench-answer-lost")


def bench_log_page_reads(services, records=600):
    """Figure 7: the records one ``webhook.deliveries`` page reads when its filter matches
    nothing in a log of ``records`` messages, for limits 1, 50 and 200: {limit: (read, count,
    cursor given)}."""
    from chalice.test import Client

    import app as application
    from chalicelib.api.webhook_methods import issue_token
    from chalicelib.delivery.queue import QueuedMessage
    from chalicelib.ids import new_id
    from chalicelib.store.tokens import Grant

    webhooks_for(services, "bench-log", 1, "http://127.0.0.1:9/log")
    (hook,) = services.webhooks.list("event", "bench-log")
    now = time.time()
    services.log.put_skipped([QueuedMessage(message_id=new_id("msg"), webhook_id=hook.webhook_id,
                                            type="activityEnrollment", subject=f"person:{n}", date=str(int(now)),
                                            timestamp=int(now), data={"personID": str(n)}) for n in range(records)], now)
    read = [0]

    def count(parsed, **_):
        read[0] += parsed.get("ScannedCount", 0)

    services.dynamodb.meta.events.register("after-call.dynamodb.Query", count)
    token = issue_token(services.tokens, Grant(admin=True, events=frozenset()), time.time())
    found = {}
    with Client(application.app, stage_name="local") as client:
        for limit in (1, 50, 200):
            read[0] = 0
            answer = json.loads(client.http.get(
                f"/api/webhook.deliveries?webhookID={hook.webhook_id}&status=failed&limit={limit}",
                headers={"authorization": f"Bearer {token}"}).body)
            found[limit] = (read[0], answer["count"], answer["cursor"] is not None)
    services.dynamodb.meta.events.unregister("after-call.dynamodb.Query", count)
    return found


def quicker_moto():
    """The local moto server's speed-ups, here in this process (they change no answer). Without
    them moto counts the whole queue for every message sent, so a fan-out's time would grow
    with the square of its messages, which SQS's does not. Applied after the figures that
    compare with earlier runs, which were taken without them."""
    from dev.local_aws import patches

    patches.apply()


def bench_fan_out_at_most(services, created, runs=5, seconds=0.015):
    """Figure 1c: one platform event whose event and company each have the most webhooks
    allowed, all matching: its AWS requests, and its wall time with ``seconds`` of round trip
    added to every request, batches sent as the service sends them and one after another.
    Call :func:`quicker_moto` first."""
    import boto3

    from chalicelib.delivery import queue as delivery_queue
    from chalicelib.dispatch.fanout import fan_out
    from chalicelib.ids import new_id
    from chalicelib.occurrences import Occurrence

    most = services.settings.max_webhooks_per_owner
    webhooks_for(services, "bench-most", most, "http://127.0.0.1:9/event")
    webhooks_for(services, "bench-most-co", most, "http://127.0.0.1:9/company", level="company")
    occurrence = Occurrence.build("activityEnrollment", {"eventID": "bench-most", "activityID": "1", "personID": "p"},
                                  company_id="bench-most-co", now=time.time())
    sqs, url = boto3.client("sqs"), created["DeliveryQueue"]["url"]
    one_at_a_time = delivery_queue.DeliveryQueue(services.sqs, url, batches_at_once=1)
    queues = {"concurrent": services.queue, "sequential": one_at_a_time}

    def run(queue):
        try:
            started = time.perf_counter()
            count = fan_out(occurrence, new_id("msg"), services.webhooks, queue, services.log, time.time(),
                            dispatches=services.dispatches)
            took = time.perf_counter() - started
        finally:
            sqs.purge_queue(QueueUrl=url)
        return count, took

    counting = Counting(services.dynamodb, services.sqs)
    with counting.measuring() as calls:
        queued, _ = run(services.queue)
    requests = dict(calls)
    times = {name: [] for name in queues}
    with round_trip(seconds, services.dynamodb, services.sqs):
        for _ in range(runs):
            for name, queue in queues.items():
                times[name].append(run(queue)[1])
    middle = {name: statistics.median(values) for name, values in times.items()}
    return {"webhooks": 2 * most, "queued": queued, "requests": requests, "round_trip": seconds, "runs": runs,
            "concurrent": middle["concurrent"], "sequential": middle["sequential"],
            "batches_at_once": delivery_queue.BATCHES_AT_ONCE}


def bench_batch_latency(services, created, delay=0.2, runs=5):
    """Figure 3: one batch of 10 deliveries to an endpoint that takes ``delay`` to answer."""
    import app as application
    from dev.receiver import Receiver

    times = []
    with Receiver() as receiver:
        receiver.answer((200, delay))
        webhooks_for(services, "bench-slow", 1, receiver.url)
        for run in range(runs):
            for person in range(10):
                application.platform_event({**ENVELOPE, "id": f"s-{run}-{person}",
                                            "detail": {"eventID": "bench-slow", "activityID": "1",
                                                       "personID": f"{run}-{person}"}}, None)
            (batch,) = drain(created)
            started = time.perf_counter()
            failed = services.worker.handle(batch).retry
            times.append(time.perf_counter() - started)
            if failed:
                raise SystemExit(f"{len(failed)} of a batch of 10 to a slow endpoint failed")
    if receiver.invalid:
        raise SystemExit(f"deliveries that break the published schema: {receiver.invalid[:3]}")
    return statistics.median(times), times


def calls_text(row):
    """``{"sqs:SendMessageBatch": 2, ...}`` as ``2 SendMessageBatch, ...``."""
    return ", ".join(f"{n} {op.split(':')[1]}" for op, n in sorted(row.items())) or "none"


def dispatch_target(n):
    # The UpdateItem is the dispatch record that webhook.trace reads (chalicelib/store/dispatches.py).
    return f"1 Query + 1 UpdateItem + {math.ceil(n / 10)} SendMessageBatch"

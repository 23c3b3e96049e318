"""``make bench``'s figures taken in-process on moto: AWS requests per platform event, per
dispatch and per delivery, the fan-out of an event with the most webhooks allowed, and a batch
of deliveries to a slow endpoint."""

import contextlib
import functools
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
    """``count`` enabled webhooks of ``type`` (a type, or a function of the webhook's number that
    gives its types) for one event (or company), made with the service's own store; their URLs
    are ``url``/0, ``url``/1... The first ones have the ``filters`` given, in turn."""
    from chalicelib.ids import new_id, new_secret
    from chalicelib.store.webhook_record import Webhook

    for n in range(count):
        types = (type,) if isinstance(type, str) else tuple(type(n))
        services.webhooks.create(Webhook(new_id("wh"), level, owner_id, types, f"{url}/{n}", f"{url}/{n}",
                                         str(int(time.time())), "enabled", (new_secret(),),
                                         filter=filters[n] if n < len(filters) else None))


# The largest filter webhook.create and webhook.update allow: 100 IDs and 1,024 bytes of IDs in all
# (chalicelib.api.receiver_options, MAX_FILTER_IDS_IN_ALL and MAX_FILTER_BYTES).
LARGEST_FILTER = {"personID": [f"p-{n:03d}-" + "x" * (5 if n < 24 else 4) for n in range(100)]}


def largest_webhook(n, owner_id, level="event"):
    """Webhook ``n`` of an owner at its largest: the longest url, ten headers of the longest names
    and values, the largest filter, and every type of the level that carries personID but one (a
    different one for each webhook)."""
    from chalicelib.catalog import CATALOG, level_types
    from chalicelib.ids import new_id
    from chalicelib.store.webhook_record import EndpointAuth, Webhook

    person_types = [name for name in level_types(level) if "personID" in CATALOG[name].fields]
    types = tuple(t for i, t in enumerate(person_types) if i != n % len(person_types))
    base = f"http://127.0.0.1:9/{n:03d}/"
    url = base + "p" * (2048 - len(base))
    headers = tuple((f"X-{i}-" + "h" * 58, "v" * 1024) for i in range(10))
    # What later rounds keep in the webhook item, each at its largest: two Ed25519 key pairs (a
    # rotation's overlap), an OAuth client, a 4 KiB template, 200 characters of 4-byte emoji.
    (old_key, old_public), (new_key, new_public) = key_pairs()
    auth = EndpointAuth(token_url=url, client_id="c" * 256, client_secret="s" * 1024, scope=("scope " * 171)[:1023])
    template = {"body": '{"text": "' + "t" * (4096 - 12) + '"}', "contentType": "application/json"}
    return Webhook(new_id("wh"), level, owner_id, types, url, url, str(int(time.time())), "enabled", (new_key, old_key),
                   previous_secret_until=int(time.time()) + 86400, headers=headers, rate_limit=1000,
                   filter=LARGEST_FILTER, template=template, signature="ed25519", public_keys=(new_public, old_public),
                   auth=auth, description="👩" * 200)


@functools.lru_cache(maxsize=1)
def key_pairs():
    from chalicelib.delivery.signing import new_key_pair

    return new_key_pair(), new_key_pair()


def store_directly(services, webhooks):
    """Put webhooks' items as the store writes them, without its transactions (moto copies the
    whole table for each transaction, so hundreds of large creations would take minutes)."""
    from chalicelib.store.table import batch_put, webhook_key

    items = [item for webhook in webhooks for item in (
        {**webhook_key(webhook.webhook_id), **webhook.item_attributes()},
        {**webhook.listing_key(), **webhook.listing_attributes()})]
    batch_put(services.dynamodb, services.settings.table_name, items)


def bench_listing_at_the_limits(services, owner_id="bench-limits"):
    """Section 17's figures at the limits: an owner's most webhooks, each at its largest. Returns the
    Query pages and bytes of the listing a fan-out reads, and the size and time of webhook.find's
    answer for them."""
    from chalice.test import Client

    import app as application
    from chalicelib.api.webhook_methods import issue_token
    from chalicelib.store.tokens import Grant

    most = services.settings.max_webhooks_per_owner
    store_directly(services, [largest_webhook(n, owner_id) for n in range(most)])
    pages = []
    services.dynamodb.meta.events.register("after-call.dynamodb.Query", lambda parsed, **_: pages.append(parsed),
                                           unique_id="bench-pages")
    try:
        listed = services.webhooks.list("event", owner_id)
    finally:
        services.dynamodb.meta.events.unregister("after-call.dynamodb.Query", unique_id="bench-pages")
    items = [item for page in pages for item in page["Items"]]
    token = issue_token(services.tokens, Grant(admin=True, events=frozenset()), time.time())
    with Client(application.app, stage_name="local") as client:
        started = time.perf_counter()
        response = client.http.get(f"/api/webhook.find?eventID={owner_id}", headers={"authorization": f"Bearer {token}"})
        took = time.perf_counter() - started
    if response.status_code != 200 or json.loads(response.body)["count"] != most:
        raise SystemExit(f"webhook.find at the limits answered {response.status_code}")
    return {"webhooks": len(listed), "types": len(largest_webhook(0, owner_id).types), "pages": len(pages), "more": "LastEvaluatedKey" in pages[-1],
            "listing_bytes": sum(item_size(item) for item in items),
            "find_bytes": len(response.body), "find_seconds": took}


def item_size(item):
    """An item's size as DynamoDB counts it against a Query page's 1 MB: the UTF-8 bytes of each
    attribute's name and value, numbers about half their digits, 3 bytes and 1 an element for a
    list or a map."""

    def size(value):
        kind, inner = next(iter(value.items()))
        if kind == "S":
            return len(inner.encode("utf-8"))
        if kind == "N":
            return len(inner.lstrip("-").replace(".", "")) // 2 + 1
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "L":
            return 3 + sum(1 + size(v) for v in inner)
        if kind == "M":
            return 3 + sum(1 + len(k.encode("utf-8")) + size(v) for k, v in inner.items())
        return len(json.dumps(inner))

    return sum(len(name.encode("utf-8")) + size(value) for name, value in item.items())


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


def mixed_types(n):
    """The types of webhook ``n`` of the mixed fan-out: every one takes activityEnrollment, alone,
    among one to three others, or through ``*`` (contract, section 17)."""
    return (("*",), ("activityEnrollment", "eventCheckIn"),
            ("eventEnrollment", "activityEnrollment", "activityDismissal", "speakerCreated"),
            ("activityEnrollment",))[n % 4]


def bench_fan_out_at_most(services, created, runs=5, seconds=0.015, mixed=False):
    """Figure 1c: one platform event whose event and company each have the most webhooks
    allowed, all matching: its AWS requests, and its wall time with ``seconds`` of round trip
    added to every request, batches sent as the service sends them and one after another. With
    ``mixed``, the webhooks take several types each (:func:`mixed_types`). Call
    :func:`quicker_moto` first."""
    import boto3

    from chalicelib.delivery import queue as delivery_queue
    from chalicelib.dispatch.fanout import fan_out
    from chalicelib.ids import new_id
    from chalicelib.occurrences import Occurrence

    most = services.settings.max_webhooks_per_owner
    owner, types = ("bench-mixed", mixed_types) if mixed else ("bench-most", "activityEnrollment")
    webhooks_for(services, owner, most, "http://127.0.0.1:9/event", type=types)
    webhooks_for(services, owner + "-co", most, "http://127.0.0.1:9/company", level="company", type=types)
    occurrence = Occurrence.build("activityEnrollment", {"eventID": owner, "activityID": "1", "personID": "p"},
                                  company_id=owner + "-co", now=time.time())
    sqs, url = boto3.client("sqs"), created["DeliveryQueue"]["url"]
    one_at_a_time = delivery_queue.DeliveryQueue(services.sqs, url, batches_at_once=1)
    queues = {"concurrent": services.queue, "sequential": one_at_a_time}

    def run(queue):
        try:
            started = time.perf_counter()
            count = fan_out(occurrence, new_id("msg"), services.webhooks, queue, services.log, time.time(),
                            dispatches=services.dispatches, pull_log=services.pull_log)
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


def bench_pull_requests(services, messages=100):
    """Section 18's requests, in process: a fan-out to one pull webhook (per message), a poll of
    ``messages`` that returns them first (numbering them), and a poll that returns them again."""
    from chalicelib.dispatch.fanout import fan_out
    from chalicelib.ids import new_id, new_secret
    from chalicelib.occurrences import Occurrence
    from chalicelib.pull.poll import new_cursor_key, poll
    from chalicelib.store.webhook_record import Webhook

    webhook = Webhook(new_id("wh"), "event", "bench-pull", ("eventCheckIn",), None, None, str(int(time.time())),
                      "enabled", (new_secret(),), delivery="pull", cursor_key=new_cursor_key())
    services.webhooks.create(webhook)
    counting = Counting(services.dynamodb, services.sqs)
    with counting.measuring() as calls:
        for person in range(messages):
            occurrence = Occurrence.build("eventCheckIn", {"eventID": "bench-pull", "personID": str(person)},
                                          now=time.time())
            fan_out(occurrence, new_id("msg"), services.webhooks, services.queue, services.log, time.time(),
                    dispatches=services.dispatches, pull_log=services.pull_log)
        dispatched = dict(calls)
    rows = {}
    for name in ("first", "again"):
        with counting.measuring() as calls:
            data, _, _ = poll(webhook, services.pull_log, 0, messages, 0, lambda message: False)
        if len(data) != messages:
            raise SystemExit(f"a poll returned {len(data)} of {messages}")
        rows[name] = dict(calls)
    return {"messages": messages, "fan_out": dispatched, **rows}


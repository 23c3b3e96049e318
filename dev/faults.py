"""``make faults``: the local run on an AWS that fails as AWS does, and what reached the endpoints checked.

It starts the local run's two moto servers with the stack's resources, puts a fault proxy
(dev/fault_proxy.py) in front of each, and starts ``python -m dev.run`` in its "own AWS" mode
(``WEBHOOKS_TABLE`` and ``DELIVERY_QUEUE_URL`` set) with ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_DYNAMODB`` at the proxies. A loopback receiver answers 500 to the first POST
of about one message in ten. Two webhooks are made; then the faults are switched on, and the
platform side dispatches ``events`` platform events (``activityEnrollment``) over ``people``
people, each person's in order, each with an ``Idempotency-Key`` of its own, retried as a
platform would: the same key, on a 5xx or no answer, up to 5 times, waiting ``Retry-After`` or a
growing pause (0.5 s, 1 s, 2 s...). The fault model is the issue's (issue 28): 5% of DynamoDB
writes and SQS sends answered 500 or throttled, 2% forwarded and their answer dropped, 2%
answered 1.5 s late, and DynamoDB answering 500 to everything for ``brownout_seconds`` (4 s), once
when a third of the events are dispatched and once when two thirds of the deliveries have
arrived. ``--brownout-seconds 10`` is the harsher one.

Then it counts, from what the receiver got, the platform's answers and the delivery log:

- lost (dispatched, neither delivered nor ``failed`` in the log), order breaks, sequence gaps and
  changes (as ``make chaos`` counts them, dev/chaos.py);
- duplicates: POSTs of a message after a 2xx answer to it;
- records missing from the log: a message answered 2xx that the log does not hold;
- log says not delivered: one answered 2xx whose record is not ``delivered``;
- attempts missing from the log: POSTs the receiver got beyond the attempts the record counts;
- dispatches refused: events the platform gave up on (no ``202`` after its retries);
- dispatches answered 409 for their own retry (every key here is used once, with one set of
  parameters, so any 409 is).

    python -m dev.faults [--people 20] [--events 400] [--webhooks 2] [--brownout-seconds 4] [--seed 28]

tests/local/test_aws_faults.py runs a smaller one in the suite.
"""

import argparse
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from dev import chaos
from dev.fault_proxy import ISSUE_MODEL, FaultModel, FaultProxy, Faults
from dev.local_service import start_local_service
from dev.receiver import Receiver
from dev.run import LocalRun

LOCAL_SETTINGS = {
    "RETRY_SCHEDULE": "0s,1s,2s,4s,8s,16s",
    "DELIVERY_TIMEOUT_SECONDS": "5",
}
PLATFORM_TRIES = 6  # the first call and 5 retries
PLATFORM_TIMEOUT = 30  # seconds a platform waits for an answer (API Gateway's is 29)


@dataclass
class Figures:
    expected: int = 0
    delivered: int = 0
    failed: int = 0
    lost: int = 0
    order_breaks: int = 0
    sequence_gaps: int = 0
    sequence_reuses: int = 0
    sequence_changes: int = 0
    resends_after_2xx: int = 0
    log_missing: int = 0
    log_not_delivered: int = 0
    attempts_missing: int = 0
    dispatches: int = 0
    dispatches_refused: int = 0
    dispatches_409: int = 0
    dispatch_retries: int = 0
    posts: int = 0
    seconds: float = 0.0
    dispatch_seconds: float = 0.0
    faults: dict = field(default_factory=dict)
    details: list = field(default_factory=list)

    @property
    def duplicates(self):
        return self.resends_after_2xx

    def lines(self):
        injected = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()) if name != "forward")
        return [
            f"delivered:                    {self.delivered} of {self.expected} ({self.failed} failed, as recorded)",
            f"lost:                         {self.lost}",
            f"order breaks:                 {self.order_breaks}",
            f"sequence gaps:                {self.sequence_gaps} (numbers used twice: {self.sequence_reuses})",
            f"sequence changes:             {self.sequence_changes}",
            f"duplicates:                   {self.duplicates}",
            f"records missing from the log: {self.log_missing}",
            f"attempts missing from the log: {self.attempts_missing}",
            f"log says not delivered:       {self.log_not_delivered}",
            f"dispatches refused:           {self.dispatches_refused} of {self.dispatches}"
            f" (retried by the platform: {self.dispatch_retries})",
            f"dispatches answered 409 for their own retry: {self.dispatches_409}",
            f"POSTs:                        {self.posts}, in {self.seconds:.1f}s (dispatched in {self.dispatch_seconds:.1f}s)",
            f"AWS faults made:              {injected} (requests passed through: {self.faults.get('forward', 0)})",
        ]


def call(port, name, token, params, headers=None, timeout=PLATFORM_TIMEOUT):
    """One API call: (status, body, Retry-After), or (None, error, None) when no answer came."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{name}", data=json.dumps(params).encode(), method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read()), None
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read())
        except ValueError:
            body = None
        return error.code, body, error.headers.get("Retry-After")
    except OSError as error:  # no answer: refused, reset, timed out
        return None, repr(error), None


class Platform:
    """Dispatches as a platform would: each event with its own Idempotency-Key, retried with that
    key on a 5xx or no answer, up to 5 times, waiting Retry-After or a growing pause."""

    def __init__(self, service, figures, seed):
        self._service = service
        self._figures = figures
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def dispatch(self, key, params):
        """True when the event was accepted (202)."""
        for attempt in range(PLATFORM_TRIES):
            status, body, retry_after = call(self._service.port, "webhook.dispatch", self._service.token, params,
                                             {"Idempotency-Key": key})
            if status == 202:
                return True
            with self._lock:
                if status == 409:
                    self._figures.dispatches_409 += 1
                    self._figures.details.append(f"409 for {key} (try {attempt + 1}): {body}")
                if status is not None and status < 500:
                    break  # the contract says it will not help to try again
                if attempt + 1 < PLATFORM_TRIES:
                    self._figures.dispatch_retries += 1
                pause = max(float(retry_after or 0), 0.5 * 2 ** attempt) * self._random.uniform(1.0, 1.25)
            time.sleep(pause)
        with self._lock:
            self._figures.dispatches_refused += 1
            self._figures.details.append(f"refused: {key}: {status} {body}")
        return False


def run(people=20, events=400, webhooks=2, brownout_seconds=4.0, brownouts=2, seed=28, model=ISSUE_MODEL,
        timeout=300, settings=None):
    """One fault run; returns its :class:`Figures`."""
    figures = Figures()
    model = replace(model, seed=seed, brownout_seconds=brownout_seconds)
    faults = Faults(FaultModel())  # off while the run starts and the webhooks are made
    backend = LocalRun({k: v for k, v in os.environ.items()
                        if k not in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "MOTO_PORT")})
    try:
        backend.start_moto()
        backend.create_stack()
        with FaultProxy(backend.env["AWS_ENDPOINT_URL"], faults) as aws, \
                FaultProxy(backend.env["AWS_ENDPOINT_URL_DYNAMODB"], faults) as dynamodb, \
                Receiver(check_schema=False) as receiver:
            receiver.rule = chaos.first_post_fails()
            own_aws = {name: backend.env[name] for name in ("WEBHOOKS_TABLE", "DELIVERY_QUEUE_URL", "ERASURE_QUEUE_URL",
                                                           "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                           "AWS_DEFAULT_REGION")}
            ports = [url.rsplit(":", 1)[1] for url in (aws.url, dynamodb.url, backend.env["AWS_ENDPOINT_URL"],
                                                       backend.env["AWS_ENDPOINT_URL_DYNAMODB"])]
            service = start_local_service({**LOCAL_SETTINGS, **own_aws, "AWS_ENDPOINT_URL": aws.url,
                                           "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.url,
                                           "WEBHOOK_DENY_PORTS": ",".join(ports), **(settings or {})})
            try:
                service.wait_ready()
                _run(service, receiver, faults, model, figures, people, events, webhooks, brownouts, timeout)
            finally:
                faults.set_model(FaultModel())
                service.stop()
    finally:
        backend.stop()
    return figures


def _run(service, receiver, faults, model, figures, people, events, webhooks, brownouts, timeout):
    hooks = []
    for n in range(webhooks):
        status, body = service.call("webhook.create", service.token, eventID="faults", type="activityEnrollment",
                                    url=f"{receiver.url}/{n}")
        assert status == 201, body
        hooks.append(body["webhookID"])
    started = time.monotonic()
    faults.set_model(model)
    platform = Platform(service, figures, model.seed)
    dispatched = defaultdict(list)  # person: [index of each event the platform got a 202 for, in order]
    done = [0]
    lock = threading.Lock()

    def dispatch_person(person):
        for index in range(person, events, people):
            params = {"type": "activityEnrollment", "eventID": "faults", "activityID": "98", "personID": f"p{person}",
                      "data": {"chaosIndex": index}}
            accepted = platform.dispatch(f"faults-{model.seed}-{index}", params)
            with lock:
                done[0] += 1
                if accepted:
                    dispatched[person].append(index)

    expected_posts = events * webhooks
    brownout_thread = threading.Thread(target=_brownouts, daemon=True,
                                       args=(faults, brownouts, lambda: done[0] / events,
                                             lambda: len(chaos._first_2xx(receiver)) / expected_posts))
    brownout_thread.start()
    with ThreadPoolExecutor(max_workers=min(people, 8)) as pool:
        list(pool.map(dispatch_person, range(people)))
    figures.dispatch_seconds = time.monotonic() - started
    figures.dispatches = events
    figures.expected = sum(len(indexes) for indexes in dispatched.values()) * webhooks
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(chaos._first_2xx(receiver)) < figures.expected:
        time.sleep(0.5)
    time.sleep(2.0)  # a record is written just after its 2xx; a re-send would come now
    figures.seconds = time.monotonic() - started
    faults.set_model(FaultModel())  # the log is read on a quiet AWS
    figures.faults = dict(faults.counts)
    log = {hook: _whole_log(service, hook) for hook in hooks}
    failed = {(hook, message_id) for hook, messages in log.items() for message_id, message in messages.items()
              if message["status"] == "failed"}
    chaos._count(figures, receiver, dispatched, hooks, failed)
    _count_log(figures, receiver, log)


def _brownouts(faults, count, dispatched_share, delivered_share):
    """The first brownout once a third of the events are dispatched, the second once two thirds of
    the deliveries have arrived (then one more each further third, if more are asked for)."""
    for n in range(count):
        share = (n + 1) / (count + 1)
        measure = dispatched_share if n == 0 else delivered_share
        deadline = time.monotonic() + 600
        while measure() < share and time.monotonic() < deadline:
            time.sleep(0.05)
        faults.brownout()
        time.sleep(faults.model.brownout_seconds)


def _whole_log(service, hook):
    """messageID: message, as webhook.deliveries lists them."""
    messages, cursor = {}, None
    while True:
        params = {"webhookID": hook, "limit": 200, **({"cursor": cursor} if cursor else {})}
        status, body = service.call("webhook.deliveries", service.token, **params)
        assert status == 200, body
        messages.update((m["messageID"], m) for m in body["data"])
        cursor = body.get("cursor")
        if not cursor:
            return messages


def _count_log(figures, receiver, log):
    posts = defaultdict(list)  # (webhookID, messageID): [status answered]
    for request in list(receiver.requests):
        try:
            hook = request.json()["webhookID"]
        except (ValueError, KeyError):
            continue  # a body cut short (no worker is killed here, so none is)
        posts[(hook, request.headers.get("webhook-id"))].append(request.status)
    for (hook, message_id), statuses in posts.items():
        record = log.get(hook, {}).get(message_id)
        if any(200 <= status < 300 for status in statuses):
            if record is None:
                figures.log_missing += 1
                figures.details.append(f"not in the log: {hook} {message_id}")
            elif record["status"] != "delivered":
                figures.log_not_delivered += 1
                figures.details.append(f"log says {record['status']}: {hook} {message_id}")
        recorded = max((a["attempt"] for a in record["attempts"]), default=0) if record else 0
        if len(statuses) > recorded:
            figures.attempts_missing += len(statuses) - recorded
            figures.details.append(f"{len(statuses)} POSTs, {recorded} attempts recorded: {hook} {message_id}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--webhooks", type=int, default=2)
    parser.add_argument("--brownout-seconds", type=float, default=4.0,
                        help="how long DynamoDB answers 500 to everything, each time (10: the harsher model)")
    parser.add_argument("--brownouts", type=int, default=2)
    parser.add_argument("--seed", type=int, default=28)
    args = parser.parse_args(argv)
    figures = run(args.people, args.events, args.webhooks, args.brownout_seconds, args.brownouts, args.seed)
    print("\n".join(figures.lines()))
    for line in figures.details[:30]:
        print("  " + line)
    print(json.dumps({k: v for k, v in figures.__dict__.items() if k != "details"}))


if __name__ == "__main__":
    main()

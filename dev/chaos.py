"""``make chaos``: the local run's worker killed while it delivers, and contract section 13 checked.

It starts the local run (``python -m dev.run``, which starts a new worker when one dies, as
Lambda would), a loopback receiver that answers 500 to the first POST of about one message in
ten, and dispatches ``events`` platform events over ``people`` people to ``webhooks`` webhooks
that each take several types (contract, section 17), each person's events in order and of the
types in turn (``activityEnrollment``, ``eventCheckIn``, ``activityCheckIn``...): order and
``sequence`` are kept per webhook and person across all of a webhook's types. Meanwhile the worker is killed with
SIGKILL: ``after_2xx`` times right after a POST answered 2xx and before its record (the hook
``LOCAL_WORKER_DIE_AFTER_2XX`` of dev/worker.py), and ``kills`` times from outside, at moments
spread over the run. Then it counts, from what the receiver got and the delivery log:

- delivered, lost (neither delivered nor ``failed`` in ``webhook.deliveries``);
- order breaks (a person's later message answered 2xx before an earlier one, at one webhook);
- sequence gaps and reuses (a webhook's sequences about a person are not 1, 2, 3...);
- sequence changes (a message POSTed again with another ``webhook-id``, body or sequence);
- re-sends after a 2xx (a message POSTed again after a 2xx answer), against the kills.

    python -m dev.chaos [--people 20] [--events 600] [--webhooks 2] [--after-2xx 3] [--kills 3]

tests/local/test_worker_killed.py runs a smaller one in the suite.
"""

import argparse
import hashlib
import json
import os
import re
import signal
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dev.local_service import start_local_service
from dev.receiver import Receiver

# Settings that make a killed worker's messages come back within seconds, not minutes.
LOCAL_SETTINGS = {
    "LOCAL_VISIBILITY_TIMEOUT": "6",  # what a dead worker held comes back after this long
    "LOCAL_FUNCTION_TIMEOUT": "5",  # shorter than the visibility timeout, as on Lambda
    "DELIVERY_TIMEOUT_SECONDS": "1",
    "RETRY_SCHEDULE": "0s,1s,1s,1s,1s",
}
# The types of the chaos webhooks, dispatched in turn: a person's messages of all of them are
# one order and one count of sequence at each webhook.
TYPES = ("activityEnrollment", "eventCheckIn", "activityCheckIn")


@dataclass
class Figures:
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    failed: int = 0
    order_breaks: int = 0
    sequence_gaps: int = 0
    sequence_reuses: int = 0
    sequence_changes: int = 0
    resends_after_2xx: int = 0
    kills: int = 0
    posts: int = 0
    seconds: float = 0.0
    details: list = field(default_factory=list)

    def lines(self):
        return [
            f"delivered:            {self.delivered} of {self.expected} ({self.failed} failed, as recorded)",
            f"lost:                 {self.lost}",
            f"order breaks:         {self.order_breaks}",
            f"sequence gaps:        {self.sequence_gaps} (numbers used twice: {self.sequence_reuses})",
            f"sequence changes:     {self.sequence_changes}",
            f"re-sends after 2xx:   {self.resends_after_2xx} (worker kills: {self.kills})",
            f"POSTs:                {self.posts}, in {self.seconds:.1f}s",
        ]


def first_post_fails(share=10):
    """A receiver rule: 500 to the first POST of about one message in ``share``, 2xx otherwise."""
    seen, lock = set(), threading.Lock()

    def rule(request, earlier):
        message_id = request.headers.get("webhook-id", "")
        with lock:
            first = message_id not in seen
            seen.add(message_id)
        unlucky = int(hashlib.sha256(message_id.encode()).hexdigest(), 16) % share == 0
        return 500 if first and unlucky else 200

    return rule


def worker_pid(service):
    """The local run's current worker, from what it printed."""
    pids = [int(m.group(1)) for line in list(service.lines)
            for m in [re.search(r"(?:worker pid:|restarted as pid)\s+(\d+)", line)] if m]
    return pids[-1] if pids else None


def run(people=20, events=600, webhooks=2, after_2xx=3, kills=3, timeout=300, settings=None):
    """One chaos run; returns its :class:`Figures`."""
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="chaos-") as folder, Receiver(check_schema=False) as receiver:
        receiver.rule = first_post_fails()
        total = events * webhooks
        # Kill points spread over the run: after so many 2xx answers of one worker.
        step = max(1, total // (after_2xx + kills + 1))
        die_file = os.path.join(folder, "die-after-2xx")
        with open(die_file, "w") as handle:
            handle.write(" ".join(str(step // 2 + i) for i in range(after_2xx)))
        service = start_local_service({**LOCAL_SETTINGS, "LOCAL_WORKER_DIE_AFTER_2XX": die_file, **(settings or {})})
        try:
            service.wait_ready()
            started = time.monotonic()
            hooks = []
            for n in range(webhooks):
                status, body = service.call("webhook.create", service.token, eventID="chaos", types=list(TYPES),
                                            url=f"{receiver.url}/{n}")
                assert status == 201, body
                hooks.append(body["webhookID"])
            dispatched = defaultdict(list)  # person: [index of each event, in order]

            def dispatch_person(person):
                for index in range(person, events, people):
                    type_name = TYPES[(index // people) % len(TYPES)]
                    activity = {"activityID": "98"} if type_name.startswith("activity") else {}
                    for _ in range(20):
                        status, body = service.call("webhook.dispatch", service.token, type=type_name,
                                                    eventID="chaos", personID=f"p{person}", **activity,
                                                    data={"chaosIndex": index})
                        if status == 202:
                            break
                        time.sleep(0.2)
                    else:
                        raise AssertionError(f"dispatch refused: {status} {body}")
                    dispatched[person].append(index)

            killer = threading.Thread(target=_kill_now_and_then, args=(service, receiver, total, kills, figures),
                                      daemon=True)
            killer.start()
            with ThreadPoolExecutor(max_workers=min(people, 8)) as pool:
                list(pool.map(dispatch_person, range(people)))
            figures.expected = total
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if len(_first_2xx(receiver)) >= total:
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # a re-send after the last 2xx would come now
            killer.join(timeout=1)
            figures.seconds = time.monotonic() - started
            failed = _failed_in_log(service, hooks)
            figures.kills += sum(line.count("dying after a 2xx") for line in list(service.lines))
            _count(figures, receiver, dispatched, hooks, failed)
        finally:
            service.stop()
    return figures


def _kill_now_and_then(service, receiver, total, kills, figures):
    """SIGKILL the worker ``kills`` times, at moments spread over the deliveries."""
    for n in range(kills):
        goal = total * (n + 1) // (kills + 1)
        deadline = time.monotonic() + 120
        while len(receiver.successes()) < goal and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = worker_pid(service)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
            figures.kills += 1
        except ProcessLookupError:
            pass
        time.sleep(1.0)  # the local run starts the next one within a second


def _whole(receiver):
    """(position, request, payload) of each POST the receiver got whole (a worker killed while
    it sent one leaves a body cut short)."""
    for position, request in enumerate(list(receiver.requests)):
        try:
            payload = request.json()
        except ValueError:
            continue
        yield position, request, payload


def _first_2xx(receiver):
    """(webhookID, chaos index): position in arrival order of the first POST answered 2xx."""
    first = {}
    for position, request, payload in _whole(receiver):
        if 200 <= request.status < 300 and request.answered_at:
            first.setdefault((payload["webhookID"], payload["data"]["chaosIndex"]), position)
    return first


def _failed_in_log(service, hooks):
    """(webhookID, messageID) of every message ``failed`` in the delivery log."""
    failed = set()
    for hook in hooks:
        cursor = None
        while True:
            params = {"webhookID": hook, "status": "failed", "limit": 200, **({"cursor": cursor} if cursor else {})}
            status, body = service.call("webhook.deliveries", service.token, **params)
            assert status == 200, body
            failed.update((hook, m["messageID"]) for m in body["data"])
            cursor = body.get("cursor")
            if not cursor:
                break
    return failed


def _count(figures, receiver, dispatched, hooks, failed):
    posts = defaultdict(list)  # (webhookID, chaos index): [(position, request, payload)]
    for position, request, payload in _whole(receiver):
        posts[(payload["webhookID"], payload["data"]["chaosIndex"])].append((position, request, payload))
    figures.posts = len(receiver.requests)
    first = _first_2xx(receiver)
    for (hook, index), sent in posts.items():
        if len({(r.headers.get("webhook-id"), r.body, p["sequence"]) for _, r, p in sent}) > 1:
            figures.sequence_changes += 1
            figures.details.append(f"changed: {hook} event {index}")
        if (hook, index) in first:
            answered = sent[[pos for pos, _, _ in sent].index(first[(hook, index)])][1].answered_at
            figures.resends_after_2xx += sum(1 for _, r, _ in sent if r.at > answered)
    for hook in hooks:
        for person, indexes in dispatched.items():
            delivered = [i for i in indexes if (hook, i) in first]
            given_up = [i for i in indexes if (hook, i) not in first and posts.get((hook, i))
                        and (hook, posts[(hook, i)][0][1].headers.get("webhook-id")) in failed]
            figures.delivered += len(delivered)
            figures.failed += len(given_up)
            figures.lost += len(indexes) - len(delivered) - len(given_up)
            positions = [first[(hook, i)] for i in delivered]
            breaks = sum(1 for a, b in zip(positions, positions[1:]) if b < a)
            if breaks:
                figures.details.append(f"order broken {breaks}x: {hook} person {person}")
            figures.order_breaks += breaks
            sequences = [posts[(hook, i)][0][2]["sequence"] for i in delivered]
            reused = len(sequences) - len(set(sequences))
            figures.sequence_reuses += reused
            expected = len(delivered) + len(given_up)
            missing = set(range(1, expected + 1)) - set(sequences)
            given_up_sequences = {posts[(hook, i)][0][2]["sequence"] for i in given_up}
            figures.sequence_gaps += len(missing - given_up_sequences) + reused
            if sequences != sorted(sequences):
                figures.details.append(f"sequences out of order: {hook} person {person}: {sequences}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--webhooks", type=int, default=2)
    parser.add_argument("--after-2xx", type=int, default=3, help="kills right after a 2xx, before its record")
    parser.add_argument("--kills", type=int, default=3, help="kills from outside, spread over the run")
    args = parser.parse_args(argv)
    figures = run(args.people, args.events, args.webhooks, args.after_2xx, args.kills)
    print("\n".join(figures.lines()))
    for line in figures.details[:20]:
        print("  " + line)
    print(json.dumps({k: v for k, v in figures.__dict__.items() if k != "details"}))


if __name__ == "__main__":
    main()

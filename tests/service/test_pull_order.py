"""Section 18's hard promise, none skipped: many dispatchers put messages into one pull webhook's
log while pollers follow their chains of cursors, on a moto server that serves their requests
concurrently (one at a time, in any order), with each writer slowed at random between reading
where the log ends and writing its entry, as a slow Lambda would be. Every poller gets every
message exactly once, each person's in dispatch order and numbered 1, 2, 3...

A writer held between reading where the log ends and writing, while another's message is written
and polled past, is not skipped; with positions handed out before they are written (the naive
design: a counter, then the write) the same interleaving skips it.
"""

import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time

import boto3
import pytest

from chalicelib.delivery.queue import QueuedMessage
from chalicelib.pull.log import PullLog
from chalicelib.store.table import entry_key, serialize
from dev.local_service import free_port
from dev.resources import create_resources, service_environment
from dev.run import wait_until_up
from tests.helpers import ROOT

DISPATCHERS, EACH, PEOPLE = 6, 20, 5
WEBHOOK = "wh_01KBORDER0000000000000000"


@pytest.fixture(scope="module")
def table():
    """A moto server of the local run's, with the stack's table."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "dev.moto_server", "-H", "127.0.0.1", "-p", str(port)], cwd=ROOT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/moto-api/", server, "the moto server")
        options = {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1",
                   "aws_access_key_id": "local", "aws_secret_access_key": "local"}
        created = create_resources(boto3.client("dynamodb", **options), boto3.client("sqs", **options))
        yield options, service_environment(created)["WEBHOOKS_TABLE"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def slowed(options):
    """A DynamoDB client whose writes of log entries wait 0 to 25 ms first: a writer slowed between
    reading the end of the log and writing its entry."""
    from botocore.config import Config

    client = boto3.client("dynamodb", config=Config(max_pool_connections=50), **options)
    client.meta.events.register("before-call.dynamodb.PutItem", lambda **_: time.sleep(random.uniform(0, 0.025)))
    return client


class HandedOut(PullLog):
    """The naive design: a position handed out by a counter (an atomic ADD, here in memory), then
    the entry written there."""

    def __init__(self, *args):
        super().__init__(*args)
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def append(self, message, now, skipped=False):
        with self.lock:
            position = next(self.counter)
        self._db.put_item(TableName=self._table, Item={**entry_key(message.webhook_id, position), **serialize(
            {**message.fields(), "claimedAt": int(now * 1000), "expiresAt": int(now) + 86400})})
        return position


def interleave(log):
    """Dispatchers and two pollers at once; what each poller got, in order, as (messageID, person,
    sequence), and what was dispatched by each dispatcher, in order."""
    webhook = f"{WEBHOOK}{random.randrange(10**6):06d}"
    dispatched = [[] for _ in range(DISPATCHERS)]
    done = threading.Event()

    failures = []

    def dispatcher(n):
        try:
            dispatch(n)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            failures.append(exc)

    def dispatch(n):
        for i in range(EACH):
            person = f"p{(n + i) % PEOPLE}"
            message = QueuedMessage(f"msg_{n:02d}{i:03d}", webhook, "eventCheckIn", f"person:{person}",
                                    str(int(time.time())), int(time.time()), {"eventID": "1", "personID": person})
            log.append(message, time.time())
            dispatched[n].append(message.message_id)

    def poller(got):
        position = 0
        while True:
            finished = done.is_set()
            entries, position, more = log.after(webhook, position, 7, time.time())
            numbers = log.number(webhook, entries, lambda message: False, time.time())
            got += [(e.message.message_id, e.message.data["personID"], numbers[e.position][0]) for e in entries
                    if numbers.get(e.position, (0,))[0]]
            if finished and not entries and not more:
                return
            time.sleep(random.uniform(0, 0.01))

    got = [[], []]
    pollers = [threading.Thread(target=poller, args=(g,)) for g in got]
    dispatchers = [threading.Thread(target=dispatcher, args=(n,)) for n in range(DISPATCHERS)]
    for thread in pollers + dispatchers:
        thread.start()
    for thread in dispatchers:
        thread.join()
    done.set()
    for thread in pollers:
        thread.join(timeout=60)
    assert not failures, failures
    return got, dispatched


def test_pollers_get_every_message_once_in_order_however_dispatches_and_polls_interleave(table):
    options, name = table
    got, dispatched = interleave(PullLog(slowed(options), name))
    everything = sorted(m for messages in dispatched for m in messages)
    for chain in got:
        ids = [message_id for message_id, _, _ in chain]
        assert sorted(ids) == everything, f"{len(everything) - len(set(ids))} skipped, {len(ids) - len(set(ids))} twice"
        order = {message_id: index for index, message_id in enumerate(ids)}
        for messages in dispatched:  # each dispatcher's messages, in the order it dispatched them
            assert [order[m] for m in messages] == sorted(order[m] for m in messages)
        for person in {p for _, p, _ in chain}:
            assert [n for _, p, n in chain if p == person] == list(range(1, 1 + sum(1 for _, p, _ in chain if p == person)))
    assert got[0] == got[1]  # the same order and numbers for every chain


class Held:
    """Holds one message's first entry write until released: a writer slowed between reading
    where the log ends and writing there."""

    def __init__(self, client, message_id):
        self.message_id, self.blocked, self.release, self.once = message_id, threading.Event(), threading.Event(), True
        client.meta.events.register("before-parameter-build.dynamodb.PutItem", self)

    def __call__(self, params, **_):
        if self.once and params["Item"].get("messageID", {}).get("S") == self.message_id:
            self.once = False
            self.blocked.set()
            self.release.wait(10)


def a_slow_writer_overtaken(log):
    """A's writer is held between reading the end and writing; B's is written and polled past
    meanwhile; then A's goes on. Returns what a chain of cursors got."""
    webhook = f"{WEBHOOK}{random.randrange(10**6):06d}"
    held = Held(log._db, "msg_A")

    def message(name):
        return QueuedMessage(name, webhook, "eventEnd", "event:1", "1764273600", 1764273600, {"eventID": "1"})

    writer = threading.Thread(target=log.append, args=(message("msg_A"), time.time()))
    writer.start()
    assert held.blocked.wait(10)
    log.append(message("msg_B"), time.time())
    got, position = [], 0

    def poll():
        nonlocal position
        entries, position, _ = log.after(webhook, position, 10, time.time())
        numbers = log.number(webhook, entries, lambda message: False, time.time())
        got.extend(e.message.message_id for e in entries if numbers.get(e.position, (0,))[0])

    poll()
    held.release.set()
    writer.join(10)
    poll()
    return got


def test_a_message_written_late_by_a_slow_writer_is_not_skipped(table):
    options, name = table
    assert sorted(a_slow_writer_overtaken(PullLog(boto3.client("dynamodb", **options), name))) == ["msg_A", "msg_B"]


def test_the_naive_design_skips_the_slow_writers_message(table):
    options, name = table
    assert a_slow_writer_overtaken(HandedOut(boto3.client("dynamodb", **options), name)) == ["msg_B"]

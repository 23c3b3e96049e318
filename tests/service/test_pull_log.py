"""A pull webhook's log (chalicelib/pull/log.py) where its promises are hardest: a poll that dies while
it numbers a range, entries that expired or were removed by DynamoDB's TTL, messages put twice or
long after they were dispatched, and notices to a pull webhook."""

import time

import pytest

from chalicelib.delivery.queue import QueuedMessage
from chalicelib.errors import Unavailable
from chalicelib.ids import deterministic_id, new_id
from chalicelib.services import get_services
from chalicelib.store.table import entry_key

WEBHOOK = "wh_01KBPULL000000000000000000"


def message(person, at=None, webhook=WEBHOOK):
    """A message dispatched at ``at`` (its ID made then, as EventBridge's events' are)."""
    at = time.time() if at is None else at
    return QueuedMessage(deterministic_id("msg", new_id("seed"), int(at * 1000)), webhook, "eventCheckIn",
                         f"person:{person}", str(int(at)), int(at), {"eventID": "1", "personID": person})


def never_erased(_):
    return False


@pytest.fixture
def log(aws):
    return get_services().pull_log


def read_all(log, webhook=WEBHOOK):
    entries, _, _ = log.after(webhook, 0, 500, time.time())
    numbers = log.number(webhook, entries, never_erased, time.time())
    return [(e.message.message_id, numbers[e.position][0]) for e in entries if numbers[e.position][0]]


def test_a_poll_that_dies_while_numbering_leaves_a_range_the_next_poll_finishes_with_the_same_numbers(log, monkeypatch):
    sent = [log.append(message(person), time.time()) and person for person in ("1", "2", "1", "3", "1")]
    assert sent
    entries, _, _ = log.after(WEBHOOK, 0, 10, time.time())
    real = log._put_counter
    written = []

    def dies_after_two(*args):
        if len(written) == 2:
            raise RuntimeError("the Lambda died here")
        written.append(args[1])
        return real(*args)

    monkeypatch.setattr(log, "_put_counter", dies_after_two)
    with pytest.raises(RuntimeError):
        log.number(WEBHOOK, entries, never_erased, time.time())
    assert log.state(WEBHOOK).pending == (1, 5) and len(written) == 2  # two counters moved, the range not finished
    monkeypatch.setattr(log, "_put_counter", real)
    numbers = log.number(WEBHOOK, entries, never_erased, time.time())
    assert [numbers[e.position][0] for e in entries] == [1, 1, 2, 1, 3]  # as if the first had finished
    assert log.state(WEBHOOK).returned == 5 and log.state(WEBHOOK).pending is None
    log.append(message("1"), time.time())
    assert read_all(log)[-1][1] == 4  # and person 1 goes on from there


def test_two_polls_numbering_the_same_range_agree(log):
    for person in ("1", "1", "2"):
        log.append(message(person), time.time())
    entries, _, _ = log.after(WEBHOOK, 0, 10, time.time())
    first = log.number(WEBHOOK, entries, never_erased, time.time())
    again = log.number(WEBHOOK, entries, never_erased, time.time())
    assert {p: n for p, (n, _) in first.items()} == {p: n for p, (n, _) in again.items()} == {1: 1, 2: 2, 3: 1}


def test_a_message_put_twice_is_numbered_once(log):
    twice = message("1")
    log.append(twice, time.time())
    log.append(message("1"), time.time())
    log.append(twice, time.time())  # a fan-out retried after a failure
    assert [n for _, n in read_all(log)] == [1, 2]


def test_expired_and_removed_entries_are_passed_and_the_rest_returned(log):
    for person in "12345":
        log.append(message(person), time.time())
    services = get_services()
    db, table = services.dynamodb, services.settings.table_name
    db.update_item(TableName=table, Key=entry_key(WEBHOOK, 1), UpdateExpression="SET expiresAt = :past",
                   ExpressionAttributeValues={":past": {"N": "1"}})  # past its retention, not yet removed
    db.delete_item(TableName=table, Key=entry_key(WEBHOOK, 2))  # removed by DynamoDB's TTL
    entries, last, more = log.after(WEBHOOK, 0, 10, time.time())
    assert [e.position for e in entries] == [3, 4, 5] and (last, more) == (5, False)


def test_a_message_put_long_after_it_was_dispatched_is_found_by_its_id(log):
    early = message("1", at=time.time() - 600)  # a dispatch retried ten minutes later
    for person in "234":
        log.append(message(person), time.time())
    log.append(early, time.time())
    log.append(message("5"), time.time())
    assert log.find(WEBHOOK, early.message_id).message.message_id == early.message_id


def test_a_message_is_found_by_its_id_among_many(log):
    sent = []
    for n in range(60):
        sent.append(message(str(n), at=1764273600 + n))
        log.append(sent[-1], 1764273600 + n)
    for index in (0, 37, 59):
        assert log.find(WEBHOOK, sent[index].message_id).position == index + 1
    assert log.find(WEBHOOK, deterministic_id("msg", "never sent", 1764273630_000)) is None


def test_writers_racing_for_one_position_each_get_their_own(log, monkeypatch):
    services = get_services()
    positions = []
    real = log._last_position

    def stale(webhook_id, consistent):  # every writer read the end before the others wrote
        return 0 if not consistent else real(webhook_id, consistent)

    monkeypatch.setattr(log, "_last_position", stale)
    for person in "123":
        positions.append(log.append(message(person), time.time()))
    assert positions == [1, 2, 3] and services


def test_a_busy_log_gives_up_with_a_503_not_a_wrong_position(log, monkeypatch):
    monkeypatch.setattr(log, "_last_position", lambda webhook_id, consistent: 0)
    for person in "12":
        log.append(message(person), time.time())
    monkeypatch.setattr("chalicelib.pull.log._APPEND_TRIES", 1)
    with pytest.raises(Unavailable):
        log.append(message("3"), time.time())


def test_a_pull_webhook_that_takes_message_failed_is_told(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s")
    failing = api.create(receiver.url)
    status, watcher = api.call("webhook.create", eventID="1234", delivery="pull", types=["messageFailed"])
    assert status == 201
    receiver.answer(500)
    message_id = api.dispatch()["messageID"]
    worker.run()
    worker.run()
    (entry,) = api.call("webhook.poll", webhookID=watcher["webhookID"])[1]["data"]
    assert '"messageFailed"' in entry["body"] and message_id in entry["body"] and failing["webhookID"] in entry["body"]


@pytest.mark.parametrize("limit", [1, 50, 200])
def test_a_filtered_page_of_a_pull_log_that_matches_nothing_reads_at_most_200_entries_and_gives_a_cursor(log, limit):
    # As a push webhook's page (tests/service/test_log_pages.py): the bound is on what is read, not found.
    for n in range(300):  # one at a time: the in-process moto's conditional writes are not atomic across threads
        log.append(message(str(n)), time.time())
    read = [0]
    services = get_services()
    services.dynamodb.meta.events.register("after-call.dynamodb.Query",
                                           lambda parsed, **_: read.__setitem__(0, read[0] + parsed.get("ScannedCount", 0)))
    records, cursor = log.page(WEBHOOK, time.time(), type="activityEnrollment", limit=limit)  # no such message
    assert records == [] and cursor is not None
    assert read[0] <= 200
    older, _ = log.page(WEBHOOK, time.time(), limit=300, cursor=cursor)  # the cursor goes on below what was read
    assert [int(r.sk[4:]) for r in older] == list(range(100, 0, -1))

"""What one webhook.deliveries page may read (issue 28, finding 7): filtered on the server, it
reads at most 200 records, as one unfiltered page of the largest size does, however little the
filter matches, and answers a cursor to go on (a page may then hold fewer matches than ``limit``,
even none)."""

import time

import pytest

from chalicelib.delivery.queue import QueuedMessage
from chalicelib.ids import deterministic_id
from chalicelib.services import get_services


def records_read(services):
    """How many records the table's Queries read from now on (their ScannedCount), in a list."""
    read = [0]

    def count(parsed, **_):
        read[0] += parsed.get("ScannedCount", 0)

    services.dynamodb.meta.events.register("after-call.dynamodb.Query", count)
    return read


def a_log(api, skipped=600, failed_every=None):
    """A webhook whose log holds ``skipped`` messages, newest last; every ``failed_every``-th one
    (counting from the oldest) failed instead. Returns the webhook and the failed messages' IDs,
    newest first."""
    hook = api.create("http://127.0.0.1:9/x")
    services = get_services()
    now = time.time()
    messages = [QueuedMessage(message_id=deterministic_id("msg", str(n), int(now * 1000) - 10_000 + n),
                              webhook_id=hook["webhookID"], type="activityEnrollment", subject=f"person:{n}",
                              date=str(int(now)), timestamp=int(now),
                              data={"eventID": "1234", "activityID": "98", "personID": str(n)})
                for n in range(skipped)]
    services.log.put_skipped(messages, now)
    failed = [m.message_id for n, m in enumerate(messages) if failed_every and n % failed_every == 0]
    if failed:
        from chalicelib.store.table import message_key

        for message_id in failed:
            services.dynamodb.update_item(TableName=services.settings.table_name,
                                          Key=message_key(hook["webhookID"], message_id),
                                          UpdateExpression="SET #s = :failed", ExpressionAttributeNames={"#s": "status"},
                                          ExpressionAttributeValues={":failed": {"S": "failed"}})
    return hook, list(reversed(failed))


@pytest.mark.parametrize("limit", [1, 50, 200])
def test_a_filtered_page_that_matches_nothing_reads_at_most_200_records_and_gives_a_cursor(api, limit):
    hook, _ = a_log(api)
    read = records_read(get_services())
    status, page = api.call("webhook.deliveries", webhookID=hook["webhookID"], status="failed", limit=limit)
    assert status == 200 and page["count"] == 0 and page["data"] == []
    assert page["cursor"] is not None  # more of the log is left: an empty page with a cursor to follow
    assert read[0] <= 200


def test_an_unfiltered_page_reads_what_it_answers(api):
    hook, _ = a_log(api)
    read = records_read(get_services())
    page = api.call("webhook.deliveries", webhookID=hook["webhookID"], limit=10)[1]
    assert page["count"] == 10 and page["cursor"] is not None
    assert read[0] <= 50  # one Query of the smallest size


def test_following_the_cursors_of_a_sparse_filter_finds_every_match_in_order(api):
    hook, failed = a_log(api, skipped=600, failed_every=97)  # 7 failed among 600
    read = records_read(get_services())
    found, cursor, pages = [], None, 0
    while True:
        params = {"webhookID": hook["webhookID"], "status": "failed", "limit": 5, **({"cursor": cursor} if cursor else {})}
        page = api.call("webhook.deliveries", **params)[1]
        found += [m["messageID"] for m in page["data"]]
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert found == failed
    assert read[0] <= 600 + pages  # the log read about once, whatever the pages
    assert pages >= 3  # 600 records cannot be read by one page


def test_a_page_of_dates_is_bounded_the_same_way(api):
    hook, _ = a_log(api)
    read = records_read(get_services())
    page = api.call("webhook.deliveries", webhookID=hook["webhookID"], **{"from": "1", "to": "2"}, limit=1)[1]
    assert page["count"] == 0 and page["cursor"] is not None and read[0] <= 200

"""The owner's listing at the limits (contract, sections 10, 14, 17 and 19 to 22): 200 webhooks of one
event, each with the largest url, headers and filter allowed, as many types as the level has, and
the largest keys, OAuth client, template and description, are found with one Query page (those
stay in the webhook items), a fan-out to them costs 1 Query, its dispatch record's UpdateItem and
ceil(N/10) SendMessageBatch whatever their types, and webhook.find answers them well under
Lambda's 6 MB."""

import json
import math

import pytest

from chalicelib.catalog import CATALOG
from chalicelib.services import get_services
from dev.bench_aws import LARGEST_FILTER, item_size, largest_webhook, store_directly

OWNER = "limits"


@pytest.fixture
def at_the_limits(aws):
    services = get_services()
    assert sum(len(each.encode()) for each in LARGEST_FILTER["personID"]) == 1024  # the bound of a filter in all
    store_directly(services, [largest_webhook(n, OWNER) for n in range(services.settings.max_webhooks_per_owner)])
    return services


class Calls:
    def __init__(self, *clients):
        self.made, self.pages = [], []
        for client in clients:
            client.meta.events.register("before-call", lambda model, **_: self.made.append(model.name))
            client.meta.events.register("after-call.dynamodb.Query", lambda parsed, **_: self.pages.append(parsed))


def test_an_owners_200_largest_webhooks_are_one_query_page(at_the_limits):
    calls = Calls(at_the_limits.dynamodb)
    listed = at_the_limits.webhooks.list("event", OWNER)
    assert len(listed) == 200 and calls.made == ["Query"]
    assert "LastEvaluatedKey" not in calls.pages[0] and calls.pages[0]["Count"] == 200
    assert sum(item_size(item) for item in calls.pages[0]["Items"]) < 1_000_000  # DynamoDB's page, with a margin


def test_a_fan_out_to_them_costs_one_query_and_a_send_per_ten_whatever_their_types(api, at_the_limits):
    calls = Calls(at_the_limits.dynamodb, at_the_limits.sqs)
    for type_name in ("eventCheckIn", "activityDismissal"):
        calls.made.clear()
        ids = {"activityID": "98"} if "activityID" in CATALOG[type_name].fields else {}
        person = LARGEST_FILTER["personID"][7]
        answer = api.call("webhook.dispatch", type=type_name, eventID=OWNER, personID=person, **ids)[1]
        matching = sum(1 for n in range(200) if type_name in largest_webhook(n, OWNER).types)
        assert answer["webhooks"] == matching
        assert sorted(calls.made) == sorted(["GetItem", "Query", "UpdateItem"]
                                            + ["SendMessageBatch"] * math.ceil(matching / 10))


def test_find_answers_them_well_under_lambdas_6_mb(api, at_the_limits):
    response = api.client.http.get(f"/api/webhook.find?eventID={OWNER}",
                                   headers={"authorization": f"Bearer {api.token}"})
    body = json.loads(response.body)
    assert response.status_code == 200 and body["count"] == 200
    shown = body["data"][0]
    assert len(shown["url"]) == 2048 and shown["filter"] == LARGEST_FILTER and len(shown["description"]) == 200
    assert shown["publicKey"] and shown["previousPublicKey"] and len(shown["auth"]["scope"]) == 1023
    assert len(response.body) < 3 * 1024 * 1024

"""webhook.create, find, remove and the examples, as an organizer calls them (contract, 2 and 3): one
webhook per endpoint however its url is spelled, secrets shown only in the answers that make them, a
description per webhook (section 22)."""

import base64
import json
import re
import time

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.delivery.destinations import DestinationPolicy
from chalicelib.services import get_services
from tests.service.helpers import FakeDNS

URL = "http://127.0.0.1:9/hooks/inevent"
DOWN = "http://127.0.0.1:9/down"  # nothing listens: every attempt fails at once


def test_create_answers_201_with_the_webhook_and_a_secret_shown_once(api):
    before = int(time.time())
    body = api.create(URL)
    assert re.fullmatch(r"wh_[0-9A-Z]{26}", body["webhookID"])
    assert body["eventID"] == "1234"
    assert body["type"] == "activityEnrollment"
    assert body["url"] == URL
    assert before <= int(body["date"]) <= int(time.time())
    assert body["status"] == "enabled"
    secret = body["secret"]
    assert secret.startswith("whsec_") and 24 <= len(base64.b64decode(secret[6:])) <= 64


def test_find_lists_the_events_webhooks_in_creation_order_without_secrets(api):
    first = api.create(URL + "/1")
    second = api.create(URL + "/2", type="activityDismissal")
    api.create(URL + "/3", event_id="999")
    status, body = api.call("webhook.find", http="GET", eventID="1234")
    assert status == 200
    assert body["count"] == 2
    assert [hook["webhookID"] for hook in body["data"]] == [first["webhookID"], second["webhookID"]]
    assert set(body["data"][0]) == {"webhookID", "eventID", "type", "types", "url", "delivery", "date", "status",
                                   "headers", "rateLimit", "filter", "signature", "publicKey", "previousPublicKey",
                                   "auth", "description"}


def test_find_filters_by_type(api):
    api.create(URL + "/1")
    dismissal = api.create(URL + "/2", type="activityDismissal")
    status, body = api.call("webhook.find", eventID="1234", type="activityDismissal")
    assert status == 200
    assert [hook["webhookID"] for hook in body["data"]] == [dismissal["webhookID"]]


def test_find_on_an_event_with_none_is_an_empty_list(api):
    assert api.call("webhook.find", http="GET", eventID="77") == (200, {"count": 0, "data": []})


def test_the_same_event_type_and_url_twice_is_409_naming_the_existing_webhook(api):
    existing = api.create(URL)
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=URL)
    assert status == 409
    assert body["error"]["code"] == "duplicate"
    assert existing["webhookID"] in body["error"]["message"]


def test_the_same_url_for_the_other_type_or_event_is_allowed(api):
    api.create(URL)
    api.create(URL, type="activityDismissal")
    api.create(URL, event_id="5678")


def test_an_eventid_given_as_a_number_is_returned_as_a_string(api):
    body = api.create(URL, event_id=1234)
    assert body["eventID"] == "1234"


def test_remove_answers_the_removed_webhook_and_find_no_longer_lists_it(api):
    hook = api.create(URL)
    status, body = api.call("webhook.remove", webhookID=hook["webhookID"])
    assert status == 200
    assert body["webhookID"] == hook["webhookID"] and "secret" not in body
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 0
    status, body = api.call("webhook.remove", webhookID=hook["webhookID"])
    assert status == 404 and body["error"]["field"] == "webhookID"


def test_after_removal_the_same_url_can_be_registered_again_with_a_new_id(api):
    hook = api.create(URL)
    api.call("webhook.remove", webhookID=hook["webhookID"])
    again = api.create(URL)
    assert again["webhookID"] != hook["webhookID"]


def test_request_example_is_a_delivery_that_verifies_with_the_webhooks_secret(api):
    hook = api.create(URL, type="activityDismissal")
    status, example = api.call("webhook.requestExample", http="GET", webhookID=hook["webhookID"])
    assert status == 200
    assert example["method"] == "POST" and example["url"] == URL
    headers = example["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert headers["user-agent"]
    payload = Webhook(hook["secret"]).verify(example["body"], headers)
    assert payload == example["payload"]
    assert payload["type"] == "activityDismissal"
    assert payload["webhookID"] == hook["webhookID"]
    assert payload["data"]["eventID"] == "1234"
    assert set(payload["data"]) == {"eventID", "activityID", "personID", "date"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", payload["timestamp"])


def test_response_example_shows_the_real_rules(api, settings):
    settings(RETRY_SCHEDULE="0s,250ms,5s,2m,1h", DELIVERY_TIMEOUT_SECONDS="7")
    hook = api.create(URL)
    status, body = api.call("webhook.responseExample", http="GET", webhookID=hook["webhookID"])
    assert status == 200
    assert body["status"] == 200
    assert body["headers"] == {"content-type": "application/json"}
    assert body["body"] == {"received": True}
    assert body["rules"] == {
        "success": "any 2xx status within the timeout",
        "timeoutSeconds": 7,
        "gone": "410 disables the webhook",
        "retrySchedule": ["0s", "250ms", "5s", "2m", "1h"],
    }


def test_response_example_defaults_match_the_contract(api):
    hook = api.create(URL)
    rules = api.call("webhook.responseExample", webhookID=hook["webhookID"])[1]["rules"]
    assert rules["timeoutSeconds"] == 10
    assert rules["retrySchedule"] == ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"]


def test_platform_style_and_path_style_are_the_same_method(api):
    api.create(URL)
    response = api.client.http.get(
        "/api/?action=webhook.find&eventID=1234", headers={"authorization": f"Bearer {api.token}"}
    )
    assert response.status_code == 200
    assert json.loads(response.body)["count"] == 1
    assert {k.lower(): v for k, v in response.headers.items()}["content-type"] == "application/json"


@pytest.mark.parametrize("spelling", ["HTTPS://Hooks.Example.COM/in", "https://hooks.example.com./in",
                                      "https://hooks.example.com:443/in", "https://hooks.example.com/in#part"])
def test_one_webhook_per_endpoint_however_its_url_is_spelled(api, settings, spelling):
    services = get_services()
    services.__dict__["policy"] = DestinationPolicy((), resolver=FakeDNS(**{"hooks.example.com": ["93.184.216.34"]}))
    first = api.create("https://hooks.example.com/in")
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=spelling)
    assert status == 409 and first["webhookID"] in body["error"]["message"]


@pytest.mark.parametrize("spelling", ["http://2130706433:9/x", "http://0x7f.0.0.1:9/x", "http://127.1:9/x",
                                      "http://[::ffff:7f00:1]:9/x"])
def test_one_webhook_per_address_however_the_ip_is_spelled(api, spelling):
    first = api.create("http://127.0.0.1:9/x")
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=spelling)
    assert status == 409 and first["webhookID"] in body["error"]["message"]


def test_secrets_appear_only_in_the_answers_that_create_them(api, receiver, worker):
    hook = api.create(receiver.url)
    rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])[1]
    api.dispatch()
    worker.run()
    answers = [
        api.call("webhook.find", eventID="1234"),
        api.call("webhook.deliveries", webhookID=hook["webhookID"]),
        api.call("webhook.responseExample", webhookID=hook["webhookID"]),
        api.call("webhook.disable", webhookID=hook["webhookID"]),
        api.call("webhook.enable", webhookID=hook["webhookID"]),
        api.call("webhook.remove", webhookID=hook["webhookID"]),
    ]
    text = json.dumps(answers)
    for secret in (hook["secret"], rotated["secret"], api.token):
        assert secret not in text


def test_a_description_is_kept_shown_changed_and_removed(api):
    hook = api.create(DOWN, description="CRM sync · équipe ventes 👩‍💻")
    assert hook["description"] == "CRM sync · équipe ventes 👩‍💻"
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["description"] == hook["description"]
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], description="Door scanners")
    assert (status, body["description"]) == (200, "Door scanners")
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["description"] == "Door scanners"
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], rateLimit=5)  # another field: kept
    assert body["description"] == "Door scanners"
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], description="")
    assert (status, body["description"]) == (200, "")
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["description"] == ""


def test_a_webhook_without_a_description_shows_an_empty_one(api):
    assert api.create(DOWN)["description"] == ""
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["description"] == ""


def test_a_description_of_200_characters_of_four_bytes_each_is_taken(api):
    assert api.create(DOWN, description="🎟" * 200)["description"] == "🎟" * 200


@pytest.mark.parametrize("description", [
    "x" * 201,  # too long
    "two\nlines", "a\ttab", "bell\x07",  # controls
    "\u202eevil.com",  # a bidirectional override: reads other than it is
    "zero\u200bwidth", "\ufeffbom",  # invisible
    "line\u2028separator",
    "\U000e0001tag", "\U00100000private",  # a format tag; private use
    "\u0378",  # unassigned
    42, True,
])
def test_a_description_that_is_not_printable_text_of_200_characters_is_400_and_changes_nothing(api, description):
    hook = api.create(DOWN, description="kept")
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], description=description)
    assert (status, body["error"]["field"]) == (400, "description"), body
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["description"] == "kept"
    status, body = api.call("webhook.create", eventID="1234", type="activityDismissal", url=DOWN,
                            description=description)
    assert (status, body["error"]["field"]) == (400, "description")
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 1

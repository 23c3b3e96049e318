"""Webhooks stored before section 17 (one type each, listed under their type and url, the whole
object in the listing) keep working unchanged: the local run keeps its data across versions, and
so does the table on AWS. The items here are written exactly as the code of the third round wrote
them."""

import hashlib

import pytest

from chalicelib.services import get_services
from chalicelib.store.table import get_item, serialize

URL = "http://127.0.0.1:9/old"


def store_as_before(webhook_id, url, type="activityEnrollment", event_id="1234", status="enabled", filter=None):
    """A webhook item, its listing and its owner's count, as the third round's store wrote them."""
    services = get_services()
    db, table = services.dynamodb, services.settings.table_name
    shown = {"webhookID": webhook_id, "eventID": event_id, "type": type, "url": url, "date": "1764273600",
             "status": status, "headers": ["X-Key"], "rateLimit": None, "filter": filter, "normalUrl": url}
    db.put_item(TableName=table, Item={"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": "WH"}, **serialize(
        {**shown, "secrets": ["whsec_" + "A" * 43 + "="], "headers": [["X-Key", "k-123"]]})})
    db.put_item(TableName=table, Item={
        "pk": {"S": f"EV#{event_id}"}, "sk": {"S": f"{type}#{hashlib.sha256(url.encode()).hexdigest()}"},
        **serialize(shown)})
    db.update_item(TableName=table, Key={"pk": {"S": f"CAP#EV#{event_id}"}, "sk": {"S": "CAP"}},
                   UpdateExpression="ADD webhooks :one", ExpressionAttributeValues={":one": {"N": "1"}})
    return webhook_id


def old_listing(webhook_id, url, type="activityEnrollment"):
    services = get_services()
    return get_item(services.dynamodb, services.settings.table_name, {
        "pk": {"S": "EV#1234"}, "sk": {"S": f"{type}#{hashlib.sha256(url.encode()).hexdigest()}"}})


@pytest.fixture
def old(api):
    return store_as_before("wh_01KB000000000000000000OLD1", URL, filter={"personID": ["5521", "7"]})


def test_it_reads_as_a_one_type_webhook(api, old):
    (hook,) = api.call("webhook.find", eventID="1234")[1]["data"]
    assert hook == {"webhookID": old, "eventID": "1234", "type": "activityEnrollment", "types": ["activityEnrollment"],
                    "url": URL, "delivery": "push", "date": "1764273600", "status": "enabled", "headers": ["X-Key"],
                    "rateLimit": None, "filter": {"personID": ["5521", "7"]}, "signature": "hmac", "publicKey": None,
                    "previousPublicKey": None, "auth": None, "description": ""}
    assert api.call("webhook.find", eventID="1234", type="activityEnrollment")[1]["count"] == 1
    assert api.call("webhook.find", eventID="1234", type="eventCheckIn")[1]["count"] == 0


def test_the_fan_out_finds_it_and_its_filter_and_delivers(api, receiver, worker):
    hook = store_as_before("wh_01KB000000000000000000OLD2", receiver.url, filter={"personID": ["5521"]})
    assert api.dispatch(person_id="5521")["webhooks"] == 1
    assert api.dispatch(person_id="6")["webhooks"] == 0
    worker.run(until=lambda: receiver.requests)
    (request,) = receiver.requests
    assert request.json()["webhookID"] == hook and request.headers["x-key"] == "k-123"


def test_it_still_holds_its_type_and_url_against_new_webhooks(api, old):
    for params in ({"type": "activityEnrollment"}, {"types": ["eventCheckIn", "activityEnrollment"]},
                   {"types": ["*"]}):
        status, body = api.call("webhook.create", eventID="1234", url=URL, **params)
        assert status == 409 and old in body["error"]["message"], params
    assert api.call("webhook.create", eventID="1234", url=URL, types=["eventCheckIn"])[0] == 201


def test_an_update_moves_it_to_the_new_layout_keeping_everything_else(api, old):
    status, hook = api.call("webhook.update", webhookID=old, types=["activityEnrollment", "eventCheckIn"])
    assert status == 200 and hook["types"] == ["eventCheckIn", "activityEnrollment"]
    assert hook["headers"] == ["X-Key"] and hook["filter"] == {"personID": ["5521", "7"]}
    assert old_listing(old, URL) is None
    assert api.call("webhook.find", eventID="1234")[1]["data"] == [hook]
    status, body = api.call("webhook.create", eventID="1234", url=URL, type="eventCheckIn")
    assert status == 409 and old in body["error"]["message"]
    assert api.call("webhook.update", webhookID=old, url=URL + "/moved")[0] == 200
    assert api.call("webhook.create", eventID="1234", url=URL, types=["*"])[0] == 201


def test_it_is_disabled_enabled_and_removed_as_before(api, old):
    assert api.call("webhook.disable", webhookID=old)[1]["status"] == "disabled"
    assert old_listing(old, URL)["status"] == "disabled"
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["status"] == "disabled"
    assert api.call("webhook.enable", webhookID=old)[1]["status"] == "enabled"
    assert api.call("webhook.remove", webhookID=old)[0] == 200
    assert old_listing(old, URL) is None
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 0
    assert api.call("webhook.create", eventID="1234", url=URL, type="activityEnrollment")[0] == 201


def test_one_stored_with_the_fourth_rounds_fields_keeps_them_and_moves_without_them(api):
    # As the store wrote a webhook between sections 19 to 22 and section 17: the item whole, and
    # the whole object (public key, OAuth client without its secret, description) in the listing.
    from chalicelib.delivery.signing import new_key_pair

    services = get_services()
    db, table = services.dynamodb, services.settings.table_name
    private_key, public_key = new_key_pair()
    auth = {"type": "oauth2", "tokenUrl": "http://127.0.0.1:9/token", "clientID": "crm", "scope": None}
    shown = {"webhookID": "wh_01KB000000000000000000OLD3", "eventID": "1234", "type": "activityEnrollment",
             "url": URL, "date": "1764273600", "status": "enabled", "headers": [], "rateLimit": None, "filter": None,
             "signature": "ed25519", "publicKey": public_key, "previousPublicKey": None, "auth": auth,
             "description": "CRM", "normalUrl": URL}
    db.put_item(TableName=table, Item={"pk": {"S": "WH#wh_01KB000000000000000000OLD3"}, "sk": {"S": "WH"}, **serialize(
        {**shown, "secrets": [private_key], "auth": {**auth, "clientSecret": "s3cret"},
         "template": {"preset": "slack"}})})
    db.put_item(TableName=table, Item={
        "pk": {"S": "EV#1234"}, "sk": {"S": f"activityEnrollment#{hashlib.sha256(URL.encode()).hexdigest()}"},
        **serialize(shown)})
    (hook,) = api.call("webhook.find", eventID="1234")[1]["data"]
    assert (hook["signature"], hook["publicKey"], hook["auth"], hook["description"]) == (
        "ed25519", public_key, {**auth}, "CRM")
    rotated = api.call("webhook.rotateSecret", webhookID=shown["webhookID"])[1]
    status, updated = api.call("webhook.update", webhookID=shown["webhookID"], description="CRM sync")
    assert status == 200 and old_listing(shown["webhookID"], URL) is None
    assert (updated["publicKey"], updated["previousPublicKey"]) == (rotated["publicKey"], public_key)
    assert updated["auth"] == auth and updated["description"] == "CRM sync"
    assert api.call("webhook.find", eventID="1234")[1]["data"] == [updated]
    item = services.webhooks.get(shown["webhookID"])
    assert item.template == {"preset": "slack"} and item.auth.client_secret == "s3cret"
    listing = get_item(db, table, {"pk": {"S": "EV#1234"}, "sk": {"S": f"L#{shown['webhookID']}"}})
    assert set(listing) == {"pk", "sk", "webhookID", "types", "status"}  # the fan-out's projection, nothing more

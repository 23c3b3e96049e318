"""Endpoints that ask for credentials (contract, section 20): auth as an integrator sets it, and
deliveries that carry an access token got from a real OAuth 2.0 token endpoint on loopback."""

import base64
import ipaddress
import json
import threading
import time

import boto3
import pytest
from botocore.config import Config

from chalicelib.delivery.credentials import AccessTokens
from chalicelib.delivery.destinations import DestinationPolicy
from chalicelib.delivery.sender import HttpSender, send, signed_request
from chalicelib.delivery.token_item import TokenItems
from chalicelib.services import get_services
from chalicelib.store.table import get_item, listing_key, webhook_key
from dev.receiver import Receiver
from dev.resources import create_resources
from dev.token_endpoint import TokenEndpoint
from tests import helpers
from tests.helpers import stored_message

URL = "http://127.0.0.1:9/hooks"
DEADLINE_SECONDS = 2  # the attempts' deadline where the test sends them itself


@pytest.fixture
def tokens():
    with TokenEndpoint(client_id="crm:client id", client_secret="s&c+r=t/?% x", scope="webhooks.write events") as server:
        yield server


def call(api, name, **params):
    """A method called with a JSON body (``Api.call`` takes ``headers`` as the request's own)."""
    response = api.client.http.post(f"/api/{name}", body=json.dumps(params), headers={
        "authorization": f"Bearer {api.token}", "content-type": "application/json"})
    return response.status_code, json.loads(response.body)


def create(api, url=URL, **params):
    status, body = call(api, "webhook.create", eventID="1234", type="activityEnrollment", url=url, **params)
    assert status == 201, body
    return body


def protected(receiver, tokens):
    """The receiver accepts only a token the endpoint issued, as a protected endpoint does."""
    receiver.rule = lambda request, earlier: 200 if tokens.accepts(request.headers.get("authorization")) else 401


# auth, as set and shown


def test_auth_is_shown_without_its_client_secret_and_kept_in_the_webhook_item_only(api, tokens):
    hook = create(api, auth=tokens.auth())
    assert hook["auth"] == {"type": "oauth2", "tokenUrl": tokens.url, "clientID": "crm:client id",
                            "scope": "webhooks.write events"}
    hook.pop("secret")
    assert api.call("webhook.find", eventID="1234")[1]["data"] == [hook]
    services = get_services()
    item = get_item(services.dynamodb, services.settings.table_name, webhook_key(hook["webhookID"]))
    assert item["auth"]["clientSecret"] == tokens.client_secret
    listing = get_item(services.dynamodb, services.settings.table_name, listing_key("event", "1234", hook["webhookID"]))
    assert "auth" not in listing  # the owner's listing, what a fan-out needs: no client of any kind
    answers = [api.call(name, webhookID=hook["webhookID"]) for name in (
        "webhook.requestExample", "webhook.deliveries", "webhook.update", "webhook.disable", "webhook.enable")]
    assert tokens.client_secret not in json.dumps(answers)


def test_a_webhook_without_auth_shows_null(api):
    assert api.create(URL)["auth"] is None


def test_auth_in_a_form_is_its_json_text(api, tokens):
    response = api.client.http.post("/api/webhook.create", headers={
        "authorization": f"Bearer {api.token}", "content-type": "application/x-www-form-urlencoded"},
        body=f"eventID=1234&type=activityEnrollment&url={URL}&auth=" + json.dumps(tokens.auth()).replace("&", "%26")
        .replace("+", "%2B").replace("=", "%3D").replace("?", "%3F"))
    assert response.status_code == 201, response.body
    assert json.loads(response.body)["auth"]["clientID"] == tokens.client_id


@pytest.mark.parametrize("change", [
    {"type": "basic"}, {"type": None}, {"tokenUrl": None}, {"clientID": None}, {"clientSecret": None},
    {"tokenUrl": "http://10.0.0.1/token"}, {"tokenUrl": "http://169.254.169.254/latest"},
    {"tokenUrl": "ftp://127.0.0.1/token"}, {"tokenUrl": "http://user:pw@127.0.0.1/token"}, {"tokenUrl": 5},
    {"clientID": ""}, {"clientSecret": "x" * 1025}, {"clientSecret": "line\nbreak"}, {"scope": "a  b"},
    {"scope": 'quote"d'}, {"scope": ["a"]}, {"audience": "api"},
])
def test_an_invalid_part_of_auth_is_refused_on_auth(api, tokens, change):
    auth = {k: v for k, v in {**tokens.auth(), **change}.items() if v is not None}
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=URL, auth=auth)
    assert status == 400 and body["error"]["field"] == "auth", body
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 0


@pytest.mark.parametrize("value", ["not json", "[1]", '"oauth2"', 7])
def test_auth_must_be_an_object(api, value):
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=URL, auth=value)
    assert status == 400 and body["error"]["field"] == "auth"


def test_auth_and_an_authorization_header_together_are_refused_on_auth(api, tokens):
    status, body = call(api, "webhook.create", eventID="1234", type="activityEnrollment", url=URL,
                        auth=tokens.auth(), headers={"authorization": "Bearer static"})
    assert status == 400 and body["error"]["field"] == "auth"
    with_header = create(api, headers={"Authorization": "Bearer static"})
    status, body = api.call("webhook.update", webhookID=with_header["webhookID"], auth=tokens.auth())
    assert status == 400 and body["error"]["field"] == "auth"
    with_auth = create(api, url=URL + "/2", auth=tokens.auth())
    status, body = call(api, "webhook.update", webhookID=with_auth["webhookID"], headers={"AUTHORIZATION": "x"})
    assert status == 400 and body["error"]["field"] == "auth"
    # Both at once, the header removed as auth comes: that is fine.
    status, body = call(api, "webhook.update", webhookID=with_header["webhookID"], auth=tokens.auth(), headers={})
    assert status == 200 and body["auth"]["clientID"] == tokens.client_id and body["headers"] == []


def test_update_sets_replaces_keeps_and_removes_auth(api, tokens):
    hook = create(api)
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], auth=tokens.auth())
    assert status == 200 and body["auth"]["tokenUrl"] == tokens.url
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], rateLimit=5)
    assert body["auth"]["tokenUrl"] == tokens.url  # not given: kept
    status, body = api.call("webhook.update", webhookID=hook["webhookID"],
                            auth=tokens.auth(clientID="other", scope="read"))
    assert body["auth"] == {"type": "oauth2", "tokenUrl": tokens.url, "clientID": "other", "scope": "read"}
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], auth={})
    assert status == 200 and body["auth"] is None
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["auth"] is None
    item = get_services().webhooks.get_item(hook["webhookID"])
    assert "auth" not in item


# Deliveries


def test_a_delivery_carries_a_bearer_token_got_with_the_client_credentials_grant(api, receiver, worker, tokens):
    protected(receiver, tokens)
    hook = create(api, receiver.url, auth=tokens.auth())
    message_id = api.dispatch()["messageID"]
    worker.run()
    (delivery,) = receiver.wait_for(1)
    assert delivery.headers["authorization"] == "Bearer tok-1" and delivery.status == 200
    (asked,) = tokens.requests
    assert asked.method == "POST" and asked.path == "/oauth/token"
    assert asked.headers["content-type"] == "application/x-www-form-urlencoded"
    assert asked.form == {"grant_type": "client_credentials", "scope": "webhooks.write events"}
    # HTTP Basic, the id and the secret each form-urlencoded first (RFC 6749, 2.3.1).
    user, password = base64.b64decode(asked.headers["authorization"].removeprefix("Basic ")).decode().split(":")
    assert (user, password) == ("crm%3Aclient+id", "s%26c%2Br%3Dt%2F%3F%25+x")
    assert asked.client == (tokens.client_id, tokens.client_secret)
    # The delivery log shows the header, never the token.
    message = api.call("webhook.message", webhookID=hook["webhookID"], messageID=message_id)[1]
    assert message["request"]["headers"]["authorization"] == "[redacted]"
    assert "tok-1" not in json.dumps(stored_message(hook["webhookID"], message_id), default=str)


def test_without_a_scope_none_is_asked_for(api, receiver, worker, tokens):
    create(api, receiver.url, auth={k: v for k, v in tokens.auth().items() if k != "scope"})
    api.dispatch()
    worker.run()
    assert tokens.requests[0].form == {"grant_type": "client_credentials"}


def test_one_token_serves_every_attempt_to_the_webhook_and_test_sends_too(api, receiver, worker, tokens):
    protected(receiver, tokens)
    hook = create(api, receiver.url, auth=tokens.auth())
    for person in ("1", "2", "3"):
        api.dispatch(person_id=person)
    worker.run()
    assert api.call("webhook.test", webhookID=hook["webhookID"])[1]["statusCode"] == 200
    got = receiver.wait_for(4)
    assert [r.headers["authorization"] for r in got] == ["Bearer tok-1"] * 4
    assert len(tokens.requests) == 1
    example = api.call("webhook.requestExample", webhookID=hook["webhookID"])[1]
    assert example["headers"]["authorization"] == "[redacted]"  # what a delivery carries, not its token
    assert len(tokens.requests) == 1  # and the example asks for none


def test_a_401_drops_the_token_and_the_next_attempt_gets_a_new_one(api, receiver, worker, tokens, settings):
    settings(RETRY_SCHEDULE="0s,1s,1s")
    protected(receiver, tokens)
    hook = create(api, receiver.url, auth=tokens.auth())
    api.dispatch(person_id="1")
    worker.run()
    tokens.revoke_all()  # the authorization server revokes tok-1
    message_id = api.dispatch(person_id="2")["messageID"]
    assert worker.run(until=lambda: (stored_message(hook["webhookID"], message_id) or {}).get("status") == "delivered",
                      timeout=10)
    assert [(r.headers["authorization"], r.status) for r in receiver.requests] == [
        ("Bearer tok-1", 200), ("Bearer tok-1", 401), ("Bearer tok-2", 200)]
    attempts = stored_message(hook["webhookID"], message_id)["attempts"]
    assert [a["statusCode"] for a in attempts] == [401, 200]
    assert len(tokens.requests) == 2


@pytest.mark.parametrize("answer, says", [
    ((500, {"error": "server_error"}), "auth: the token endpoint answered 500 (server_error)"),
    ((401, {"error": "invalid_client"}), "auth: the token endpoint answered 401 (invalid_client)"),
    ((200, {"token_type": "Bearer"}), "auth: the token endpoint's answer has no access_token"),
    ((200, b"<html>not json</html>"), "auth: the token endpoint's answer is not a JSON object"),
    ((200, {"access_token": "a b"}), "auth: the token endpoint's access_token is not one that"),
    ((200, {"access_token": "x\r\nEvil: 1"}), "auth: the token endpoint's access_token is not one that"),
    ((200, {"access_token": "mac-token", "token_type": "mac"}), "auth: the token endpoint's token is not a Bearer"),
    ((200, {"access_token": "x" * 17000}), "auth: the token endpoint's answer is longer than 16 KiB"),
    ((302, b""), "auth: the token endpoint answered 302, a redirect, and redirects are not followed"),
])
def test_a_failed_token_request_fails_the_attempt_with_an_auth_error_recorded_and_retried(
        api, receiver, worker, tokens, settings, answer, says):
    settings(RETRY_SCHEDULE="0s,1s")
    tokens.answer(answer)
    hook = create(api, receiver.url, auth=tokens.auth())
    message_id = api.dispatch()["messageID"]
    worker.run(until=lambda: (stored_message(hook["webhookID"], message_id) or {}).get("attemptCount"))
    record = stored_message(hook["webhookID"], message_id)
    (attempt,) = record["attempts"]
    assert attempt["error"].startswith(says) and attempt["statusCode"] is None, attempt
    assert record["status"] == "pending" and record.get("nextAttemptAt")  # retried on the schedule
    assert receiver.requests == []  # nothing is sent without a token
    assert len(tokens.requests) == 1


def test_a_webhook_test_answers_the_auth_error(api, receiver, tokens):
    tokens.answer((503, {"error": "temporarily_unavailable"}))
    hook = create(api, receiver.url, auth=tokens.auth())
    status, result = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and result["statusCode"] is None
    assert result["error"] == "auth: the token endpoint answered 503 (temporarily_unavailable)"


def test_a_token_url_that_now_resolves_to_a_private_address_is_not_asked(api, receiver, tokens, settings):
    hook = create(api, receiver.url, auth=tokens.auth())
    settings(WEBHOOK_ALLOW_NETWORKS="")  # as if the token URL's host now pointed at a private address
    status, result = api.call("webhook.test", webhookID=hook["webhookID"])
    assert result["error"].startswith("auth: tokenUrl cannot be reached: url points at a loopback address")
    assert tokens.requests == [] and receiver.requests == []


# The shared token, in time: AccessTokens with a clock the test moves, a real token endpoint.


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def deliver(aws, receiver, tokens):
    """Sends attempts to a webhook with auth, the tokens' clock in the test's hands."""
    services = get_services()
    clock = Clock()
    access = AccessTokens(TokenItems(services.dynamodb, services.settings.table_name), clock=clock)
    sender = HttpSender(DEADLINE_SECONDS, credentials=access)
    protected(receiver, tokens)
    webhook = services.webhooks.create(_webhook(receiver.url, tokens.auth()))

    def attempt():
        request = signed_request(webhook, "msg_1", '{"type":"webhook.test"}', clock())
        return send(services.policy, sender, request)

    attempt.clock = clock
    return attempt


def _webhook(url, auth):
    from chalicelib.store.webhook_record import EndpointAuth, Webhook

    return Webhook(webhook_id="wh_credentials", level="event", owner_id="1234", types=("activityEnrollment",), url=url,
                   normal_url=url + "/", date="1", status="enabled", secrets=("whsec_" + "A" * 43 + "=",),
                   auth=EndpointAuth(auth["tokenUrl"], auth["clientID"], auth["clientSecret"], auth.get("scope")))


@pytest.mark.parametrize("expires_in, used_for", [(3600, 3540), (None, 3540), (600, 540), (90, 30), (63, 3)])
def test_a_token_is_used_until_its_expires_in_less_a_minute(deliver, tokens, receiver, expires_in, used_for):
    tokens.expires_in = expires_in
    assert deliver().ok
    deliver.clock.now += used_for - 1
    assert deliver().ok and len(tokens.requests) == 1
    deliver.clock.now += 2
    assert deliver().ok and len(tokens.requests) == 2  # renewed
    assert [r.headers["authorization"] for r in receiver.requests] == ["Bearer tok-1"] * 2 + ["Bearer tok-2"]


def test_a_token_that_lives_a_minute_or_less_serves_only_the_attempt_that_asked_for_it(deliver, tokens, receiver):
    tokens.expires_in = 45
    assert deliver().ok and deliver().ok
    assert len(tokens.requests) == 2
    assert [r.headers["authorization"] for r in receiver.requests] == ["Bearer tok-1", "Bearer tok-2"]


def test_a_failing_token_endpoint_is_asked_at_most_once_a_minute(deliver, tokens, receiver):
    tokens.answer((500, {"error": "server_error"}))
    first = deliver()
    assert first.error == "auth: the token endpoint answered 500 (server_error)"
    for _ in range(5):
        deliver.clock.now += 11
        held = deliver()
        assert held.error.startswith("auth: the token endpoint answered 500 (server_error) (the token endpoint is "
                                     "asked at most once a minute"), held.error
    assert len(tokens.requests) == 1 and receiver.requests == []
    deliver.clock.now += 5  # 60 s after the failed request
    tokens.answer()  # it works again
    assert deliver().ok and len(tokens.requests) == 2


def test_new_client_settings_get_a_new_token(deliver, tokens, aws):
    assert deliver().ok
    services = get_services()
    webhook = services.webhooks.get("wh_credentials")
    from dataclasses import replace

    services.webhooks.update(webhook, replace(webhook, auth=replace(webhook.auth, scope="other")))
    fresh = services.webhooks.get("wh_credentials")
    access = AccessTokens(TokenItems(services.dynamodb, services.settings.table_name), clock=deliver.clock)
    sender = HttpSender(DEADLINE_SECONDS, credentials=access)
    assert send(services.policy, sender, signed_request(fresh, "msg_2", '{"type":"webhook.test"}', deliver.clock())).ok
    assert [r.form.get("scope") for r in tokens.requests] == ["webhooks.write events", "other"]


# A token endpoint that hangs or drips costs the attempt, within its one deadline.


@pytest.mark.parametrize("step", [(200, {"access_token": "late"}, 30.0), ("drip", 0.2)], ids=["hangs", "drips"])
def test_a_slow_token_endpoint_ends_the_attempt_at_its_deadline(api, receiver, tokens, settings, step):
    settings(DELIVERY_TIMEOUT_SECONDS="1")
    tokens.answer(step)
    hook = create(api, receiver.url, auth=tokens.auth())
    began = time.monotonic()
    status, result = api.call("webhook.test", webhookID=hook["webhookID"])
    took = time.monotonic() - began
    assert result["error"] == "auth: the token endpoint did not answer within 1s", result
    assert took < 1 + 1.5, took  # the contract: the timeout plus at most a second (a margin for a loaded machine)
    assert receiver.requests == []


def test_the_token_request_counts_against_the_attempts_deadline(api, tokens, settings):
    settings(DELIVERY_TIMEOUT_SECONDS="2")
    tokens.answer((200, {"access_token": "slow-but-in-time"}, 1.2))
    with Receiver() as slow:
        slow.answer((200, 1.5))  # in time on its own, not after the token's 1.2 s
        hook = create(api, slow.url, auth=tokens.auth())
        began = time.monotonic()
        result = api.call("webhook.test", webhookID=hook["webhookID"])[1]
        took = time.monotonic() - began
    assert result["error"] == "the endpoint did not answer within 2s", result
    assert took < 2 + 1.5, took


def test_an_attempt_waiting_for_anothers_token_request_ends_at_its_deadline(deliver, tokens, aws):
    services = get_services()
    items = TokenItems(services.dynamodb, services.settings.table_name)
    now_ms = int(deliver.clock() * 1000)
    assert items.take_lease("wh_credentials", items.read("wh_credentials"), "another", now_ms + 60_000)
    began = time.monotonic()
    attempt = deliver()
    assert attempt.error == f"auth: another attempt's token request did not end within {DEADLINE_SECONDS}s"
    assert time.monotonic() - began < DEADLINE_SECONDS + 1.5
    assert tokens.requests == []


# A burst: 1,000 attempts from several instances at once make one token request.


@pytest.fixture
def moto_server():
    """The local run's moto server in a process of its own: one request at a time into moto, so
    that a conditional write is as atomic as on DynamoDB, whatever the instances race."""
    with helpers.moto_server(quiet=True) as url:
        yield url


def test_a_burst_of_1000_attempts_from_several_instances_makes_one_token_request(moto_server, receiver, tokens):
    credentials = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
    config = Config(max_pool_connections=20, retries={"mode": "standard", "max_attempts": 3})

    def dynamodb():
        return boto3.client("dynamodb", endpoint_url=moto_server, config=config, **credentials)

    table = create_resources(dynamodb(), boto3.client("sqs", endpoint_url=moto_server, **credentials))[
        "WebhooksTable"]["name"]
    tokens.answer((200, {"access_token": "tok-shared", "expires_in": 3600}, 0.3))  # slow: attempts pile up behind it
    receiver.rule = lambda request, earlier: 200 if request.headers.get("authorization") == "Bearer tok-shared" else 401
    webhook = _webhook(receiver.url, tokens.auth())
    policy = DestinationPolicy([ipaddress.ip_network("127.0.0.0/8")], allowed_only=True)
    # Four instances, each with its own client, token cache and sender, ten threads each.
    instances = [HttpSender(10, credentials=AccessTokens(TokenItems(dynamodb(), table))) for _ in range(4)]
    per_thread = 25
    results = []

    def attempts(sender, number):
        for index in range(per_thread):
            request = signed_request(webhook, f"msg_{number}_{index}", '{"type":"webhook.test"}', time.time())
            results.append(send(policy, sender, request))

    threads = [threading.Thread(target=attempts, args=(instances[n % 4], n)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 1000 and all(attempt.ok for attempt in results), ([a.error for a in results if not a.ok], len(tokens.requests))
    assert len(receiver.requests) == 1000
    assert len(tokens.requests) == 1  # counted at the token endpoint


def test_a_lease_whose_answer_was_lost_is_still_the_attempts_own(api, receiver, worker, tokens, dynamodb_faults):
    # Botocore sends a write again when its answer is lost; the second try meets the first's
    # write and fails its condition. The lease is this attempt's own all the same: it asks for
    # the token at once (it waited for a lease holder that was itself, until its deadline).
    protected(receiver, tokens)
    create(api, receiver.url, auth=tokens.auth())
    dynamodb_faults.lose_answer("UpdateItem", contains=b"leaseOwner = :owner, leaseUntil")
    api.dispatch()
    worker.run()
    (delivery,) = receiver.wait_for(1)
    assert delivery.headers["authorization"] == "Bearer tok-1" and delivery.status == 200
    assert len(tokens.requests) == 1

"""webhook.test from the fixed egress addresses (docs/deploy.md): with TEST_SEND_FUNCTION set, the
API hands the signed request to the test-send function and answers its attempt. Lambda's Invoke
is played in this process by dev/lambda_invoke.py; the rest is as deployed."""

import pytest

import app as application
from chalicelib.services import get_services
from dev.lambda_invoke import answer_invokes

FUNCTION = "inevent-webhooks-prod-test_send"


@pytest.fixture
def via_function(settings):
    settings(TEST_SEND_FUNCTION=FUNCTION)
    invoked = []

    def test_send(event, context):
        invoked.append(event)
        return application.test_send(event, context)

    answer_invokes(get_services().lambda_client, {FUNCTION: test_send})
    return invoked


def test_a_test_send_is_made_by_the_test_send_function_and_answered_as_before(api, receiver, via_function):
    hook = api.create(receiver.url)
    status, answer = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and answer["statusCode"] == 200 and answer["error"] is None
    (request,) = receiver.wait_for(1)
    assert request.verify(hook["secret"])["type"] == "webhook.test"
    (event,) = via_function
    assert event["request"]["headers"]["webhook-id"] == answer["messageID"] == request.headers["webhook-id"]
    status, message = api.call("webhook.message", http="GET", webhookID=hook["webhookID"], messageID=answer["messageID"])
    assert message["status"] == "delivered" and message["request"]["body"] == request.body.decode()


def test_the_test_send_function_keeps_the_destination_checks(api, via_function, settings):
    hook = api.create("http://127.0.0.1:9/closed")
    settings(TEST_SEND_FUNCTION=FUNCTION, WEBHOOK_ALLOW_NETWORKS="")  # loopback no longer exempt
    answer_invokes(get_services().lambda_client, {FUNCTION: application.test_send})
    status, answer = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and answer["statusCode"] is None and answer["error"].startswith("not sent")


def test_a_test_send_function_that_fails_answers_503_not_an_attempt(api, receiver, settings):
    settings(TEST_SEND_FUNCTION=FUNCTION)

    def broken(event, context):
        raise RuntimeError("the function crashed")

    answer_invokes(get_services().lambda_client, {FUNCTION: broken})
    hook = api.create(receiver.url)
    status, body = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 503 and set(body["error"]) == {"code", "message", "field"}
    assert receiver.requests == []

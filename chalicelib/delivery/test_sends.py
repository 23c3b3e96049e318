"""Where a test send (webhook.test) leaves from.

Without fixed egress addresses the API function POSTs it itself (:class:`LocalTestSends`). A
stack with them (docs/deploy.md, "Fixed egress addresses") runs the delivery function and a
small ``test_send`` function in a VPC whose traffic leaves through NAT gateways with Elastic
IPs, and keeps the API function out of it: the API then hands the signed request to that
function and waits for its attempt (:class:`FunctionTestSends`), so a test send leaves from the
same addresses as every delivery. The test-send function only POSTs: it reads and writes
nothing in AWS, and the API keeps the record as before.
"""

import json

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.delivery.sender import Attempt, send
from chalicelib.errors import Unavailable


class LocalTestSends:
    """Test sends POSTed by the calling function itself."""

    def __init__(self, policy, sender):
        self._policy = policy
        self._sender = sender

    def send(self, request):
        """One attempt of ``request`` (a signed request), an :class:`Attempt` whatever happens."""
        return send(self._policy, self._sender, request)


class FunctionTestSends:
    """Test sends POSTed by the test-send function (its name in ``TEST_SEND_FUNCTION``), invoked
    and waited for. Handed its Lambda client."""

    def __init__(self, lambda_client, function_name):
        self._lambda = lambda_client
        self._function = function_name

    def send(self, request):
        """The test-send function's attempt of ``request``; :class:`Unavailable` if it cannot be
        reached or fails (nothing was sent, or it is not known whether it was)."""
        try:
            answer = self._lambda.invoke(FunctionName=self._function, InvocationType="RequestResponse",
                                         Payload=json.dumps({"request": request}).encode("utf-8"))
            result = json.loads(answer["Payload"].read())
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise Unavailable("the test send could not be made; try again in a moment") from exc
        if answer.get("FunctionError") or not isinstance(result, dict) or "attempt" not in result:
            raise Unavailable("the test send could not be made; try again in a moment")
        attempt = result["attempt"]
        # The duration is the endpoint's part, as the function timed it; the invocation's own
        # time (a cold start of the function, say) is not the endpoint's to answer for.
        return Attempt(attempt["statusCode"], attempt["durationMs"], attempt["error"], attempt["response"],
                       attempt.get("retryAfter"))


def handle(event, policy, sender):
    """The test-send function: one attempt of the request the API handed over, as JSON."""
    attempt = send(policy, sender, event["request"])
    return {"attempt": {"statusCode": attempt.status_code, "durationMs": attempt.duration_ms, "error": attempt.error,
                        "response": attempt.response, "retryAfter": attempt.retry_after}}

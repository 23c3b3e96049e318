"""A stand-in for AWS Lambda's Invoke, in this process, as dev/worker.py stands in for its SQS
event source: a Lambda client's Invoke of a function reaches that function's handler here (in
the tests: the API function's invocations of the test-send function, chalicelib/delivery/test_sends.py).

The client is a real boto3 client, so the request is built, sent and parsed as on AWS, and every
other call it makes goes on to moto; only Invoke is answered here, before moto sees it.
"""

import io
import json

import urllib3
from botocore.awsrequest import AWSResponse


def answer_invokes(lambda_client, handlers):
    """Make ``lambda_client``'s Invoke of a function named in ``handlers`` (name: a Lambda
    handler, ``handler(event, context)``) run that handler and answer what it returns; an
    exception in it answers as Lambda does, a ``FunctionError`` of ``Unhandled``."""

    def invoke(request, **_):
        name = request.url.split("/functions/", 1)[1].split("/", 1)[0]
        if name not in handlers:
            return None  # not ours: moto answers it
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        try:
            payload = handlers[name](json.loads(request.body), None)
        except Exception as exc:  # noqa: BLE001 - the function failed: Lambda says so, with a 200
            payload = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            headers["X-Amz-Function-Error"] = "Unhandled"
        body = json.dumps(payload).encode("utf-8")
        raw = urllib3.HTTPResponse(body=io.BytesIO(body), headers={"content-length": str(len(body))}, status=200,
                                   preload_content=False)
        return AWSResponse(request.url, 200, {**headers, "content-length": str(len(body))}, raw)

    lambda_client.meta.events.register_first("before-send.lambda.Invoke", invoke)

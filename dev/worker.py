"""The local stand-in for Lambda's event sources: it polls SQS and calls the app's own handlers.

Deliveries (and erasures, ``app.erase_person``): like Lambda's SQS event source, it receives up to 10 messages, calls ``app.deliver``
with a Lambda SQS event, and deletes every message that the handler did not report in
``batchItemFailures`` (none if the handler raised). Platform events: moto's EventBridge puts
them on a local queue through a rule with the app's own pattern, and each is handed to
``app.platform_event``, deleted only when it returns.
"""

import json
import logging
import os
import signal
import threading
import time

import boto3
from botocore.config import Config

logger = logging.getLogger("dev.worker")
FUNCTION_TIMEOUT_SECONDS = 30  # as the Deliver function's timeout in .chalice/config.json
ERASURE_TIMEOUT_SECONDS = 180  # as the ErasePerson function's
LONG_POLL_SECONDS = 20  # as Lambda's SQS event source


class LambdaContext:
    """The part of Lambda's context that the handlers read."""

    def __init__(self, timeout_seconds=FUNCTION_TIMEOUT_SECONDS):
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = "local"
        self.aws_request_id = "local"

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages, queue_arn, region):
    """A Lambda SQS event for received messages, as the event source builds it."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class _Poller:
    """One receive, then ``_handle`` on what came, as an event source poller does."""

    busy = False  # between receiving messages and finishing with them

    def __init__(self, sqs, queue_url, handler, wait_seconds=LONG_POLL_SECONDS, **receive):
        self._sqs = sqs
        self._url = queue_url
        self._handler = handler
        self._receive = {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": wait_seconds, **receive}

    def poll_once(self, stopping=None):
        """One receive and one round of handling; returns how many messages were received.
        Messages received once ``stopping`` is set go straight back to the queue, for the next worker."""
        messages = self._sqs.receive_message(**self._receive).get("Messages", [])
        if not messages:
            return 0
        self.busy = True  # before looking at ``stopping``: the worker waits for busy pollers
        try:
            if stopping is not None and stopping.is_set():
                give_back(self._sqs, self._url, messages)
            else:
                self._handle(messages)
        finally:
            self.busy = False
        return len(messages)

    def _handle(self, messages):
        raise NotImplementedError


class DeliveryPoller(_Poller):
    """Receives batches from the delivery queue and runs ``handler`` on them, as Lambda would."""

    def __init__(self, sqs, queue_url, handler, wait_seconds=LONG_POLL_SECONDS, visibility_timeout=None,
                 function_timeout=FUNCTION_TIMEOUT_SECONDS):
        extra = {} if visibility_timeout is None else {"VisibilityTimeout": visibility_timeout}
        super().__init__(sqs, queue_url, handler, wait_seconds, MessageSystemAttributeNames=["All"], **extra)
        self._function_timeout = function_timeout
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._region = sqs.meta.region_name

    def _handle(self, messages):
        try:
            result = self._handler(sqs_event(messages, self._arn, self._region), LambdaContext(self._function_timeout))
        except Exception:  # noqa: BLE001 - as on Lambda: the whole batch comes back
            logger.exception("the delivery handler failed; the batch will come back")
            return
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )


class EventPoller(_Poller):
    """Hands EventBridge events that reached the local events queue to ``handler``."""

    def _handle(self, messages):
        for message in messages:
            try:
                self._handler(as_eventbridge_event(json.loads(message["Body"])), LambdaContext())
            except Exception:  # noqa: BLE001 - as an async invocation: it will be tried again
                logger.exception("the platform event handler failed; the event will be tried again")
                continue
            self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])


def give_back(sqs, queue_url, messages):
    """Make received messages visible again at once, for whoever polls next."""
    sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(messages)])


def as_eventbridge_event(event):
    """Fill in the envelope fields that EventBridge gives Lambda and moto's SQS target leaves out."""
    envelope = {"version": "0", "id": "", "account": "000000000000", "region": "us-east-1", "resources": [],
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    envelope.update(event)
    return envelope


def run_forever(pollers, stop):
    """Run each poller in its own thread until ``stop`` is set.

    The pollers long-poll, as Lambda's event source does: the local moto server holds an empty
    receive until a message comes (see dev/local_aws/long_polls.py), so an idle worker costs nothing
    and a new message is picked up at once. Returns the threads.
    """

    def loop(poller):
        while not stop.is_set():
            try:
                poller.poll_once(stop)
            except Exception:  # noqa: BLE001 - a moto hiccup must not end the local worker
                logger.exception("polling failed; retrying")
                stop.wait(1)

    threads = [threading.Thread(target=loop, args=(p,), daemon=True) for p in pollers]
    for thread in threads:
        thread.start()
    return threads


def main():
    """Run the local worker against the queues named in the environment, until SIGTERM/SIGINT."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s worker %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    import app as application  # the very handlers Lambda would run

    concurrency = int(os.environ.get("LOCAL_WORKER_CONCURRENCY", "8"))
    sqs = boto3.client("sqs", config=Config(max_pool_connections=concurrency + 2))  # a long poll holds one each
    visibility = os.environ.get("LOCAL_VISIBILITY_TIMEOUT")
    function_timeout = int(os.environ.get("LOCAL_FUNCTION_TIMEOUT", FUNCTION_TIMEOUT_SECONDS))
    pollers = [
        DeliveryPoller(sqs, os.environ["DELIVERY_QUEUE_URL"], application.deliver,
                       visibility_timeout=int(visibility) if visibility else None, function_timeout=function_timeout)
        for _ in range(concurrency)
    ]
    if os.environ.get("ERASURE_QUEUE_URL"):  # erasures, one at a time, as the function's SQS event source
        pollers.append(DeliveryPoller(sqs, os.environ["ERASURE_QUEUE_URL"], application.erase_person,
                                      function_timeout=ERASURE_TIMEOUT_SECONDS))
    if os.environ.get("LOCAL_EVENTS_QUEUE_URL"):
        pollers.append(EventPoller(sqs, os.environ["LOCAL_EVENTS_QUEUE_URL"], application.platform_event))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_forever(pollers, stop)
    stop.wait()
    # Let handlers that are running finish (up to 3 s); pollers waiting on an empty queue just go
    # (the moto server sees them gone and hands them nothing).
    deadline = time.monotonic() + 3
    time.sleep(0.1)  # a receive answered just as the stop came is marked busy by now
    while any(poller.busy for poller in pollers) and time.monotonic() < deadline:
        time.sleep(0.05)


if __name__ == "__main__":
    main()

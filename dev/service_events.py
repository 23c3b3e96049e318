"""Show the events the service put on the local run's EventBridge bus (source ``inevent.webhooks``:
its ``webhookDisabled`` and ``messageFailed`` notices), after the local run's export line.

    python -m dev.service_events [--wait SECONDS]

The local run routes them to a queue of their own (dev/run.py); each is printed once, as one
JSON line, and taken off that queue.
"""

import argparse
import json
import sys

import boto3

from dev.run import SERVICE_EVENTS_QUEUE


def take(sqs, url, wait_seconds=0):
    """The events on the queue, oldest first as SQS gives them; each is deleted once read."""
    events = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
                                       if not events else 0).get("Messages", [])
        if not messages:
            return events
        events.extend(json.loads(m["Body"]) for m in messages)
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(messages)])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.service_events")
    parser.add_argument("--wait", type=int, default=0, help="wait up to this many seconds for a first event")
    args = parser.parse_args(argv)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=SERVICE_EVENTS_QUEUE)["QueueUrl"]
    events = take(sqs, url, min(20, args.wait))
    for event in events:
        print(json.dumps({key: event.get(key) for key in ("source", "detail-type", "time", "detail")}))
    return 0 if events else 1


if __name__ == "__main__":
    sys.exit(main())

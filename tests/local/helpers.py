"""What several modules of tests/local share: whether the local run has anything left to send, which
is how a test shows that nothing more will be sent (every message its workers take is settled:
delivered, dropped or given up)."""

import re

import boto3

from dev.run import SERVICE_EVENTS_QUEUE

IN_THE_QUEUE = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed")


def nothing_left_to_send(banner):
    """True when no queue that the workers of the local run (whose ready banner is ``banner``) take
    from holds a message, visible, in flight or delayed. The service's own events wait on a queue of
    their own for a reader (``python -m dev.service_events``): that one is left out."""
    endpoint = re.search(r"AWS_ENDPOINT_URL=(\S+)", banner).group(1)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local",
                       aws_secret_access_key="local")
    for url in sqs.list_queues().get("QueueUrls", []):
        if url.rstrip("/").rsplit("/", 1)[-1] == SERVICE_EVENTS_QUEUE:
            continue
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(IN_THE_QUEUE))["Attributes"]
        if any(int(counts.get(name, "0")) for name in IN_THE_QUEUE):
            return False
    return True

"""The one resource file serves both the AWS package and the local run."""

import boto3

from chalicelib.settings import delivery_queue_name

import app as application
from dev.resources import load_template


def test_the_worker_reads_the_queue_the_stack_creates_and_reports_partial_batches():
    template = load_template()
    queue = template["Resources"]["DeliveryQueue"]["Properties"]
    assert queue["QueueName"] == {"Fn::Sub": "${AWS::StackName}-deliveries.fifo"}
    assert queue["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}
    source = template["Resources"]["Deliver"]["Properties"]["Events"]["DeliverSqsEventSource"]["Properties"]
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_local_run_creates_the_templates_table_and_queues(aws):
    table = boto3.client("dynamodb").describe_table(TableName=aws["WebhooksTable"]["name"])["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    ttl = boto3.client("dynamodb").describe_time_to_live(TableName=aws["WebhooksTable"]["name"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"
    assert aws["DeliveryQueue"]["QueueName"] == delivery_queue_name()
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=aws["DeliveryQueue"]["url"],
                                                          AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert aws["DeliveryDeadLetterQueue"]["Arn"] in attributes["RedrivePolicy"]

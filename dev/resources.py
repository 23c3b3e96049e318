"""Create the resources of ``.chalice/resources.json`` (the deployed stack's own file) on moto.

Only what that file uses is understood: DynamoDB tables and SQS queues, with ``Fn::Sub``,
``Fn::GetAtt ... Arn`` and ``Ref``; entries without a ``Type`` only amend Chalice's own
functions in the package and have nothing to create here. Any other type is an error, so the
two cannot drift apart.

Creating them again is harmless: a table that exists is used as it is (the local run keeps its
data between runs, see dev/local_aws/state.py), and SQS answers an existing queue's URL when it is
asked for the same queue again.
"""

import json
import pathlib

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / ".chalice" / "resources.json"
# Alarms watch AWS's own metrics; the local run has nothing for them to watch. API Gateway's
# error answers are the local API server's own (dev/api_server.py).
_NOT_LOCAL = {"AWS::CloudWatch::Alarm", "AWS::SNS::Topic", "AWS::SQS::QueuePolicy", "AWS::ApiGateway::GatewayResponse"}
_QUEUE_ATTRIBUTES = (
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
)


def load_template(path=TEMPLATE):
    return json.loads(pathlib.Path(path).read_text())


class _Stack:
    def __init__(self, template, stack_name, region, account, dynamodb, sqs):
        self.resources = template["Resources"]
        self.parameters = template.get("Parameters", {})
        self.pseudo = {"AWS::StackName": stack_name, "AWS::Region": region, "AWS::AccountId": account,
                       "AWS::Partition": "aws"}
        self.dynamodb = dynamodb
        self.sqs = sqs
        self.created = {}

    def resolve(self, value):
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            for name, replacement in self.pseudo.items():
                text = text.replace("${%s}" % name, replacement)
            for name, parameter in self.parameters.items():
                text = text.replace("${%s}" % name, str(parameter.get("Default", "")))
            if "${" in text:
                raise ValueError(f"cannot substitute {text!r} locally")
            return text
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.create(logical_id)[attribute]
        if "Ref" in value:
            return self.create(value["Ref"])["Ref"]
        return {key: self.resolve(item) for key, item in value.items()}

    def create(self, logical_id):
        if logical_id not in self.created:
            resource = self.resources[logical_id]
            kind = resource["Type"]
            if kind in _NOT_LOCAL:
                self.created[logical_id] = {}
                return self.created[logical_id]
            properties = self.resolve(resource.get("Properties", {}))
            if kind == "AWS::DynamoDB::Table":
                self.created[logical_id] = self._table(properties)
            elif kind == "AWS::SQS::Queue":
                self.created[logical_id] = self._queue(properties)
            else:
                raise ValueError(f"the local run cannot create {kind} ({logical_id})")
        return self.created[logical_id]

    def _table(self, p):
        name = p["TableName"]
        try:
            self.dynamodb.create_table(
                TableName=name,
                BillingMode=p.get("BillingMode", "PAY_PER_REQUEST"),
                AttributeDefinitions=p["AttributeDefinitions"],
                KeySchema=p["KeySchema"],
                **({"GlobalSecondaryIndexes": p["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in p else {}),
            )
        except self.dynamodb.exceptions.ResourceInUseException:
            pass  # kept from an earlier run
        ttl = p.get("TimeToLiveSpecification")
        # DynamoDB refuses to enable a TTL that is already enabled.
        if ttl and self.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"].get(
                "TimeToLiveStatus") != "ENABLED":
            self.dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        arn = self.dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
        return {"Ref": name, "Arn": arn, "name": name}

    def _queue(self, p):
        attributes = {key: _text(p[key]) for key in _QUEUE_ATTRIBUTES if key in p}
        if "RedrivePolicy" in p:
            attributes["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
        url = self.sqs.create_queue(QueueName=p["QueueName"], Attributes=attributes)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "Arn": arn, "QueueName": p["QueueName"], "url": url}


def _text(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def create_resources(dynamodb, sqs, stack_name="inevent-webhooks", region="us-east-1", account="123456789012",
                     template=None):
    """Create every resource of the template; return what each became, by logical ID."""
    stack = _Stack(template or load_template(), stack_name, region, account, dynamodb, sqs)
    for logical_id, resource in stack.resources.items():
        if "Type" in resource:
            stack.create(logical_id)
    return stack.created


def service_environment(created):
    """The environment variables that point the service at the created resources."""
    return {
        "WEBHOOKS_TABLE": created["WebhooksTable"]["name"],
        "DELIVERY_QUEUE_URL": created["DeliveryQueue"]["url"],
        "ERASURE_QUEUE_URL": created["ErasureQueue"]["url"],
    }

"""``make terraform``: the stack as Terraform, in build/terraform, for current Terraform.

``chalice package --pkg-format terraform`` writes the functions, roles, API and event wiring,
pinned to Terraform < 1.4 and the AWS provider < 5, and without the resources of
``.chalice/resources.json``. This brings it up to date and adds the same table, queues,
dead-letter queues, alarms and settings as the SAM template (``make package``):

- Terraform >= 1.5 and the AWS provider >= 5; no null provider (its data source is gone);
- the table, the delivery queue and its dead-letter queue, the erasure queue and its
  dead-letter queue, the platform events' dead-letter queue and its policy, the alarm topic and the three alarms;
- the functions' runtime (dev/package.py's ``RUNTIME``), environment and Powertools layer, the platform function's dead-letter queue,
  the SQS event source on the stack's queue with partial batch responses, the rule on the
  platform's bus with retries and a dead-letter queue, API throttling;
- the API's stage as its own resource (the provider's deployment no longer makes it);
- API Gateway's own errors in the contract's shape (the template's Gateway Responses), with
  the deployment made after them and made again when they change;
- each role's policy from ``.chalice/policy-templates/`` (dev/iam.py), narrowed to these
  resources and the function's own log group, and AWS's managed policy for X-Ray traces;
- with ``--fixed-egress``, the network of dev/egress.py (translated from its CloudFormation
  resources, so the two stacks cannot differ), the delivery and test-send functions in it and
  its addresses as an output; without it, no test-send function.

    python -m dev.terraform [--stage prod] [--out build/terraform] [--fixed-egress]
"""

import hashlib
import json
import pathlib
import re

from dev import egress, iam
from dev.package import RUNTIME, add_bytecode, chalice_package, parse_arguments

ROOT = pathlib.Path(__file__).resolve().parent.parent
ROLES = {"api_handler_role": "api_handler", "platform_event_role": "platform_event", "deliver_role": "deliver",
         "erase_person_role": "erase_person", "test_send_role": "test_send"}
ACCOUNT = "${data.aws_caller_identity.chalice.account_id}"
REGION = "${data.aws_region.chalice.name}"
PARTITION = "${data.aws_partition.chalice.partition}"


def resources_json():
    return json.loads((ROOT / ".chalice" / "resources.json").read_text())


def finish(tf, stage, fixed_egress=False):
    """Chalice's Terraform for ``stage``, brought up to date and completed, one step at a time."""
    tf, prefix = without_null_provider(tf, stage)
    if not fixed_egress:  # test sends leave from the API function: no test-send function
        for kind, name in (("aws_lambda_function", "test_send"), ("aws_iam_role", "test_send_role"),
                           ("aws_iam_role_policy", "test_send_role")):
            del tf["resource"][kind][name]
    tf["terraform"] = {"required_version": ">= 1.5.0",
                       "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0"}}}
    template = resources_json()
    tf["variable"] = variables(template["Parameters"])
    r = tf["resource"]
    add_table_and_queues(r, template["Resources"], prefix)
    add_alarms(r, template["Resources"], prefix)
    wire_functions(r, template["Resources"], prefix)
    if fixed_egress:
        add_fixed_egress(tf, prefix)
    narrow_role_policies(r, stage, fixed_egress)
    add_api_stage(r, template["Resources"], stage)
    tf["output"]["EndpointURL"] = {"value": "${aws_api_gateway_stage.rest_api.invoke_url}"}
    tf["output"].update(
        AlarmTopicArn={"value": "${aws_sns_topic.alarms.arn}"},
        WebhooksTableName={"value": "${aws_dynamodb_table.webhooks.name}"},
        DeliveryQueueUrl={"value": "${aws_sqs_queue.deliveries.url}"},
    )
    return tf


def without_null_provider(tf, stage):
    """The app's name and stage written in where Chalice reads them from a null data source;
    returns the new configuration and the prefix of the stack's resource names."""
    app = tf["data"]["null_data_source"]["chalice"]["inputs"]["app"]
    text = json.dumps(tf)
    text = text.replace("${data.null_data_source.chalice.outputs.app}", app)
    text = text.replace("${data.null_data_source.chalice.outputs.stage}", stage)
    tf = json.loads(text)
    del tf["data"]["null_data_source"]
    return tf, f"{app}-{stage}"


def variables(parameters):
    """The SAM template's parameters, as Terraform variables."""
    return {
        "platform_event_bus_name": {"type": "string", "default": parameters["PlatformEventBusName"]["Default"],
                                    "description": parameters["PlatformEventBusName"]["Description"]},
        "powertools_layer_version": {"type": "number", "default": parameters["PowertoolsLayerVersion"]["Default"]},
        "api_rate_limit": {"type": "number", "default": parameters["ApiRateLimit"]["Default"]},
        "api_burst_limit": {"type": "number", "default": parameters["ApiBurstLimit"]["Default"]},
    }


def add_table_and_queues(r, template, prefix):
    """The table, the delivery queue and its dead-letter queue, the platform events' dead-letter
    queue and the policy that lets EventBridge put events on it."""
    table = template["WebhooksTable"]["Properties"]
    queue = template["DeliveryQueue"]["Properties"]
    erasures = template["ErasureQueue"]["Properties"]
    r["aws_dynamodb_table"] = {"webhooks": {
        "name": f"{prefix}-webhooks", "billing_mode": table["BillingMode"], "hash_key": "pk", "range_key": "sk",
        "attribute": [{"name": a["AttributeName"], "type": a["AttributeType"]} for a in table["AttributeDefinitions"]],
        "ttl": {"attribute_name": table["TimeToLiveSpecification"]["AttributeName"], "enabled": True},
        "point_in_time_recovery": {"enabled": True}, "server_side_encryption": {"enabled": True},
    }}
    retention = queue["MessageRetentionPeriod"]
    r["aws_sqs_queue"] = {
        "deliveries_dlq": {"name": f"{prefix}-deliveries-dlq.fifo", "fifo_queue": True,
                           "message_retention_seconds": retention, "sqs_managed_sse_enabled": True},
        "deliveries": {
            "name": f"{prefix}-deliveries.fifo", "fifo_queue": True,
            "deduplication_scope": queue["DeduplicationScope"], "fifo_throughput_limit": queue["FifoThroughputLimit"],
            "visibility_timeout_seconds": queue["VisibilityTimeout"], "message_retention_seconds": retention,
            "sqs_managed_sse_enabled": True,
            "redrive_policy": "${jsonencode({deadLetterTargetArn = aws_sqs_queue.deliveries_dlq.arn, maxReceiveCount = %d})}"
                              % queue["RedrivePolicy"]["maxReceiveCount"],
        },
        "platform_events_dlq": {"name": f"{prefix}-platform-events-dlq", "message_retention_seconds": retention,
                                "sqs_managed_sse_enabled": True},
        "erasures_dlq": {"name": f"{prefix}-erasures-dlq", "message_retention_seconds": retention,
                         "sqs_managed_sse_enabled": True},
        "erasures": {
            "name": f"{prefix}-erasures", "visibility_timeout_seconds": erasures["VisibilityTimeout"],
            "message_retention_seconds": retention, "sqs_managed_sse_enabled": True,
            "redrive_policy": "${jsonencode({deadLetterTargetArn = aws_sqs_queue.erasures_dlq.arn, maxReceiveCount = %d})}"
                              % erasures["RedrivePolicy"]["maxReceiveCount"],
        },
    }
    r["aws_sqs_queue_policy"] = {"platform_events_dlq": {
        "queue_url": "${aws_sqs_queue.platform_events_dlq.id}",
        "policy": json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "EventBridgeDeadLetters", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": "${aws_sqs_queue.platform_events_dlq.arn}"}]}),
    }}


def alarm(description, queue_name):
    return {
        "alarm_name": None, "alarm_description": description, "namespace": "AWS/SQS",
        "metric_name": "ApproximateNumberOfMessagesVisible", "dimensions": {"QueueName": queue_name},
        "statistic": "Maximum", "period": 300, "evaluation_periods": 1, "threshold": 0,
        "comparison_operator": "GreaterThanThreshold", "treat_missing_data": "notBreaching",
        "alarm_actions": ["${aws_sns_topic.alarms.arn}"], "ok_actions": ["${aws_sns_topic.alarms.arn}"],
    }


def add_alarms(r, template, prefix):
    """The alarm topic, the two dead-letter alarms, the delivery failure rate alarm and the lost
    records' alarm."""
    r["aws_sns_topic"] = {"alarms": {"name": f"{prefix}-alarms", "display_name": "InEvent webhooks alarms"}}
    rate = template["DeliveryFailureRateAlarm"]["Properties"]
    dead = alarm(template["DeadLetterAlarm"]["Properties"]["AlarmDescription"], "${aws_sqs_queue.deliveries_dlq.name}")
    platform_dead = alarm(template["PlatformEventDeadLetterAlarm"]["Properties"]["AlarmDescription"],
                          "${aws_sqs_queue.platform_events_dlq.name}")
    dead["alarm_name"], platform_dead["alarm_name"] = f"{prefix}-dead-letters", f"{prefix}-platform-event-dead-letters"
    queries = []
    for metric in rate["Metrics"]:
        if "Expression" in metric:
            queries.append({"id": metric["Id"], "expression": metric["Expression"], "label": metric["Label"],
                            "return_data": True})
        else:
            stat = metric["MetricStat"]
            queries.append({"id": metric["Id"], "return_data": False, "metric": {
                "namespace": stat["Metric"]["Namespace"], "metric_name": stat["Metric"]["MetricName"],
                "dimensions": {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]},
                "period": stat["Period"], "stat": stat["Stat"]}})
    r["aws_cloudwatch_metric_alarm"] = {
        "dead_letters": dead,
        "platform_event_dead_letters": platform_dead,
        "delivery_failure_rate": {
            "alarm_name": f"{prefix}-delivery-failure-rate", "alarm_description": rate["AlarmDescription"],
            "metric_query": queries, "evaluation_periods": 1, "threshold": rate["Threshold"],
            "comparison_operator": rate["ComparisonOperator"], "treat_missing_data": "notBreaching",
            "alarm_actions": ["${aws_sns_topic.alarms.arn}"], "ok_actions": ["${aws_sns_topic.alarms.arn}"],
        },
        "record_lost": record_lost_alarm(template["RecordLostAlarm"]["Properties"], prefix),
    }


def record_lost_alarm(properties, prefix):
    """The alarm on the worker's own RecordLost metric (an attempt's record lost for good)."""
    return {
        "alarm_name": f"{prefix}-record-lost", "alarm_description": properties["AlarmDescription"],
        "namespace": properties["Namespace"], "metric_name": properties["MetricName"],
        "dimensions": {d["Name"]: d["Value"] for d in properties["Dimensions"]}, "statistic": properties["Statistic"],
        "period": properties["Period"], "evaluation_periods": 1, "threshold": properties["Threshold"],
        "comparison_operator": properties["ComparisonOperator"], "treat_missing_data": "notBreaching",
        "alarm_actions": ["${aws_sns_topic.alarms.arn}"], "ok_actions": ["${aws_sns_topic.alarms.arn}"],
    }


def wire_functions(r, template, prefix):
    """The functions' environment and Powertools layer, the platform function's dead-letter
    queue, the SQS event source on the stack's queue with partial batch responses, and the rule
    on the platform's bus with retries and a dead-letter queue."""
    layer = (f"arn:{PARTITION}:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:"
             "${var.powertools_layer_version}")
    for function in r["aws_lambda_function"].values():
        function["environment"]["variables"].update(WEBHOOKS_TABLE="${aws_dynamodb_table.webhooks.name}",
                                                    DELIVERY_QUEUE_URL="${aws_sqs_queue.deliveries.url}",
                                                    ERASURE_QUEUE_URL="${aws_sqs_queue.erasures.url}",
                                                    EVENT_BUS_NAME="${var.platform_event_bus_name}")
        function["layers"] = [layer]
        function["runtime"] = RUNTIME
    r["aws_lambda_function"]["platform_event"]["dead_letter_config"] = {
        "target_arn": "${aws_sqs_queue.platform_events_dlq.arn}"}
    mappings = r["aws_lambda_event_source_mapping"]
    mappings["deliver-sqs-event-source"].update(event_source_arn="${aws_sqs_queue.deliveries.arn}",
                                                function_response_types=["ReportBatchItemFailures"])
    mappings["erase_person-sqs-event-source"].update(event_source_arn="${aws_sqs_queue.erasures.arn}")
    (rule,) = r["aws_cloudwatch_event_rule"].values()
    rule.update(name=f"{prefix}-platform-events", event_bus_name="${var.platform_event_bus_name}")
    (target,) = r["aws_cloudwatch_event_target"].values()
    events = template["PlatformEvent"]["Properties"]["Events"]["PlatformEventEvent"]["Properties"]
    target.update(event_bus_name="${var.platform_event_bus_name}",
                  dead_letter_config={"arn": "${aws_sqs_queue.platform_events_dlq.arn}"},
                  retry_policy={"maximum_event_age_in_seconds": events["RetryPolicy"]["MaximumEventAgeInSeconds"],
                                "maximum_retry_attempts": events["RetryPolicy"]["MaximumRetryAttempts"]})


def narrow_role_policies(r, stage, fixed_egress=False):
    """Each role's policy from its template (dev/iam.py), narrowed to these resources and the
    function's own log group."""
    roles = {role: function for role, function in ROLES.items() if role in r["aws_iam_role_policy"]}
    network_interfaces = f"arn:{PARTITION}:ec2:{REGION}:{ACCOUNT}:network-interface/*"
    for role, function in roles.items():
        resources = {
            "${WebhooksTable}": "${aws_dynamodb_table.webhooks.arn}",
            "${DeliveryQueue}": "${aws_sqs_queue.deliveries.arn}",
            "${PlatformEventDeadLetterQueue}": "${aws_sqs_queue.platform_events_dlq.arn}",
            "${ErasureQueue}": "${aws_sqs_queue.erasures.arn}",
            "${EventBus}": f"arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/${{var.platform_event_bus_name}}",
            "${LogGroup}": iam.log_group_arns(stage, function, PARTITION, REGION, ACCOUNT),
            "${TestSendFunction}": "${aws_lambda_function.test_send.arn}",
            "${EgressNetwork}": [f"${{aws_subnet.{_tf_name(f'EgressPrivateSubnet{zone}')}.arn}}"
                                 for zone in range(egress.ZONES)]
                                + ["${aws_security_group.egress_security_group.arn}", network_interfaces],
            "${NetworkInterfaces}": network_interfaces,
            "${AnyResource}": "*",
        }
        document = iam.narrowed(iam.template(function, fixed_egress), resources)
        r["aws_iam_role_policy"][role]["policy"] = json.dumps(document)
    # Active tracing: each function writes its X-Ray segments (AWS's managed policy, as in the SAM template).
    r["aws_iam_role_policy_attachment"] = {
        f"{role}_xray": {"role": f"${{aws_iam_role.{role}.name}}",
                         "policy_arn": f"arn:{PARTITION}:iam::aws:policy/AWSXrayWriteOnlyAccess"}
        for role in roles}


# dev/egress.py's CloudFormation types, and the provider's resource for each.
_TF_TYPES = {
    "AWS::EC2::VPC": "aws_vpc", "AWS::EC2::InternetGateway": "aws_internet_gateway",
    "AWS::EC2::VPCGatewayAttachment": "aws_internet_gateway_attachment", "AWS::EC2::RouteTable": "aws_route_table",
    "AWS::EC2::Route": "aws_route", "AWS::EC2::SecurityGroup": "aws_security_group",
    "AWS::EC2::NetworkAcl": "aws_network_acl", "AWS::EC2::NetworkAclEntry": "aws_network_acl_rule",
    "AWS::EC2::VPCEndpoint": "aws_vpc_endpoint", "AWS::EC2::Subnet": "aws_subnet",
    "AWS::EC2::SubnetRouteTableAssociation": "aws_route_table_association", "AWS::EC2::EIP": "aws_eip",
    "AWS::EC2::NatGateway": "aws_nat_gateway", "AWS::EC2::SubnetNetworkAclAssociation": "aws_network_acl_association",
}


def _tf_name(logical_id):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()


def add_fixed_egress(tf, prefix):
    """dev/egress.py's network, translated from its CloudFormation resources; the delivery and
    test-send functions in it; the API pointed at the test-send function; the addresses output."""
    network = egress.resources()
    types = {logical_id: _TF_TYPES[resource["Type"]] for logical_id, resource in network.items()}

    def value(v, attribute=None):
        if isinstance(v, list):
            return [value(item) for item in v]
        if not isinstance(v, dict):
            return v
        if "Ref" in v:
            return f"${{{types[v['Ref']]}.{_tf_name(v['Ref'])}.id}}"
        if "Fn::GetAtt" in v:  # an Elastic IP's AllocationId is its id
            return f"${{{types[v['Fn::GetAtt'][0]]}.{_tf_name(v['Fn::GetAtt'][0])}.id}}"
        if "Fn::Select" in v:  # the zone-th availability zone
            return f"${{data.aws_availability_zones.available.names[{v['Fn::Select'][0]}]}}"
        if "Fn::Sub" in v:
            return v["Fn::Sub"].replace("${AWS::StackName}", prefix).replace("${AWS::Region}", REGION)
        raise ValueError(f"no Terraform for {v}")

    r = tf["resource"]
    for logical_id, resource in network.items():
        properties = dict(resource["Properties"])
        block = {}
        if "Tags" in properties:
            block["tags"] = {tag["Key"]: value(tag["Value"]) for tag in properties.pop("Tags")}
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            block["description"] = properties.pop("GroupDescription")
            for number, rule in enumerate(properties.pop("SecurityGroupEgress")):
                r.setdefault("aws_vpc_security_group_egress_rule", {})[f"{_tf_name(logical_id)}_{number}"] = {
                    "security_group_id": f"${{aws_security_group.{_tf_name(logical_id)}.id}}",
                    "ip_protocol": rule["IpProtocol"], "cidr_ipv4": rule["CidrIp"], "description": rule["Description"]}
        if resource["Type"] == "AWS::EC2::NetworkAclEntry":
            properties["Protocol"] = str(properties["Protocol"])
        for name, given in properties.items():
            block[_tf_name(name)] = value(given)
        if "DependsOn" in resource:
            block["depends_on"] = [f"{types[resource['DependsOn']]}.{_tf_name(resource['DependsOn'])}"]
        r.setdefault(types[logical_id], {})[_tf_name(logical_id)] = block
    tf["data"]["aws_availability_zones"] = {"available": {"state": "available"}}
    subnets = egress.vpc_config()
    for function in egress.VPC_FUNCTIONS:
        r["aws_lambda_function"][function]["vpc_config"] = {
            "subnet_ids": value(subnets["SubnetIds"]), "security_group_ids": value(subnets["SecurityGroupIds"])}
    r["aws_lambda_function"]["api_handler"]["environment"]["variables"]["TEST_SEND_FUNCTION"] = \
        "${aws_lambda_function.test_send.function_name}"
    addresses = ", ".join(f"aws_eip.{_tf_name(f'EgressAddress{zone}')}.public_ip" for zone in range(egress.ZONES))
    (name, output), = egress.outputs().items()
    tf["output"][name] = {"value": f'${{join(",", [{addresses}])}}', "description": output["Description"]}


def add_api_stage(r, template, stage):
    """The API's stage as its own resource, with throttling, and API Gateway's own errors in the
    contract's shape, the deployment made after them and made again when they change."""
    # The provider's deployment no longer makes its stage: an aws_api_gateway_stage does.
    deployment = r["aws_api_gateway_deployment"]["rest_api"]
    deployment.pop("stage_name", None)
    deployment.pop("stage_description", None)
    responses = gateway_responses(template)
    r["aws_api_gateway_gateway_response"] = responses
    # A stage serves the Gateway Responses of its deployment: deploy after them, and again when they change.
    deployment["depends_on"] = [f"aws_api_gateway_gateway_response.{name}" for name in responses]
    changed = hashlib.md5(json.dumps(responses, sort_keys=True).encode()).hexdigest()
    deployment["triggers"] = {"redeployment": '${md5(join(",", [local.chalice_api_swagger, "%s"]))}' % changed}
    r["aws_api_gateway_stage"] = {"rest_api": {
        "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}", "stage_name": stage,
        "deployment_id": "${aws_api_gateway_deployment.rest_api.id}", "xray_tracing_enabled": True,
    }}
    r["aws_api_gateway_method_settings"] = {"all": {
        "rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}", "stage_name": "${aws_api_gateway_stage.rest_api.stage_name}",
        "method_path": "*/*",
        "settings": {"throttling_rate_limit": "${var.api_rate_limit}", "throttling_burst_limit": "${var.api_burst_limit}"},
    }}


def gateway_responses(template):
    """The template's AWS::ApiGateway::GatewayResponse resources, for the provider."""
    responses = {}
    for logical_id, resource in template.items():
        if resource.get("Type") == "AWS::ApiGateway::GatewayResponse":
            p = resource["Properties"]
            name = re.sub(r"(?<!^)(?=[A-Z])", "_", logical_id).lower()
            responses[name] = {"rest_api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                               "response_type": p["ResponseType"], "response_parameters": p["ResponseParameters"],
                               "response_templates": p["ResponseTemplates"],
                               **({"status_code": p["StatusCode"]} if "StatusCode" in p else {})}
    return responses


def main(argv=None):
    stage, out, fixed_egress = parse_arguments(argv, "python -m dev.terraform", "terraform")
    chalice_package(stage, out, "--pkg-format", "terraform")
    add_bytecode(out / "deployment.zip")
    path = out / "chalice.tf.json"
    tf = finish(json.loads(path.read_text()), stage, fixed_egress)
    path.write_text(json.dumps(tf, indent=2) + "\n")
    leftover = re.findall(r"null_data_source", path.read_text())
    assert not leftover, "the null provider is still referenced"
    print(f"{path}: {sum(len(v) for v in tf['resource'].values())} resources; "
          f"deployment.zip {(out / 'deployment.zip').stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()

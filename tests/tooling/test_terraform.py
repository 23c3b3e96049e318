"""The Terraform form of the stack: current Terraform, the same resources as the SAM template."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from dev import iam, terraform

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLUGINS = "/opt/tf-plugins"  # a local provider mirror: this machine cannot reach Terraform's registry


def build(tmp_path_factory, *options):
    out = tmp_path_factory.mktemp("terraform")
    result = subprocess.run([sys.executable, "-m", "dev.terraform", "--stage", "prod", "--out", str(out), *options],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def terraform_dir(tmp_path_factory):
    return build(tmp_path_factory)


@pytest.fixture(scope="module")
def terraform_dir_with_fixed_egress(tmp_path_factory):
    return build(tmp_path_factory, "--fixed-egress")


def test_it_asks_for_current_terraform_and_no_null_provider(terraform_dir):
    tf = json.loads((terraform_dir / "chalice.tf.json").read_text())
    assert tf["terraform"] == {"required_version": ">= 1.5.0",
                               "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 5.0"}}}
    assert "null_data_source" not in (terraform_dir / "chalice.tf.json").read_text()


def test_it_has_the_same_resources_and_wiring_as_the_sam_template(terraform_dir):
    resources = json.loads((terraform_dir / "chalice.tf.json").read_text())["resource"]
    assert set(resources["aws_sqs_queue"]) == {"deliveries", "deliveries_dlq", "platform_events_dlq", "erasures",
                                               "erasures_dlq"}
    erasures = resources["aws_lambda_event_source_mapping"]["erase_person-sqs-event-source"]
    assert erasures["event_source_arn"] == "${aws_sqs_queue.erasures.arn}"
    assert resources["aws_sqs_queue"]["deliveries"]["fifo_queue"] is True
    assert resources["aws_dynamodb_table"]["webhooks"]["ttl"]["attribute_name"] == "expiresAt"
    assert len(resources["aws_cloudwatch_metric_alarm"]) == 4
    assert resources["aws_cloudwatch_metric_alarm"]["record_lost"]["metric_name"] == "RecordLost"
    mapping = resources["aws_lambda_event_source_mapping"]["deliver-sqs-event-source"]
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["event_source_arn"] == "${aws_sqs_queue.deliveries.arn}"
    (rule,) = resources["aws_cloudwatch_event_rule"].values()
    assert rule["event_bus_name"] == "${var.platform_event_bus_name}"
    for role, function in terraform.ROLES.items():
        if role == "test_send_role":
            assert role not in resources["aws_iam_role_policy"]  # without fixed egress the API sends tests
            continue
        policy = resources["aws_iam_role_policy"][role]["policy"]
        assert '"Resource": "arn:aws' not in policy, role  # narrowed to this stack's resources
        conditions = [s.get("Condition") for s in json.loads(policy)["Statement"]]
        assert conditions == [s.get("Condition") for s in iam.template(function)["Statement"]], role  # its partition keys
    for function in resources["aws_lambda_function"].values():
        assert {"WEBHOOKS_TABLE", "DELIVERY_QUEUE_URL", "ERASURE_QUEUE_URL", "EVENT_BUS_NAME"} <= set(
            function["environment"]["variables"])


@pytest.mark.skipif(not (shutil.which("terraform") and os.path.isdir(PLUGINS)),
                    reason="terraform and its local provider mirror are not on this machine")
@pytest.mark.parametrize("stack", ["terraform_dir", "terraform_dir_with_fixed_egress"])
def test_terraform_validates_it_without_warnings(stack, request):
    terraform_dir = request.getfixturevalue(stack)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    init = subprocess.run(["terraform", "init", "-backend=false", f"-plugin-dir={PLUGINS}", "-input=false", "-no-color"],
                          cwd=terraform_dir, env=env, capture_output=True, text=True, timeout=300)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = subprocess.run(["terraform", "validate", "-no-color"], cwd=terraform_dir, env=env,
                              capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "Success! The configuration is valid." in validate.stdout and "Warning" not in validate.stdout


def test_every_function_runs_on_a_runtime_aws_still_creates_with_active_tracing(terraform_dir):
    from tests.tooling.helpers import assert_creatable

    resources = json.loads((terraform_dir / "chalice.tf.json").read_text())["resource"]
    functions = resources["aws_lambda_function"]
    assert len(functions) == 4  # api_handler, platform_event, deliver, erase_person
    for function in functions.values():
        assert_creatable(function["runtime"])
        assert "python313-x86_64" in function["layers"][0]
        assert function["tracing_config"] == {"mode": "Active"}
    attached = {a["role"]: a["policy_arn"] for a in resources["aws_iam_role_policy_attachment"].values()}
    assert set(attached) == {f"${{aws_iam_role.{role}.name}}" for role in terraform.ROLES if role != "test_send_role"}
    assert {arn.rsplit("/", 1)[1] for arn in attached.values()} == {"AWSXrayWriteOnlyAccess"}
    assert resources["aws_api_gateway_stage"]["rest_api"]["xray_tracing_enabled"] is True


def test_with_fixed_egress_it_has_the_sam_templates_network_and_only_two_functions_in_it(terraform_dir_with_fixed_egress):
    from dev import egress, package

    tf = json.loads((terraform_dir_with_fixed_egress / "chalice.tf.json").read_text())
    resources = tf["resource"]
    in_vpc = {name for name, function in resources["aws_lambda_function"].items() if "vpc_config" in function}
    assert in_vpc == set(egress.VPC_FUNCTIONS)
    assert len(resources["aws_nat_gateway"]) == len(resources["aws_eip"]) == egress.ZONES
    # Every resource of dev/egress.py's network is here, translated (the security group's rule on its own).
    network_types = [r["Type"] for r in egress.resources().values()]
    assert sum(len(resources[t]) for t in set(terraform._TF_TYPES[n] for n in network_types)) == len(network_types)
    assert resources["aws_vpc_security_group_egress_rule"]
    assert "public_ip" in tf["output"]["EgressAddresses"]["value"]
    api = resources["aws_lambda_function"]["api_handler"]["environment"]["variables"]
    assert api["TEST_SEND_FUNCTION"] == "${aws_lambda_function.test_send.function_name}"
    for role, function in terraform.ROLES.items():
        statements = json.loads(resources["aws_iam_role_policy"][role]["policy"])["Statement"]
        assert [s["Sid"] for s in statements] == [s["Sid"] for s in iam.template(function, fixed_egress=True)["Statement"]]
    assert len(package.ROLES) == len(terraform.ROLES)


def test_without_fixed_egress_there_is_no_network_and_no_test_send_function(terraform_dir):
    resources = json.loads((terraform_dir / "chalice.tf.json").read_text())["resource"]
    assert not [kind for kind in resources if kind in terraform._TF_TYPES.values()]
    assert "test_send" not in resources["aws_lambda_function"]
    assert "test_send_role" not in resources["aws_iam_role"]

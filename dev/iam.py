"""The functions' IAM policies: written once, narrowed to one deployment's resources on every path.

Each function's policy is a template in ``.chalice/policy-templates/``: the actions it calls,
and its resources by name (``${WebhooksTable}``, ``${DeliveryQueue}``,
``${PlatformEventDeadLetterQueue}``, ``${ErasureQueue}``, ``${EventBus}``, ``${LogGroup}``). :func:`narrowed` puts a deployment's own
resources in their place; the conditions (which partition keys of the table a function may
touch, ``dynamodb:LeadingKeys``) are the same everywhere.

- ``make package`` (dev/package.py): the SAM stack's own table, queues and log groups;
- ``make terraform`` (dev/terraform.py): the Terraform resources;
- ``chalice deploy``, which reads the ``iam_policy_file`` of each function as it is: this
  module writes ``.chalice/policy-<function>-<stage>.json`` for every stage (``make
  policies``), naming that stage's own table and queues (:data:`STAGE_STACKS`). Region and
  account are ``*`` there, as the stage's names are not known per account in advance: a role's
  policy reaches no other account's table or queue unless that account's own resource policy
  lets it in, and within the account no two stages share a name.

    python -m dev.iam [--check]
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHALICE = ROOT / ".chalice"
TEMPLATES = CHALICE / "policy-templates"
APP = "inevent-webhooks"
FUNCTIONS = {"api_handler": "api", "platform_event": "platform-event", "deliver": "deliver",
             "erase_person": "erase-person", "test_send": "test-send"}  # function: its template
# What a stack with fixed egress addresses (dev/egress.py) adds to a function's policy: the API
# invokes the test-send function; the functions in the VPC let Lambda give them network interfaces.
EGRESS = {"api_handler": "egress-api", "deliver": "egress-vpc", "test_send": "egress-vpc"}
# The resource stack each stage's `chalice deploy` runs on, named as `sam deploy --stack-name` names it: its table
# is "<stack>-webhooks", its queues "<stack>-deliveries.fifo" and "<stack>-platform-events-dlq". prod's is the stack
# that owns the queue app.py's SQS event source names (inevent-webhooks-deliveries.fifo).
STAGE_STACKS = {"dev": f"{APP}-dev", "prod": APP}


def template(function, fixed_egress=False):
    """The policy template of ``function`` (a key of :data:`FUNCTIONS`), with what fixed egress
    addresses add to it (:data:`EGRESS`) when the stack has them."""
    document = json.loads((TEMPLATES / f"{FUNCTIONS[function]}.json").read_text())
    if fixed_egress and function in EGRESS:
        extra = json.loads((TEMPLATES / f"{EGRESS[function]}.json").read_text())
        document = {**document, "Statement": document["Statement"] + extra["Statement"]}
    return document


def narrowed(document, resources):
    """``document`` with each resource placeholder replaced by ``resources[placeholder]`` (a
    string, a list, or a CloudFormation or Terraform reference)."""
    statements = []
    for statement in document["Statement"]:
        resource = statement["Resource"]
        if resource not in resources:
            raise ValueError(f"statement {statement.get('Sid')}: no resource for {resource!r}")
        statements.append({**statement, "Resource": resources[resource]})
    return {**document, "Statement": statements}


def function_name(stage, function):
    """The name Chalice gives ``function`` of ``stage`` (chalice deploy and Terraform): the API
    handler's is ``<app>-<stage>``, the others' ``<app>-<stage>-<function>``."""
    return f"{APP}-{stage}" if function == "api_handler" else f"{APP}-{stage}-{function}"


def log_group_arns(stage, function, partition="aws", region="*", account="*"):
    """The function's own log group and its streams."""
    log_group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function_name(stage, function)}"
    return [log_group, f"{log_group}:*"]


def stage_resources(stage, function):
    """The resources of ``stage`` as ``chalice deploy`` makes and expects them, for ``function``."""
    stack = STAGE_STACKS[stage]
    return {
        "${WebhooksTable}": f"arn:aws:dynamodb:*:*:table/{stack}-webhooks",
        "${DeliveryQueue}": f"arn:aws:sqs:*:*:{stack}-deliveries.fifo",
        "${PlatformEventDeadLetterQueue}": f"arn:aws:sqs:*:*:{stack}-platform-events-dlq",
        "${ErasureQueue}": f"arn:aws:sqs:*:*:{stack}-erasures",
        # The platform's bus, which every stage listens to (PlatformEventBusName's default).
        "${EventBus}": "arn:aws:events:*:*:event-bus/default",
        "${LogGroup}": log_group_arns(stage, function),
    }


def stage_policy_file(function, stage):
    return f"policy-{FUNCTIONS[function]}-{stage}.json"


def stage_policies():
    """{file name in .chalice: its text} for every function and stage."""
    return {stage_policy_file(function, stage): json.dumps(narrowed(template(function), stage_resources(stage, function)),
                                                           indent=2) + "\n"
            for stage in STAGE_STACKS for function in FUNCTIONS}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dev.iam", description="write chalice deploy's policy files")
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    check = parser.parse_args(argv).check
    stale = []
    for name, text in stage_policies().items():
        path = CHALICE / name
        if not path.exists() or path.read_text() != text:
            stale.append(name)
            if not check:
                path.write_text(text)
    if check and stale:
        sys.exit(f"out of date (run make policies): {', '.join(stale)}")
    print(f"{'stale' if check else 'written'}: {', '.join(stale) or 'none'}")


if __name__ == "__main__":
    main()

"""``make package``: a deployable SAM/CloudFormation template and its code, in build/package.

It runs ``chalice package`` with ``.chalice/resources.json`` merged in, then finishes what a merge
cannot express:

- the delivery function's SQS event source points at the stack's own queue (Chalice names the
  queue by a fixed name; the stack names it after itself, so stacks can live side by side);
- each function's role gets the policy of its ``.chalice/policy-*.json`` (the policy that
  ``chalice deploy`` uses too), with every resource narrowed to this stack's table, queues and
  log groups.

Then it prints the size of the code package.

    python -m dev.package [--stage prod] [--out build/package]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
ROLES = {"ApiHandlerRole": "api_handler", "PlatformEventRole": "platform_event", "DeliverRole": "deliver"}
RESOURCES = {
    "dynamodb": [{"Fn::GetAtt": ["WebhooksTable", "Arn"]}],
    "logs": [{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${AWS::StackName}-*"}],
}
QUEUES = {"-deliveries.fifo": "DeliveryQueue", "-platform-events-dlq": "PlatformEventDeadLetterQueue"}


def narrowed(statement):
    """A policy statement whose resources are this stack's own."""
    service = statement["Action"][0].split(":")[0]
    if service == "sqs":
        (suffix,) = [s for s in QUEUES if statement["Resource"].endswith(s)]
        resources = [{"Fn::GetAtt": [QUEUES[suffix], "Arn"]}]
    else:
        resources = RESOURCES[service]
    return {**statement, "Resource": resources}


def function_policies(stage):
    """{role logical id: policy document} from the stage's iam_policy_file settings."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    functions = config["stages"][stage]["lambda_functions"]
    policies = {}
    for role, function in ROLES.items():
        document = json.loads((ROOT / ".chalice" / functions[function]["iam_policy_file"]).read_text())
        policies[role] = {**document, "Statement": [narrowed(s) for s in document["Statement"]]}
    return policies


def finish(template, stage):
    resources = template["Resources"]
    source = resources["Deliver"]["Properties"]["Events"]["DeliverSqsEventSource"]["Properties"]
    source["Queue"] = {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    for role, document in function_policies(stage).items():
        resources[role]["Properties"]["Policies"] = [{"PolicyName": f"{role}Policy", "PolicyDocument": document}]
    return template


def parse_arguments(argv, prog, out):
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", default=str(ROOT / "build" / out))
    args = parser.parse_args(argv)
    return args.stage, pathlib.Path(args.out)


def chalice_package(stage, out, *options):
    """Run ``chalice package`` for ``stage`` into ``out``; it needs a region, not AWS access."""
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    subprocess.run([str(pathlib.Path(sys.executable).parent / "chalice"), "package", *options, "--stage", stage,
                    str(out)], cwd=ROOT, env=env, check=True)


def main(argv=None):
    stage, out = parse_arguments(argv, "python -m dev.package", "package")
    chalice_package(stage, out, "--merge-template", ".chalice/resources.json")
    template_path = out / "sam.json"
    template = finish(json.loads(template_path.read_text()), stage)
    template_path.write_text(json.dumps(template, indent=2) + "\n")
    package = out / "deployment.zip"
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
    top = sorted({name.split("/")[0] for name in names})
    print(f"{template_path.relative_to(ROOT) if template_path.is_relative_to(ROOT) else template_path}: "
          f"{len(template['Resources'])} resources")
    print(f"{package.name}: {package.stat().st_size / 1024:.1f} KiB ({package.stat().st_size} bytes), "
          f"{len(names)} files: {', '.join(top)}")


if __name__ == "__main__":
    main()

"""``make package``: a deployable SAM/CloudFormation template and its code, in build/package.

It runs ``chalice package`` with ``.chalice/resources.json`` merged in, then finishes what a merge
cannot express:

- the delivery and erasure functions' SQS event sources point at the stack's own queues (Chalice names the
  queue by a fixed name; the stack names it after itself, so stacks can live side by side);
- every function runs on ``RUNTIME`` (Chalice writes the version of the Python that runs it,
  so a package built on another Python still deploys on the runtime the stack is tested on);
- each function's role gets its policy from ``.chalice/policy-templates/`` (dev/iam.py), with
  every resource narrowed to this stack's table, queues and log groups, and AWS's managed policy
  for writing X-Ray traces (the functions are traced: chalicelib/tracing.py).

With ``--fixed-egress`` (``make package FIXED_EGRESS=1``) the delivery and test-send functions
run in a VPC that leaves through NAT gateways with Elastic IPs (dev/egress.py), which the stack
outputs, and the API hands test sends to the test-send function; without it the test-send
function is left out (the API makes test sends itself) and no function is in a VPC.

Last, it adds the bytecode of every module to the code package (:func:`add_bytecode`), and
prints the package's size.

    python -m dev.package [--stage prod] [--out build/package] [--fixed-egress]
"""

import argparse
import compileall
import json
import os
import pathlib
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile

from dev import egress, iam

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The Lambda runtime of every function: Amazon Linux 2023, supported until 2029 (docs/deploy.md).
# .chalice/resources.json names AWS's Powertools layer built for it.
RUNTIME = "python3.13"
# Active tracing (.chalice/config.json's "xray"): each function sends its segments to X-Ray.
XRAY_POLICY = "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"
ROLES = {"ApiHandlerRole": "api_handler", "PlatformEventRole": "platform_event", "DeliverRole": "deliver",
         "ErasePersonRole": "erase_person", "TestSendRole": "test_send"}
FUNCTIONS = {role.removesuffix("Role"): function for role, function in ROLES.items()}  # logical ID: Chalice's name
_EC2 = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
# What each resource of the policy templates is in this stack (the logical IDs of .chalice/resources.json).
RESOURCES = {
    "${WebhooksTable}": [{"Fn::GetAtt": ["WebhooksTable", "Arn"]}],
    "${DeliveryQueue}": [{"Fn::GetAtt": ["DeliveryQueue", "Arn"]}],
    "${PlatformEventDeadLetterQueue}": [{"Fn::GetAtt": ["PlatformEventDeadLetterQueue", "Arn"]}],
    "${ErasureQueue}": [{"Fn::GetAtt": ["ErasureQueue", "Arn"]}],
    "${EventBus}": [{"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/"
                                "${PlatformEventBusName}"}],
    "${LogGroup}": [{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
                                "/aws/lambda/${AWS::StackName}-*"}],
    # With fixed egress addresses (dev/egress.py):
    "${TestSendFunction}": [{"Fn::GetAtt": ["TestSend", "Arn"]}],
    "${EgressNetwork}": [{"Fn::Sub": _EC2 + "subnet/${EgressPrivateSubnet%d}" % zone} for zone in range(egress.ZONES)]
                        + [{"Fn::Sub": _EC2 + "security-group/${EgressSecurityGroup}"},
                           {"Fn::Sub": _EC2 + "network-interface/*"}],
    "${NetworkInterfaces}": [{"Fn::Sub": _EC2 + "network-interface/*"}],
    "${AnyResource}": "*",
}


def finish(template, fixed_egress=False):
    resources = template["Resources"]
    if fixed_egress:
        add_fixed_egress(template)
    else:  # test sends leave from the API function: no test-send function
        del resources["TestSend"], resources["TestSendRole"]
    source = resources["Deliver"]["Properties"]["Events"]["DeliverSqsEventSource"]["Properties"]
    source["Queue"] = {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    erasures = resources["ErasePerson"]["Properties"]["Events"]["ErasePersonSqsEventSource"]["Properties"]
    erasures["Queue"] = {"Fn::GetAtt": ["ErasureQueue", "Arn"]}
    for resource in resources.values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["Runtime"] = RUNTIME
    for role, function in ROLES.items():
        if role not in resources:
            continue
        document = iam.narrowed(iam.template(function, fixed_egress), RESOURCES)
        resources[role]["Properties"]["Policies"] = [{"PolicyName": f"{role}Policy", "PolicyDocument": document}]
        resources[role]["Properties"]["ManagedPolicyArns"] = [{"Fn::Sub": XRAY_POLICY}]
    return template


def add_fixed_egress(template):
    """The VPC of dev/egress.py, the delivery and test-send functions in it, its addresses as an
    output, and the API pointed at the test-send function."""
    resources = template["Resources"]
    resources.update(egress.resources())
    for logical_id, function in FUNCTIONS.items():
        if function in egress.VPC_FUNCTIONS:
            resources[logical_id]["Properties"]["VpcConfig"] = egress.vpc_config()
    environment = resources["APIHandler"]["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
    environment["TEST_SEND_FUNCTION"] = {"Ref": "TestSend"}
    template.setdefault("Outputs", {}).update(egress.outputs())


def add_bytecode(package):
    """Add each module's bytecode to ``package`` (a deployment.zip), compiled here for ``RUNTIME``.

    Lambda's code directory is read-only: without bytecode in the package, Python compiles every
    module of the package again at each cold start (about 40 ms for this code on a 2-core
    machine). The bytecode is unchecked-hash (PEP 552): Python takes it without comparing the
    source's timestamp, which a zip does not keep reliably. Built on any other Python than the
    runtime's, it would be ignored, so then the package is left as it is.
    """
    if f"python{sys.version_info[0]}.{sys.version_info[1]}" != RUNTIME:
        print(f"bytecode not added: this is Python {sys.version.split()[0]}, the runtime is {RUNTIME}")
        return
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(package) as archive:
            archive.extractall(folder)
        compileall.compile_dir(folder, ddir="/var/task", quiet=1, workers=1,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with zipfile.ZipFile(package, "a", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(pathlib.Path(folder).rglob("*.pyc")):
                # Dated as the zip format's epoch, so that a build is repeatable.
                info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)


def parse_arguments(argv, prog, out):
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", default=str(ROOT / "build" / out))
    parser.add_argument("--fixed-egress", action="store_true",
                        help="deliveries and test sends leave from fixed addresses (NAT gateways in a VPC)")
    args = parser.parse_args(argv)
    return args.stage, pathlib.Path(args.out), args.fixed_egress


def chalice_package(stage, out, *options):
    """Run ``chalice package`` for ``stage`` into ``out``; it needs a region, not AWS access.

    Chalice packs whatever ``chalicelib/`` holds, the bytecode that running the tests or the
    local run leaves in its ``__pycache__`` folders included: stale, timestamp-checked, and then
    doubled by :func:`add_bytecode`'s own under the same names. So it packs a copy of the project
    without them: emptying the folders in place was not enough while other processes (the
    suite's parallel workers, a local run) imported the modules and wrote them again meanwhile."""
    with tempfile.TemporaryDirectory() as project:
        for name in ("app.py", "requirements.txt"):
            shutil.copy2(ROOT / name, project)
        for name in ("chalicelib", ".chalice"):
            shutil.copytree(ROOT / name, pathlib.Path(project) / name, ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        subprocess.run([str(pathlib.Path(sys.executable).parent / "chalice"), "package", *options, "--stage", stage,
                        str(pathlib.Path(out).resolve())], cwd=project, env=env, check=True)


def main(argv=None):
    stage, out, fixed_egress = parse_arguments(argv, "python -m dev.package", "package")
    chalice_package(stage, out, "--merge-template", ".chalice/resources.json")
    template_path = out / "sam.json"
    template = finish(json.loads(template_path.read_text()), fixed_egress)
    template_path.write_text(json.dumps(template, indent=2) + "\n")
    package = out / "deployment.zip"
    add_bytecode(package)
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
    top = sorted({name.split("/")[0] for name in names})
    print(f"{template_path.relative_to(ROOT) if template_path.is_relative_to(ROOT) else template_path}: "
          f"{len(template['Resources'])} resources")
    print(f"{package.name}: {package.stat().st_size / 1024:.1f} KiB ({package.stat().st_size} bytes), "
          f"{len(names)} files: {', '.join(top)}")


if __name__ == "__main__":
    main()

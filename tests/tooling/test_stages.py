"""Each stage of `chalice deploy` wires its own delivery and erasure queues, the ones its roles may read."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# How `chalice deploy --stage` and `chalice package --stage` read the app (chalice/cli/__init__.py
# makes its factory on os.environ): they import app.py with the stage's environment_variables set,
# then read the event sources off the app.
QUEUE_AS_CHALICE_SEES_IT = """
import os, sys
from chalice.cli.factory import CLIFactory
app = CLIFactory('.', environ=os.environ).create_config_obj(sys.argv[1]).chalice_app
print(*[source.queue for source in app.event_sources if hasattr(source, 'queue')])
"""


def granted_queue(stage, function="deliver"):
    """The queue that the stage's function may receive from (its chalice deploy policy)."""
    policy = json.loads((ROOT / ".chalice" / f"policy-{function}-{stage}.json").read_text())
    (statement,) = [s for s in policy["Statement"] if "sqs:ReceiveMessage" in s["Action"]]
    return statement["Resource"].rsplit(":", 1)[1]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_delivery_and_erasure_functions_of_each_stage_read_that_stages_own_queues(stage):
    queue = subprocess.run([sys.executable, "-c", QUEUE_AS_CHALICE_SEES_IT, stage], cwd=ROOT, capture_output=True,
                           text=True, check=True, env={"PATH": "", "AWS_DEFAULT_REGION": "us-east-1"}).stdout.split()
    assert queue == [granted_queue(stage), granted_queue(stage, "erase-person")]
    assert queue == {"dev": ["inevent-webhooks-dev-deliveries.fifo", "inevent-webhooks-dev-erasures"],
                     "prod": ["inevent-webhooks-deliveries.fifo", "inevent-webhooks-erasures"]}[stage]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_chalice_deploy_turns_on_active_tracing_in_each_deployed_stage(stage):
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["stages"][stage]["xray"] is True

"""What every folder of tests needs: moto with the stack's own resources, the Chalice test client and
the API on it, a real receiver, the delivery worker run in process, the local run's moto server.

The folders, by what their tests exercise (each folder's conftest.py holds its own fixtures and
sets its marker, registered in pytest.ini): service/ (the service in process), local/ (the local
run's processes), emulator/ (dev/local_aws), tooling/ (the stacks, policies, generated documents,
layout), console/ (the console in Chromium, marked ``browser``) and acceptance/ (the contract
against the local run, marked ``acceptance`` and ``local``). Helpers that modules of several
folders use are in tests/helpers.py; no test module imports another."""

import pathlib
import time

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

import app as application
from chalicelib.api.webhook_methods import issue_token
from chalicelib.services import get_services, reset_services
from chalicelib.store.tokens import Grant
from dev.local_aws import corrections
from dev.receiver import Receiver
from dev.resources import create_resources, service_environment
from dev.worker import DeliveryPoller
from tests.helpers import REGION, Api, Worker, mark_tests_in, moto_server
from tests.helpers import ADMIN, wait_until  # noqa: F401  (the console's tests import them from here)

# The tests' in-process moto answers as AWS does where the service relies on it, as the local run's does.
corrections.apply()

# The folders whose conftest.py belongs to another part of the suite, marked from here.
MARKED_HERE = {"console": ("browser",), "acceptance": ("acceptance", "local")}


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the xdist_group marks
def pytest_collection_modifyitems(items):
    for folder, markers in MARKED_HERE.items():
        mark_tests_in(pathlib.Path(__file__).parent / folder, items, *markers)
    # The acceptance module runs in one test process (make test's --dist loadgroup): its local
    # runs start once, not in each process that gets one of its tests, and its last checks see
    # every answer of the module.
    mark_tests_in(pathlib.Path(__file__).parent / "acceptance", items, pytest.mark.xdist_group("acceptance"))


@pytest.fixture
def aws(monkeypatch):
    """Moto, holding the very resources that ``.chalice/resources.json`` defines."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", "RETRY_SCHEDULE",
                 "DELIVERY_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("WEBHOOK_DESTINATIONS", "allowed-only")  # tests never send off this machine
    with mock_aws():
        created = create_resources(boto3.client("dynamodb"), boto3.client("sqs"))
        for name, value in service_environment(created).items():
            monkeypatch.setenv(name, value)
        reset_services()
        yield created
        reset_services()


@pytest.fixture
def settings(monkeypatch, aws):
    """Change a setting for one test: ``settings(RETRY_SCHEDULE="0s,1s")``."""

    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_services()

    return apply


@pytest.fixture
def client(aws):
    with Client(application.app, stage_name="local") as chalice_client:
        yield chalice_client


@pytest.fixture
def admin_token(aws):
    return issue_token(get_services().tokens, Grant(admin=True, events=frozenset()), time.time())


@pytest.fixture
def api(client, admin_token):
    return Api(client, admin_token)


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server
    assert server.invalid == [], "deliveries that break the published schema of their type"


@pytest.fixture
def worker(aws):
    """Runs the delivery handler on what is queued, as Lambda's SQS event source would."""
    return Worker(DeliveryPoller(boto3.client("sqs"), aws["DeliveryQueue"]["url"], application.deliver, wait_seconds=0))


@pytest.fixture(scope="module")
def moto_endpoint():
    """The local run's moto server, corrected, for one test module: its URL."""
    with moto_server() as endpoint:
        yield endpoint

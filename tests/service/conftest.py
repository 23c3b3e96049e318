"""The service in process: the API methods through the Chalice test client, dispatch and the delivery
worker called as Lambda would call them, on moto (in process, or the local run's moto server behind
the fault proxy), delivering to real receivers on loopback. These tests are marked ``service``."""

import pathlib
import time

import pytest
from chalice.test import Client

import app as application
from chalicelib.api.webhook_methods import issue_token
from chalicelib.services import get_services
from chalicelib.store.tokens import Grant
from tests.helpers import Api, DynamoDBFaults, aws_behind_a_fault_proxy, mark_tests_in


def pytest_collection_modifyitems(items):
    mark_tests_in(pathlib.Path(__file__).parent, items, "service")


@pytest.fixture
def faulty_aws(monkeypatch, moto_endpoint):
    """The service's AWS as the fault proxy (dev/fault_proxy.py) in front of the local moto server,
    emptied for each test and holding the stack's resources: the proxy, whose ``faults`` inject
    AWS's own failures (``proxy.faults.inject("PutItem", "drop")``)."""
    with aws_behind_a_fault_proxy(monkeypatch, moto_endpoint) as proxy:
        yield proxy


@pytest.fixture
def faulty_api(faulty_aws):
    """The API (through the Chalice test client) with an admin token, on :func:`faulty_aws`."""
    with Client(application.app, stage_name="local") as chalice_client:
        yield Api(chalice_client, issue_token(get_services().tokens, Grant(admin=True, events=frozenset()), time.time()))


@pytest.fixture
def dynamodb_faults(aws):
    """AWS failing under the service's DynamoDB client (:class:`tests.helpers.DynamoDBFaults`)."""
    return DynamoDBFaults(get_services().dynamodb)

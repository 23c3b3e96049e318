"""The local run's processes (`make run`'s program, its worker, its moto servers, the fault proxy in
front of them, the relay), started as a user starts them and reached over real sockets: these tests
are marked ``local`` (the slow part of the suite: a local run takes seconds to start)."""

import pathlib

import pytest

from dev.local_service import start_local_service as start_local_run
from tests.helpers import mark_tests_in


def pytest_collection_modifyitems(items):
    mark_tests_in(pathlib.Path(__file__).parent, items, "local")


@pytest.fixture
def start_local_service():
    """Starts local runs (``start_local_service(RETRY_SCHEDULE="0s,1s")``), killed at the end of the test."""
    services = []

    def start(**settings):
        services.append(start_local_run(settings))
        return services[-1]

    yield start
    for service in services:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


@pytest.fixture
def local_service(start_local_service):
    """One local run with its default settings."""
    return start_local_service()

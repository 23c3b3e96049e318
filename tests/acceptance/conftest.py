"""The acceptance check's fixtures: the local run (``make run``'s ``python -m dev.run``, started as
dev/local_service.py starts it), and the client that reaches it over HTTP."""

import pytest

from dev.local_service import NOT_INHERITED, start_local_service

from .black_box import SETTINGS, Api


@pytest.fixture(scope="module")
def service():
    run = start_local_service(SETTINGS)
    try:
        run.wait_ready()
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module")
def api(service):
    return Api(f"http://127.0.0.1:{service.port}")


@pytest.fixture
def start_run():
    """Further local runs for the checks of section 7's defaults: ``start_run(settings, drop)``
    starts one with ``settings``, without the environment variables named in ``drop``."""
    runs = []

    def start(settings=None, drop=()):
        run = start_local_service(settings or {}, not_inherited=NOT_INHERITED + tuple(drop))
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()

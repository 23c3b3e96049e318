"""The acceptance check's fixtures: the local runs (``make run``'s ``python -m dev.run``, started as
dev/local_service.py starts it), and the client that reaches them over HTTP.

The contract's sections 1 to 9 are checked on one local run, 10 to 16 on a second and 17 to 22 on
a third, with the same settings, all started with the module. Every webhook and message a check
writes makes the local run's later writes slower (the emulator copies the whole table at each
transaction), so runs that each hold a third of them take much less time than one that holds them
all."""

import re

import pytest

from dev.local_service import start_local_service

from .black_box import SETTINGS, Api, stop_all

SPLITS = (10, 17)  # the first section of each local run after the first


def run_of(section):
    """Which of the module's local runs checks ``section``."""
    return sum(section >= first for first in SPLITS)


def section_of(name):
    """The contract section a check names first: ``test_s17_s15_...`` is 17's."""
    found = re.match(r"test_s(\d+)", name)
    return int(found.group(1)) if found else 0


@pytest.fixture(scope="module")
def runs(request):
    """The module's local runs, started at once (each only when a collected check needs it), so
    that the later ones' start overlaps the first checks; None for one that no check needs."""
    needed = {run_of(section_of(item.name)) for item in request.session.items if item.module is request.module}
    started = [start_local_service(SETTINGS) if n in needed else None for n in range(len(SPLITS) + 1)]
    try:
        yield started
    finally:
        stop_all(started)


def _ready(run):
    assert run is not None, "no collected check was to use this local run"
    run.wait_ready()
    return run


@pytest.fixture
def service(request, runs):
    """The local run that checks this check's section."""
    return _ready(runs[run_of(section_of(request.node.name))])


@pytest.fixture
def api(service):
    """The API of the local run that checks this check's section."""
    return Api(f"http://127.0.0.1:{service.port}")

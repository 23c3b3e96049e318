"""The acceptance check's fixtures: the local runs (``make run``'s ``python -m dev.run``, started as
dev/local_service.py starts it), and the client that reaches them over HTTP.

The contract's sections 1 to 16 are checked on one local run, 17 to 22 on another with the same
settings, both started with the module. Every webhook and message a check writes makes the local
run's later writes slower (the emulator copies the whole table at each transaction), so two runs
that each hold half of them take much less time than one that holds them all."""

import re

import pytest

from dev.local_service import start_local_service

from .black_box import SETTINGS, Api

LATER_SECTIONS = 17  # from this section on, the checks run on the second local run


def section_of(name):
    """The contract section a check names first: ``test_s17_s15_...`` is 17's."""
    found = re.match(r"test_s(\d+)", name)
    return int(found.group(1)) if found else 0


@pytest.fixture(scope="module")
def runs(request):
    """The module's two local runs, started at once (each only when a collected check needs it),
    so that the second one's start overlaps the first checks: ``[earlier, later]``, None for one
    that no check needs."""
    names = [item.name for item in request.session.items if item.module is request.module]
    needed = [any(section_of(n) < LATER_SECTIONS for n in names), any(section_of(n) >= LATER_SECTIONS for n in names)]
    started = [start_local_service(SETTINGS) if need else None for need in needed]
    try:
        yield started
    finally:
        for run in started:
            if run is not None:
                run.stop()


def _ready(run):
    assert run is not None, "no collected check was to use this local run"
    run.wait_ready()
    return run


@pytest.fixture(scope="module")
def service(runs):
    """The local run of sections 1 to 16."""
    return _ready(runs[0])


@pytest.fixture
def api(request, runs):
    """The API of the local run that checks this check's section."""
    run = _ready(runs[1] if section_of(request.node.name) >= LATER_SECTIONS else runs[0])
    return Api(f"http://127.0.0.1:{run.port}")

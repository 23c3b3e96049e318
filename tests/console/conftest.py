"""The console's browser tests share one Chromium and one local run for the whole package (they are
the slowest tests of the suite: a local run takes seconds to start); each test has a browser
context and an event of its own, so no test sees another's webhooks."""

import itertools
import os

import pytest
from playwright.sync_api import sync_playwright

from dev.local_service import start_local_service
from tests.console.pages import CHROMIUM, CHROMIUM_ARGS, open_page

_events = itertools.count(1)


@pytest.fixture(scope="package")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing browser is a failure, never a skip
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def service():
    """One local run (`python -m dev.run`) for every console test. A failed delivery is retried
    only after a minute, so that it stays pending while a test looks at it."""
    local = start_local_service({"RETRY_SCHEDULE": "0s,60s"})
    try:
        local.wait_ready()
        yield local
    finally:
        local.process.kill()
        local.process.wait()


@pytest.fixture
def event():
    """An event of this test's own."""
    return f"ev{next(_events)}"


@pytest.fixture
def console(browser, service):
    page = open_page(browser, service)
    yield page
    page.context.close()

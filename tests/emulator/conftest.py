"""The local AWS (dev/local_aws): where moto answers differently from AWS in what the service's
promises rest on, and the local moto server's own speed-ups. These tests are marked ``emulator``."""

import pathlib

from tests.helpers import mark_tests_in


def pytest_collection_modifyitems(items):
    mark_tests_in(pathlib.Path(__file__).parent, items, "emulator")

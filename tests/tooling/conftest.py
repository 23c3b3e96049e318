"""What is built from the code and checked against it: the SAM and Terraform stacks, the IAM
policies, the Lambda runtime and SDK surface, the stages, the OpenAPI document and docs/api.md, the
layers of the code. These tests are marked ``tooling``."""

import pathlib

from tests.helpers import mark_tests_in


def pytest_collection_modifyitems(items):
    mark_tests_in(pathlib.Path(__file__).parent, items, "tooling")

"""What several modules of tests/tooling share: whether AWS still creates functions on a Lambda runtime.

AWS blocks the creation of functions on a runtime some weeks after deprecating it: a stack that
names such a runtime fails at ``sam deploy`` or ``terraform apply``. The table below is AWS's
("Building Lambda functions with Python", docs.aws.amazon.com/lambda/latest/dg/lambda-python.html,
as read on 2026-12-02; docs/deploy.md quotes it). AWS has moved these dates before: when it does,
update the table, not the test.
"""

import datetime



# runtime: the first day its function creation is blocked (None: not scheduled)
BLOCK_FUNCTION_CREATE = {
    "python3.8": datetime.date(2025, 2, 28),
    "python3.9": datetime.date(2026, 1, 15),
    "python3.10": datetime.date(2026, 11, 30),
    "python3.11": datetime.date(2027, 7, 31),
    "python3.12": datetime.date(2028, 11, 30),
    "python3.13": datetime.date(2029, 7, 31),
    "python3.14": datetime.date(2029, 7, 31),
}


def assert_creatable(runtime, today=None):
    """Fail if AWS refuses to create a function on ``runtime`` today (or does not list it)."""
    today = today or datetime.date.today()
    assert runtime in BLOCK_FUNCTION_CREATE, f"{runtime} is not a Lambda Python runtime this table knows"
    blocked = BLOCK_FUNCTION_CREATE[runtime]
    assert blocked is None or today < blocked, f"{runtime}: function creation blocked since {blocked}"

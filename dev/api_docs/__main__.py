"""``python -m dev.api_docs [--check]``: writes docs/api.md, or checks the committed one."""

from dev.api_docs import main

main()

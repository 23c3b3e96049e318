"""``python -m dev.api_docs [--check]``: writes docs/api.md and the OpenAPI document, or checks the committed ones."""

from dev.api_docs import main

main()

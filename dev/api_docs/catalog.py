"""The catalog (chalicelib/catalog.py) in docs/api.md, and the examples: the catalog's table and
one delivered body per type, the webhook object, a delivery's body and an EventBridge event."""

import json

from chalicelib.api.webhook_methods import list_types
from chalicelib.catalog import CATALOG, TYPE_NAMES
from chalicelib.dispatch.fanout import PLATFORM_SOURCE
from dev.api_docs.schemas import field_lines
from dev.openapi_schemas import ANSWERS

EXAMPLE_NOW = 1764273600  # examples are dated, so the file does not change from one run to the next


class _ExampleContext:
    now = EXAMPLE_NOW


def _examples():
    """``webhook.types``'s entries, dated ``EXAMPLE_NOW``."""
    return list_types(_ExampleContext(), None)[1]["data"]


def _catalog_rows():
    return "\n".join(f"| `{t.name}` | {t.description} | {', '.join(t.levels)} | {t.subject} | "
                     f"{', '.join(f'`{f}`' for f in t.fields)} |" for t in CATALOG.values())


def _example_bodies():
    return "\n\n".join(f"`{entry['type']}`:\n\n```json\n{json.dumps(entry['example'])}\n```"
                       for entry in _examples())


def _delivery_example():
    example = _examples()[TYPE_NAMES.index("activityEnrollment")]["example"]
    example = {**example, "data": {**example["data"], "seat": "A4"}}
    return json.dumps(example, indent=2, ensure_ascii=False)


def _webhook_example():
    return json.dumps({"webhookID": "wh_01KB2X3Y4Z5A6B7C8D9E0F1G2H", "eventID": "1234",
                       "type": "activityEnrollment", "url": "https://example.com/hooks/inevent",
                       "date": str(EXAMPLE_NOW), "status": "enabled", "headers": [], "rateLimit": None,
                       "filter": None, "description": "CRM sync, owned by the sales team"}, indent=2)


def _eventbridge_example():
    return json.dumps({"source": PLATFORM_SOURCE, "detail-type": "activityEnrollment",
                       "detail": {"eventID": "1234", "activityID": "98", "personID": "5521", "companyID": "42",
                                  "date": str(EXAMPLE_NOW), "seat": "A4"}}, indent=2)


def values():
    """The values of the placeholders about the catalog and the examples."""
    return {
        "catalog": _catalog_rows(),
        "catalog_examples": _example_bodies(),
        "example_now": EXAMPLE_NOW,
        "delivery_example": _delivery_example(),
        "webhook_example": _webhook_example(),
        "webhook_fields": "\n".join(field_lines(ANSWERS["Webhook"])),
        "eventbridge_example": _eventbridge_example(),
    }

"""Send a platform event to EventBridge, as the platform does (the local run's, after its export line).

    python -m dev.platform_event <type> eventID=1234 [activityID=98] [personID=5521] [speakerID=7]
                                        [companyID=42] [date=...] [any=further field]

The type's IDs are checked first, as the service checks them (``webhook.types`` lists each
type's IDs), so a mistyped event is refused here rather than dropped by the service.
"""

import json
import sys

import boto3

from chalicelib.dispatch.fanout import PLATFORM_SOURCE, occurrence_from_detail
from chalicelib.errors import InvalidParameter


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if not args or any("=" not in arg for arg in args[1:]):
        raise SystemExit(__doc__)
    detail = dict(arg.split("=", 1) for arg in args[1:])
    try:
        occurrence_from_detail(args[0], detail, now=0)
    except InvalidParameter as exc:
        raise SystemExit(f"{exc.message} ({exc.field})") from None
    answer = boto3.client("events").put_events(
        Entries=[{"Source": PLATFORM_SOURCE, "DetailType": args[0], "Detail": json.dumps(detail)}]
    )
    print(json.dumps(answer["Entries"]))
    return 1 if answer.get("FailedEntryCount") else 0


if __name__ == "__main__":
    sys.exit(main())

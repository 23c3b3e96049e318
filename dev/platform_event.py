"""Send a platform event to EventBridge, as the platform does (the local run's, after its export line).

    python -m dev.platform_event activityEnrollment eventID=1234 activityID=98 personID=5521 [date=...]
"""

import json
import sys

import boto3

from chalicelib.fanout import PLATFORM_SOURCE


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if not args or any("=" not in arg for arg in args[1:]):
        raise SystemExit(__doc__)
    detail = dict(arg.split("=", 1) for arg in args[1:])
    answer = boto3.client("events").put_events(
        Entries=[{"Source": PLATFORM_SOURCE, "DetailType": args[0], "Detail": json.dumps(detail)}]
    )
    print(json.dumps(answer["Entries"]))
    return 1 if answer.get("FailedEntryCount") else 0


if __name__ == "__main__":
    sys.exit(main())

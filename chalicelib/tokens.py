"""Make and revoke API tokens from the command line (contract, section 6).

It works against whatever backend the settings point at: AWS, or the local stack when
``AWS_ENDPOINT_URL`` names it (``make run`` prints the line to set)::

    python -m chalicelib.tokens create --event 1234 [--event 5678]
    python -m chalicelib.tokens create --all
    python -m chalicelib.tokens revoke <token>

``create`` prints the token alone on its last line; it is not shown again.
"""

import argparse
import sys
import time

from chalicelib.errors import ServiceError, SettingsError
from chalicelib.events import check_identifier
from chalicelib.ids import hash_token
from chalicelib.methods import issue_token
from chalicelib.services import get_services
from chalicelib.storage import Grant


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(prog="python -m chalicelib.tokens", description="Make and revoke API tokens.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a token for some events, or an admin token")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--event", action="append", metavar="EVENT_ID", help="an eventID the token may reach")
    scope.add_argument("--all", action="store_true", help="an admin token: every event, and token methods")
    revoke = commands.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token")
    args = parser.parse_args(argv)
    try:
        tokens = get_services().tokens
        if args.command == "create":
            if args.all:
                grant = Grant(admin=True, events=frozenset())
                print("admin token (every event):", file=out)
            else:
                events = [check_identifier(event, "eventID") for event in args.event]
                grant = Grant(admin=False, events=frozenset(events))
                print(f"token for events {', '.join(events)}:", file=out)
            print(issue_token(tokens, grant, time.time()), file=out)
        elif not tokens.delete(hash_token(args.token)):
            parser.exit(1, "no such token\n")
        else:
            print("revoked", file=out)
    except (ServiceError, SettingsError) as exc:
        parser.exit(2, f"error: {getattr(exc, 'message', exc)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

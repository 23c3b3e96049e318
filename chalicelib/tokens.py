"""Make and revoke API tokens from the command line (contract, section 6).

It works against whatever backend the settings point at: AWS, or the local stack when
``AWS_ENDPOINT_URL`` names it (``make run`` prints the line to set)::

    python -m chalicelib.tokens create --event 1234 [--event 5678] [--company 42]
    python -m chalicelib.tokens create --webhook wh_...      (a device's token: webhook.poll on that pull webhook)
    python -m chalicelib.tokens create --all
    python -m chalicelib.tokens revoke <token>

``create`` prints the token alone on its last line; it is not shown again.
"""

import argparse
import sys
import time

from chalicelib.api.webhook_methods import issue_token
from chalicelib.errors import ServiceError, SettingsError
from chalicelib.ids import hash_token
from chalicelib.services import get_services
from chalicelib.store.tokens import MAX_GRANTED, Grant
from chalicelib.validation import check_identifier


def main(argv=None, out=sys.stdout):
    parser = argparse.ArgumentParser(prog="python -m chalicelib.tokens", description="Make and revoke API tokens.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a token for some events, or an admin token")
    create.add_argument("--event", action="append", default=[], metavar="EVENT_ID",
                        help="an eventID the token may reach")
    create.add_argument("--company", action="append", default=[], metavar="COMPANY_ID",
                        help="a companyID whose company-level webhooks the token may reach")
    create.add_argument("--webhook", action="append", default=[], metavar="WEBHOOK_ID",
                        help="a pull webhook that a device's token may poll (it may do nothing else)")
    create.add_argument("--all", action="store_true", help="an admin token: everything, and the token methods")
    revoke = commands.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token")
    args = parser.parse_args(argv)
    try:
        tokens = get_services().tokens
        if args.command == "create":
            if sum((args.all, bool(args.event or args.company), bool(args.webhook))) != 1:
                parser.error("create takes --all, or one or more --event and --company, or one or more --webhook")
            if args.webhook:
                webhooks = [check_identifier(webhook, "webhookID") for webhook in args.webhook]
                pull = {hook.webhook_id for hook in get_services().webhooks.get_many(webhooks) if hook.delivery == "pull"}
                if set(webhooks) - pull:
                    parser.error(f"not a pull webhook: {', '.join(sorted(set(webhooks) - pull))}")
                grant = Grant(admin=False, webhooks=frozenset(webhooks))
                print(f"a device's token for webhook.poll on {', '.join(webhooks)}:", file=out)
            elif args.all:
                grant = Grant(admin=True)
                print("admin token (everything):", file=out)
            else:
                events = [check_identifier(event, "eventID") for event in args.event]
                companies = [check_identifier(company, "companyID") for company in args.company]
                if len(events) + len(companies) > MAX_GRANTED:
                    parser.error(f"a token may hold at most {MAX_GRANTED} events and companies")
                grant = Grant(admin=False, events=frozenset(events), companies=frozenset(companies))
                reach = [f"events {', '.join(events)}"] * bool(events) + [f"companies {', '.join(companies)}"] * bool(companies)
                print(f"token for {' and '.join(reach)}:", file=out)
            print(issue_token(tokens, grant, time.time()), file=out)
        elif not tokens.revoke(hash_token(args.token), time.time()):
            parser.exit(1, "no such token\n")
        else:
            print("revoked", file=out)
    except (ServiceError, SettingsError) as exc:
        parser.exit(2, f"error: {getattr(exc, 'message', exc)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

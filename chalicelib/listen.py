"""``python -m chalicelib.listen``: webhooks on a developer's laptop (contract, section 18).

It makes a pull webhook for the session (or listens on one given with ``--webhook``), long-polls
it, and POSTs every delivery to a URL on the developer's own machine with exactly the headers and
body a push delivery would carry, in order, printing one line a delivery. A delivery that the
local receiver refuses (not 2xx, or no answer within 10 seconds) is tried again with a growing
pause, and the later messages about the same subject (person, activity, speaker, event) wait
behind it; the others go on. Ctrl-C removes the session's webhook; with ``--webhook`` the cursor
is kept in a file, so that started again it goes on where it stopped.

    INEVENT_TOKEN=tok_... python -m chalicelib.listen --event 1234 --forward http://127.0.0.1:9000/hook
"""

import argparse
import json
import os
import pathlib
import signal
import sys
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import urllib3

from chalicelib.catalog import CATALOG, SUBJECT_FIELD

DEFAULT_API = "http://127.0.0.1:8000"
TOKEN_VARIABLE = "INEVENT_TOKEN"
FORWARD_TIMEOUT_SECONDS = 10
POLL_WAIT_SECONDS = 20
RETRY_PAUSES = (1, 2, 5, 10, 30, 60)  # seconds before each retry of a refused delivery; the last repeats
RESIGN_AFTER_SECONDS = 240  # a delivery held this long is fetched again, freshly signed, before it is retried
MOST_HELD = 5000  # deliveries held at once; polling pauses past it


class Stop(Exception):
    """The relay cannot go on: its message says why, in words a developer acts on."""


class Api:
    """The service's API, called with the token; errors as :class:`Stop` with a readable reason."""

    def __init__(self, base, token):
        self.base = base.rstrip("/")
        self._token = token
        self._http = urllib3.PoolManager(retries=False)

    def call(self, method, timeout=10.0, **params):
        try:
            answer = self._http.request("POST", f"{self.base}/api/{method}", body=json.dumps(params).encode(),
                                        headers={"authorization": f"Bearer {self._token}",
                                                 "content-type": "application/json"},
                                        timeout=urllib3.Timeout(connect=3.0, read=timeout))
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(f"cannot reach the API at {self.base} ({_reason(exc)}): is it running (make run), "
                              "and is --api right?") from exc
        try:
            body = json.loads(answer.data)
        except ValueError as exc:
            raise Unreachable(f"{self.base} answered {answer.status} with something that is not the API's JSON: "
                              "is --api right?") from exc
        if answer.status == 401:
            raise Stop(f"the API refused the token in {TOKEN_VARIABLE}: {_message(body)}")
        if answer.status == 403:
            raise Stop(f"the token in {TOKEN_VARIABLE} may not do that: {_message(body)}")
        if answer.status >= 500 or answer.status == 429:
            raise Unreachable(f"the API is busy ({answer.status}: {_message(body)})")
        if answer.status >= 400:
            raise Stop(f"{method}: {_message(body)}")
        return body


class Unreachable(Stop):
    """The API could not answer now: a running relay tries again; a starting one stops."""


def _message(body):
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("message", "?") if isinstance(error, dict) else json.dumps(body)[:200]


def _reason(exc):
    text = str(getattr(exc, "reason", None) or exc)
    return "connection refused" if "refused" in text.lower() else text.split(":")[-1].strip() or type(exc).__name__


@dataclass
class Delivery:
    """One polled message on its way to the local receiver."""

    message_id: str
    type: str
    subject: str
    headers: dict
    body: str
    fetched_with: str | None  # the cursor that polled it: polling with it again signs it afresh
    tries: int = 0
    due: float = 0.0

    @classmethod
    def from_entry(cls, entry, fetched_with):
        try:
            payload = json.loads(entry["body"])
            subject = subject_of(payload.get("type"), payload.get("data") or {})
            type_name = payload.get("type", "?")
        except (ValueError, AttributeError):
            subject, type_name = "?", "?"
        return cls(entry["messageID"], type_name, subject, entry["headers"], entry["body"], fetched_with)


def subject_of(type_name, data):
    """What order is kept per: ``person:5521``, ``activity:98``... (the catalog's subject of the type)."""
    webhook_type = CATALOG.get(type_name)
    if webhook_type is None:
        return f"type:{type_name}"
    name = webhook_type.subject
    return f"{name}:{data.get(SUBJECT_FIELD[name], '?')}"


@dataclass
class Batch:
    """One poll's messages, and the cursor after them: saved once all of them have been forwarded."""

    cursor: str
    waiting: set = field(default_factory=set)


class Relay:
    """Polls one pull webhook and forwards what it gets; see the module's docstring."""

    def __init__(self, api, webhook_id, forward, out, cursor=None, save_cursor=None, clock=time.monotonic,
                 sleep=time.sleep):
        self.api = api
        self.webhook_id = webhook_id
        self.forward_url = forward
        self.out = out
        self.cursor = cursor
        self._save = save_cursor or (lambda cursor: None)
        self._clock = clock
        self._sleep = sleep
        self._http = urllib3.PoolManager(retries=False)
        self._subjects = OrderedDict()  # subject: deque of Delivery, the first one next
        self._batches = deque()
        self._api_pause = 0

    def run(self):
        while True:
            self.step()

    def step(self):
        """Forward what is due; poll for more (waiting while nothing is due)."""
        self._forward_due()
        held = sum(len(queue) for queue in self._subjects.values())
        due = min((queue[0].due for queue in self._subjects.values() if queue), default=None)
        if held >= MOST_HELD or (due is not None and due - self._clock() < 1):
            # A retry due within the second (a poll waits whole seconds), or too much held: wait for it.
            self._sleep(max(0.0, min(1.0, (due or 0) - self._clock())) if held < MOST_HELD else 1)
            return
        try:
            answer = self.api.call("webhook.poll", timeout=POLL_WAIT_SECONDS + 10, webhookID=self.webhook_id,
                                   limit=100, wait=self._wait(), **({"cursor": self.cursor} if self.cursor else {}))
        except Unreachable as exc:
            self._api_pause = min(30, max(1, self._api_pause * 2))
            self._line(f"{exc}; polling again in {self._api_pause}s")
            self._sleep(self._api_pause)
            return
        self._api_pause = 0
        batch = Batch(answer["cursor"])
        for entry in answer["data"]:
            delivery = Delivery.from_entry(entry, self.cursor)
            self._subjects.setdefault(delivery.subject, deque()).append(delivery)
            batch.waiting.add(delivery.message_id)
        self._batches.append(batch)
        self.cursor = answer["cursor"]
        self._settle()

    def _wait(self):
        """How long a poll may wait: until the next retry is due, at most 20 seconds."""
        heads = [queue[0].due for queue in self._subjects.values() if queue]
        if not heads:
            return POLL_WAIT_SECONDS
        return int(max(0, min(POLL_WAIT_SECONDS, min(heads) - self._clock())))

    def _forward_due(self):
        for subject in list(self._subjects):
            queue = self._subjects[subject]
            while queue and queue[0].due <= self._clock():
                if not self._forward(queue[0]):
                    break
                done = queue.popleft()
                for batch in self._batches:
                    batch.waiting.discard(done.message_id)
            if not queue:
                del self._subjects[subject]
        self._settle()

    def _settle(self):
        """Save the cursor after every batch whose messages have all been forwarded."""
        saved = None
        while self._batches and not self._batches[0].waiting:
            saved = self._batches.popleft().cursor
        if saved is not None:
            self._save(saved)

    def _forward(self, delivery):
        """POST one delivery to the local receiver; True when it answered 2xx."""
        if delivery.tries and time.time() - int(delivery.headers.get("webhook-timestamp", "0")) > RESIGN_AFTER_SECONDS:
            self._resign(delivery)
        started = self._clock()
        try:
            answer = self._http.request("POST", self.forward_url, body=delivery.body.encode("utf-8"),
                                        headers=delivery.headers, redirect=False,
                                        timeout=urllib3.Timeout(total=FORWARD_TIMEOUT_SECONDS))
            status, outcome = answer.status, str(answer.status)
        except urllib3.exceptions.HTTPError as exc:
            status = None
            outcome = "no answer" if isinstance(exc, urllib3.exceptions.TimeoutError) else _reason(exc)
        took = (self._clock() - started) * 1000
        delivered = status is not None and 200 <= status < 300
        note = ""
        if not delivered:
            pause = RETRY_PAUSES[min(delivery.tries, len(RETRY_PAUSES) - 1)]
            delivery.tries += 1
            delivery.due = self._clock() + pause
            later = len(self._subjects.get(delivery.subject, ())) - 1
            note = f"  retrying in {pause}s" + (f"; {later} later about {delivery.subject} wait" if later else "")
        self._line(f"{delivery.type:<22} {delivery.message_id}  {outcome:>5}  {took:6.0f} ms{note}")
        return delivered

    def _resign(self, delivery):
        """Poll again with the cursor that first got the delivery: the same message, freshly signed
        (so the receiver's five-minute check of webhook-timestamp passes)."""
        try:
            answer = self.api.call("webhook.poll", webhookID=self.webhook_id, limit=100,
                                   **({"cursor": delivery.fetched_with} if delivery.fetched_with else {}))
        except Stop:
            return
        for entry in answer["data"]:
            if entry["messageID"] == delivery.message_id:
                delivery.headers = entry["headers"]

    def _line(self, text):
        print(f"{time.strftime('%H:%M:%S')}  {text}", file=self.out, flush=True)


def arguments(argv):
    parser = argparse.ArgumentParser(
        prog="python -m chalicelib.listen",
        description="Forward an event's (or a company's) webhook deliveries to a URL on this machine: a pull webhook "
                    "is made for the session, long-polled, and each delivery POSTed to --forward with exactly the "
                    "headers and body of a push delivery, in order, one line a delivery. A delivery the local "
                    "receiver refuses (not 2xx, or no answer in 10 s) is tried again with a growing pause, the "
                    "later messages about the same person (activity, speaker, event) waiting behind it. Ctrl-C "
                    "removes the session's webhook.",
        epilog=f"The token comes from the {TOKEN_VARIABLE} environment variable (make run prints an admin token; "
               "python -m chalicelib.tokens create --event ID makes one). Example: "
               f"{TOKEN_VARIABLE}=tok_... python -m chalicelib.listen --event 1234 --types eventCheckIn,eventEnd "
               "--forward http://127.0.0.1:9000/hook")
    owner = parser.add_mutually_exclusive_group()
    owner.add_argument("--event", metavar="ID", help="listen to this event's messages (an event-level webhook)")
    owner.add_argument("--company", metavar="ID", help="listen to this company's messages (a company-level webhook)")
    owner.add_argument("--webhook", metavar="ID",
                       help="listen on this existing pull webhook instead of making one (it is not removed at the "
                            "end); the cursor is kept in --cursor-file, so that started again it goes on where it "
                            "stopped")
    parser.add_argument("--types", default="*", metavar="A,B",
                        help="the types to listen to, comma-separated (default *: every type of the level)")
    parser.add_argument("--forward", required=True, metavar="URL",
                        help="where to POST each delivery: any address on this machine, such as "
                             "http://127.0.0.1:9000/hook (the relay's own request)")
    parser.add_argument("--api", default=DEFAULT_API, metavar="URL", help=f"the service's API (default {DEFAULT_API})")
    parser.add_argument("--cursor-file", metavar="PATH",
                        help="with --webhook: where the cursor is kept (default .inevent-listen-<webhookID>.cursor)")
    args = parser.parse_args(argv)
    if not (args.event or args.company or args.webhook):
        parser.error("give --event ID or --company ID (or --webhook ID, an existing pull webhook)")
    if not args.forward.lower().startswith(("http://", "https://")):
        parser.error("--forward must be an http:// or https:// URL, such as http://127.0.0.1:9000/hook")
    if args.cursor_file and not args.webhook:
        parser.error("--cursor-file goes with --webhook (a session's own webhook is removed at the end)")
    return args


def main(argv=None, out=sys.stdout, err=sys.stderr, environ=os.environ):
    args = arguments(argv)
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        print(f"error: set {TOKEN_VARIABLE} to a token that may reach the event or company (make run prints an admin "
              "token)", file=err)
        return 2
    # SIGTERM ends the relay as Ctrl-C does: the session's webhook is removed either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    api = Api(args.api, token)
    created = None
    try:
        if args.webhook:
            path = pathlib.Path(args.cursor_file or f".inevent-listen-{args.webhook}.cursor")
            cursor = path.read_text().strip() if path.exists() else None
            relay = Relay(api, args.webhook, args.forward, out, cursor=cursor or None,
                          save_cursor=lambda value: _write(path, value))
            # Check the webhook and the token now, with a poll that waits for nothing.
            api.call("webhook.poll", webhookID=args.webhook, limit=1, **({"cursor": cursor} if cursor else {}))
            print(f"Listening on pull webhook {args.webhook}" + (f", from the cursor in {path}" if cursor else "")
                  + f"; forwarding to {args.forward}.", file=out)
            print(f"Its cursor is kept in {path}. Ctrl-C stops.", file=out, flush=True)
        else:
            level = {"eventID": args.event} if args.event else {"companyID": args.company}
            types = [name.strip() for name in args.types.split(",")]
            created = api.call("webhook.create", delivery="pull", types=types, **level)
            relay = Relay(api, created["webhookID"], args.forward, out)
            where = f"event {args.event}" if args.event else f"company {args.company}"
            print(f"Listening on {where} ({', '.join(created['types'])}) as pull webhook {created['webhookID']}; "
                  f"forwarding to {args.forward}.", file=out)
            print(f"Signing secret (to verify deliveries): {created['secret']}", file=out)
            print("Ctrl-C stops and removes this webhook.", file=out, flush=True)
        relay.run()
    except Stop as exc:
        print(f"error: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        if args.webhook:
            print(f"Stopped. Start again with --webhook {args.webhook} to go on from where it stopped.", file=out)
        return 0
    finally:
        if created is not None:
            _remove(api, created["webhookID"], out, err)
    return 0


def _remove(api, webhook_id, out, err):
    """Remove the session's webhook; a second Ctrl-C meanwhile is ignored, and it takes a few seconds at most."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        api.call("webhook.remove", timeout=5.0, webhookID=webhook_id)
        print(f"Stopped: pull webhook {webhook_id} removed.", file=out, flush=True)
    except Stop as exc:
        print(f"error: could not remove pull webhook {webhook_id} ({exc}); remove it with webhook.remove", file=err)
    finally:
        signal.signal(signal.SIGINT, previous)


def _write(path, cursor):
    """Keep the cursor, whole or not at all."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(cursor + "\n")
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(main())

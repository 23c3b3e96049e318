"""The acceptance check's client: the service's API reached over HTTP alone, as a user reaches it,
and the settings of the local run it checks.

Nothing here imports the service (``chalicelib``): the checks see only what goes over the wire
(the API's answers, what a real receiver on loopback gets, the local run's own output).
"""

import concurrent.futures
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

from dev.local_service import ADMIN_TOKEN

# The local run the module checks. The contract's figures come from these settings, so that
# failures, deadlines and limits show within seconds (the defaults are checked apart, on a run
# started without them).
SETTINGS = {
    "RETRY_SCHEDULE": "0s,500ms,500ms",
    "DELIVERY_TIMEOUT_SECONDS": "3",
    "RATE_LIMIT_PER_SECOND": "5",
    "TEST_SENDS_PER_MINUTE": "3",
    "ERASURE_SETTLE_SECONDS": "1",
    # Only 127.0.0.1 is exempt from the destination checks: receivers listen there, and every
    # other loopback address (127.0.0.2, ::1) must be refused as the contract says.
    "WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
    # Public addresses are allowed, as on AWS, so that a refusal says the address is not
    # public (under allowed-only every address outside the list is refused, right or wrong).
    # The checks never dispatch to a webhook whose URL is not on 127.0.0.1.
    "WEBHOOK_DESTINATIONS": "public",
    # Memory only: nothing of the contract rests on the local run's saved data, and saving a
    # growing store costs the run a fork a second.
    "LOCAL_STATE_DIR": "",
}


# Every answer the checks got, for the module's last checks (JSON everywhere, the error shape, no 5xx).
SEEN = []


@dataclass
class Answer:
    status: int
    headers: dict  # names in lower case
    raw: bytes
    elapsed: float

    @property
    def body(self):
        return json.loads(self.raw)

    @property
    def error(self):
        return self.body["error"]

    def __repr__(self):
        return f"<{self.status} {self.raw[:600]!r}>"


class Api:
    """The service's HTTP API, over urllib. ``call`` sends parameters in any of the contract's
    ways: a JSON body (``as_="json"``), a form body (``"form"``) or the query string
    (``"query"``), in path style (``/api/<method>``) or platform style (``/api/?action=``)."""

    def __init__(self, base, token=ADMIN_TOKEN):
        self.base = base
        self.token = token

    def with_token(self, token):
        return Api(self.base, token)

    def raw(self, verb, path, body=None, headers=None, timeout=30):
        request = urllib.request.Request(self.base + path, data=body, headers=headers or {}, method=verb)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                got = Answer(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read(),
                             time.monotonic() - started)
        except urllib.error.HTTPError as error:
            got = Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read(),
                         time.monotonic() - started)
        SEEN.append((verb, path, got))
        return got

    def call(self, method, params=None, verb="POST", as_="json", style="path", token=None, headers=None,
             query=None, timeout=30):
        params = dict(params or {})
        token = self.token if token is None else token
        all_headers = {}
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        query = dict(query or {})
        body = None
        if as_ == "json":
            body = json.dumps(params).encode()
            all_headers.setdefault("content-type", "application/json")
        elif as_ == "form":
            body = urllib.parse.urlencode(_flat(params), doseq=True).encode()
            all_headers.setdefault("content-type", "application/x-www-form-urlencoded")
        else:
            query.update(params)
        if style == "path":
            path = f"/api/{method}"
        else:
            path = "/api/"
            query = {"action": method, **query}
        if query:
            path += "?" + urllib.parse.urlencode(_flat(query), doseq=True)
        return self.raw(verb, path, body, all_headers, timeout)

    # The methods the checks use most, asserting success.
    def create(self, event_id=None, url=None, type="activityEnrollment", company_id=None, **extra):
        params = {"url": url, "type": type, **extra}
        if company_id is not None:
            params["companyID"] = company_id
        else:
            params["eventID"] = event_id
        answer = self.call("webhook.create", params)
        assert answer.status == 201, answer
        return answer.body

    def dispatch(self, event_id, type="activityEnrollment", person_id="5521", activity_id="98", headers=None,
                 **extra):
        params = {"type": type, "eventID": event_id, **extra}
        if person_id is not None:
            params["personID"] = person_id
        if activity_id is not None:
            params["activityID"] = activity_id
        answer = self.call("webhook.dispatch", params, headers=headers)
        assert answer.status == 202, answer
        return answer.body

    def ok(self, method, params=None, verb="POST", status=200, **kwargs):
        answer = self.call(method, params, verb=verb, **kwargs)
        assert answer.status == status, answer
        return answer.body

    def deliveries(self, webhook_id, **params):
        return self.ok("webhook.deliveries", {"webhookID": webhook_id, **params}, verb="GET", as_="query")

    def message(self, webhook_id, message_id):
        """The message as ``webhook.message`` shows it, or None while it answers 404."""
        answer = self.call("webhook.message", {"webhookID": webhook_id, "messageID": message_id}, verb="GET",
                           as_="query")
        assert answer.status in (200, 404), answer
        return answer.body if answer.status == 200 else None

    def event_token(self, *event_ids, companies=()):
        params = {}
        if event_ids:
            params["eventID"] = list(event_ids)
        if companies:
            params["companyID"] = list(companies)
        return self.ok("token.create", params, status=201)["tokenID"]


def _flat(params):
    """Form and query values: lists repeat the name, objects go as their JSON text."""
    flat = {}
    for name, value in params.items():
        if isinstance(value, dict):
            flat[name] = json.dumps(value)
        elif isinstance(value, bool):
            flat[name] = "true" if value else "false"
        else:
            flat[name] = value
    return flat


def new_id(prefix="ev"):
    """An ID no other check uses, so that each check owns its event or company."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(condition, timeout=15.0, interval=0.05, what="the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def stop_all(runs):
    """Stop local runs together (each waits for its worker and its emulator to end); None is skipped."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(runs))) as pool:
        list(pool.map(lambda run: run and run.stop(), runs))

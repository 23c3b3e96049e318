"""Access tokens for endpoints that ask for credentials (contract, section 20).

Before an attempt to a webhook with ``auth``, the service holds an access token got with OAuth
2.0's client-credentials grant (RFC 6749, section 4.4): a ``POST`` to the ``tokenUrl`` with
``grant_type=client_credentials`` (and ``scope``), the client authenticated with HTTP Basic
(section 2.3.1). The attempt sends it as ``Authorization: Bearer <token>``.

One token per webhook, shared by every attempt on every instance through the webhook's TOKEN
item (:mod:`chalicelib.delivery.token_item`): an attempt reads it; when there is none to use,
one attempt takes the item's lease and asks the token endpoint while the others wait for what
it stores (a burst of attempts makes one token request). A token is used until its
``expires_in`` less a minute; a ``401`` from the endpoint drops it. A failed token request fails
its attempt with an error that begins ``auth:``, and is kept: for a minute every attempt fails
with it, and no other token request is made.

The token request is a request to a receiver's server like the delivery itself: the same
destination checks, made on the checked address, no redirects, its answer read up to a bound,
and within the attempt's one deadline (it counts against it), by the sender's own machinery.
"""

import base64
import datetime
import time
import uuid
from urllib.parse import quote_plus, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import strict_json
from chalicelib.observability import logger as log
from chalicelib.delivery.destinations import LookupTimedOut, UnsafeDestination
from chalicelib.errors import ServiceError

TOKEN_ENDPOINT = "the token endpoint"
FAILED_REQUEST_PAUSE_MS = 60_000  # after a failed token request, the next one a minute later at the soonest
RENEW_BEFORE_SECONDS = 60  # a token is used until its expires_in less this
DEFAULT_EXPIRES_IN = 3600  # when the token endpoint does not say
MAX_TOKEN_ANSWER_BYTES = 16 * 1024  # a token endpoint's answer is read up to this; a longer one fails
MAX_ACCESS_TOKEN = 8192
_FIRST_PAUSE, _LONGEST_PAUSE = 0.02, 0.2  # seconds between looks at the item while another attempt asks


class AuthFailed(Exception):
    """No access token for this attempt; ``str()`` is the attempt's error, which begins ``auth:``."""

    def __init__(self, reason):
        super().__init__(f"auth: {reason}")
        self.reason = reason


class AccessTokens:
    """The webhooks' access tokens, shared through their TOKEN items (``items``, a
    :class:`chalicelib.delivery.token_item.TokenItems`). ``clock`` is Unix seconds (the items'
    times, shared by instances); ``sleep`` waits while another attempt asks for a token."""

    def __init__(self, items, clock=time.time, sleep=time.sleep, monotonic=time.monotonic):
        self._items = items
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic

    def bearer(self, webhook_id, auth, policy, sender, started):
        """The access token for an attempt to the webhook that began at ``started`` (a
        ``time.monotonic()``), within that attempt's deadline (``sender.timeout_seconds`` from
        it); raises :class:`AuthFailed`."""
        try:
            return self._bearer(webhook_id, auth, policy, sender, started)
        except AuthFailed:
            raise
        except (ServiceError, ClientError, BotoCoreError) as exc:
            raise AuthFailed("the access token could not be read from the service's table in time") from exc
        except Exception as exc:  # a bug: the attempt fails (and is retried), the worker goes on
            log.exception("getting an access token failed unexpectedly", extra={"webhookID": webhook_id})
            raise AuthFailed("getting the access token failed unexpectedly") from exc

    def drop(self, webhook_id, access_token):
        """The endpoint refused ``access_token`` (a ``401``): the next attempt gets a new one."""
        self._items.drop(webhook_id, access_token)

    def _bearer(self, webhook_id, auth, policy, sender, started):
        fingerprint = auth.fingerprint()
        deadline = started + sender.timeout_seconds
        pause = _FIRST_PAUSE
        while True:
            if self._monotonic() >= deadline:
                raise AuthFailed(f"the access token was not got within {sender.timeout_seconds:g}s")
            now_ms = self._now_ms()
            state = self._items.read(webhook_id)
            token = state.token_for(fingerprint, now_ms)
            if token is not None:
                return token
            failure = state.failed_for(fingerprint, now_ms)
            if failure is not None:
                raise AuthFailed(f"{failure} (the token endpoint is asked at most once a minute: next at "
                                 f"{_when(state.next_request_ms)})")
            if not state.leased(now_ms):
                owner = uuid.uuid4().hex
                lease_ms = int(max(0.0, deadline - self._monotonic()) * 1000) + 1000
                if self._items.take_lease(webhook_id, state, owner, now_ms + lease_ms):
                    return self._ask_and_keep(webhook_id, auth, fingerprint, owner, policy, sender, started)
                continue  # another attempt changed the item first: look again
            if self._monotonic() + pause >= deadline:
                raise AuthFailed(f"another attempt's token request did not end within {sender.timeout_seconds:g}s")
            self._sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    def _ask_and_keep(self, webhook_id, auth, fingerprint, owner, policy, sender, started):
        asked_ms = self._now_ms()
        try:
            access_token, expires_in = request_token(auth, policy, sender, started)
        except AuthFailed as exc:
            self._items.fail(webhook_id, owner, fingerprint, exc.reason, asked_ms + FAILED_REQUEST_PAUSE_MS)
            raise
        except BaseException:
            self._items.release(webhook_id, owner)  # the others need not wait for the lease to run out
            raise
        self._items.store(webhook_id, owner, fingerprint, access_token, self._now_ms() + _use_for_ms(expires_in))
        return access_token

    def _now_ms(self):
        return int(self._clock() * 1000)


def request_token(auth, policy, sender, started):
    """Ask ``auth``'s token endpoint for an access token (RFC 6749, section 4.4), within the
    attempt's deadline: ``(access_token, expires_in seconds)``; raises :class:`AuthFailed`."""
    left = max(0.01, started + sender.timeout_seconds - time.monotonic())
    try:
        target = policy.check(auth.token_url, timeout=left)
    except LookupTimedOut:  # before UnsafeDestination, of which it is one
        raise AuthFailed(f"{TOKEN_ENDPOINT} did not answer within {sender.timeout_seconds:g}s: looking up "
                         "its name took longer") from None
    except UnsafeDestination as exc:
        raise AuthFailed(f"tokenUrl cannot be reached: {exc.message}") from None
    form = {"grant_type": "client_credentials", **({"scope": auth.scope} if auth.scope else {})}
    # RFC 6749, 2.3.1: the id and the secret, each form-urlencoded, as HTTP Basic's user and password.
    basic = base64.b64encode(f"{quote_plus(auth.client_id)}:{quote_plus(auth.client_secret)}".encode()).decode()
    headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json",
               "user-agent": sender.user_agent, "authorization": f"Basic {basic}"}
    reply = sender.exchange(target, headers, urlencode(form).encode(), started, MAX_TOKEN_ANSWER_BYTES + 1,
                            who=TOKEN_ENDPOINT)
    if reply.error is not None:
        raise AuthFailed(reply.error)
    if 300 <= reply.status < 400:
        raise AuthFailed(f"{TOKEN_ENDPOINT} answered {reply.status}, a redirect, and redirects are not followed")
    if not 200 <= reply.status < 300:
        raise AuthFailed(f"{TOKEN_ENDPOINT} answered {reply.status}{_oauth_error(reply.data)}")
    if len(reply.data) > MAX_TOKEN_ANSWER_BYTES:
        raise AuthFailed(f"{TOKEN_ENDPOINT}'s answer is longer than {MAX_TOKEN_ANSWER_BYTES // 1024} KiB")
    answer = _json_object(reply.data)
    if answer is None:
        raise AuthFailed(f"{TOKEN_ENDPOINT}'s answer is not a JSON object")
    access_token = answer.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise AuthFailed(f"{TOKEN_ENDPOINT}'s answer has no access_token")
    if len(access_token) > MAX_ACCESS_TOKEN or not all("\x21" <= c <= "\x7e" for c in access_token):
        raise AuthFailed(f"{TOKEN_ENDPOINT}'s access_token is not one that an Authorization header can carry")
    token_type = answer.get("token_type")
    if token_type is not None and (not isinstance(token_type, str) or token_type.lower() != "bearer"):
        raise AuthFailed(f"{TOKEN_ENDPOINT}'s token is not a Bearer token")
    return access_token, _expires_in(answer.get("expires_in"))


def _json_object(data):
    try:
        answer = strict_json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, strict_json.StrictJSONError):
        return None
    return answer if isinstance(answer, dict) else None


def _oauth_error(data):
    """The OAuth error code of a refusal (RFC 6749, 5.2: ``invalid_client``...), if it gave a sane one."""
    answer = _json_object(data[:MAX_TOKEN_ANSWER_BYTES])
    code = answer.get("error") if answer else None
    if isinstance(code, str) and 0 < len(code) <= 64 and all(c.isascii() and (c.isalnum() or c == "_") for c in code):
        return f" ({code})"
    return ""


def _expires_in(value):
    """Seconds the token lives, as the token endpoint said (a number, or digits), else an hour."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10**9:
        return DEFAULT_EXPIRES_IN
    return value


def _use_for_ms(expires_in):
    """How long a token is reused: its life less a minute (section 20), so a token that lives a minute
    or less serves the attempt that asked for it and no other."""
    return int(max(0, expires_in - RENEW_BEFORE_SECONDS) * 1000)


def _when(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

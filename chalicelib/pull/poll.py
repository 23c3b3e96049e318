"""``webhook.poll`` (contract, section 18): a pull webhook's messages after a cursor, each as a push
delivery of it would be sent (section 4's headers and body, signed now with the webhook's
secrets), waiting for one to arrive when there is none.

The cursor is the position of the last entry read (chalicelib/pull/log.py) and a MAC of it keyed
with the webhook's own cursor key, so a cursor the service did not make, or another webhook's,
is refused. The body of a message is made again at each poll from what the entry keeps and its
``sequence``: the same bytes every time.

Waiting (``wait``) reads the log again after 0.25 s, 0.5 s and 1 s, then every second: a
20-second wait with nothing to return makes 23 reads, each one strongly consistent Query that
finds nothing (1 RRU), and ends well inside API Gateway's 29 seconds.
"""

import base64
import binascii
import hashlib
import hmac
import os
import time

from chalicelib.delivery.sender import SERVICE_HEADERS, signed_request
from chalicelib.errors import InvalidParameter
from chalicelib.occurrences import delivery_body

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_WAIT_SECONDS = 20
# The pauses between reads while a poll waits: sooner at first (a message often follows at once).
WAIT_PAUSES = (0.25, 0.25, 0.5)
WAIT_PAUSE = 1.0
_MAC_BYTES = 12


def new_cursor_key():
    """A pull webhook's key for its cursors, made with it and never shown."""
    return base64.b64encode(os.urandom(32)).decode()


def cursor_for(webhook, position):
    """The opaque cursor that stands for ``position`` in ``webhook``'s log."""
    return base64.urlsafe_b64encode(position.to_bytes(8, "big") + _mac(webhook, position)).decode().rstrip("=")


def position_of(webhook, cursor):
    """The position a cursor of ``webhook`` stands for; 400 on ``cursor`` for one it did not get."""
    refused = InvalidParameter("cursor is not a cursor that webhook.poll gave for this webhook", field="cursor")
    if not isinstance(cursor, str) or len(cursor) > 64:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error) as exc:
        raise refused from exc
    position = int.from_bytes(raw[:8], "big")
    if len(raw) != 8 + _MAC_BYTES or not hmac.compare_digest(raw[8:], _mac(webhook, position)):
        raise refused
    return position


def _mac(webhook, position):
    key = base64.b64decode(webhook.cursor_key)
    return hmac.new(key, f"{webhook.webhook_id}:{position}".encode(), hashlib.sha256).digest()[:_MAC_BYTES]


def poll(webhook, pull_log, after, limit, wait, erased, clock=time.time, sleep=time.sleep):
    """Up to ``limit`` messages after position ``after``: ``(entries, last position read, more)``;
    with none to return, read again for up to ``wait`` seconds. ``erased(message)``: whether a
    message is about a person erased since it was dispatched (it is not returned)."""
    deadline = clock() + wait
    pauses = iter(WAIT_PAUSES)
    position = after
    while True:
        now = clock()
        entries, position, more = pull_log.after(webhook.webhook_id, position, limit, now)
        numbers = pull_log.number(webhook.webhook_id, entries, erased, now)
        data = [signed_entry(webhook, entry.message, numbers[entry.position][0], now) for entry in entries
                if numbers[entry.position][0] > 0 and not (entry.erased or erased(entry.message))]
        if data or more or clock() >= deadline:
            return data, position, more
        sleep(max(0.0, min(next(pauses, WAIT_PAUSE), deadline - clock())))


def signed_entry(webhook, message, sequence, now):
    """One message as ``webhook.poll`` answers it: what a push delivery of it would send, made by
    the function that makes every push delivery (signed with the webhook's secrets, or its
    Ed25519 keys: ``v1a``). A pull webhook has no template, auth or headers of its own
    (chalicelib.api.webhook_methods), so the body is section 4's and the headers the service's."""
    body = delivery_body(message.type, webhook.webhook_id, message.data, message.timestamp, sequence)
    request = signed_request(webhook, message.message_id, body, now)
    return {"messageID": message.message_id,
            "headers": {k: v for k, v in request["headers"].items() if k in SERVICE_HEADERS},
            "body": request["body"]}

"""Identifiers, tokens and secrets.

IDs are ULID-like: 48 bits of milliseconds then 80 random bits, in Crockford base32, so they
sort in creation order and are never reused.
"""

import base64
import hashlib
import os
import re
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last = [0, 0]  # the last (milliseconds, random) handed out, to stay monotonic within a process


def _encode(number, length):
    chars = []
    for _ in range(length):
        number, rem = divmod(number, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix, now_ms=None, randbytes=os.urandom):
    """A new sortable ID such as ``wh_01JD...``; later calls in one process sort after earlier ones."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(randbytes(10), "big")
    with _lock:
        if ms <= _last[0]:
            ms, rand = _last[0], (_last[1] + 1) % (1 << 80)
        _last[0], _last[1] = ms, rand
    return f"{prefix}_{_encode(ms, 10)}{_encode(rand, 16)}"


def deterministic_id(prefix, seed, ms):
    """A sortable ID for time ``ms`` whose random part is derived from ``seed``: the same platform
    event always gets the same messageID, and it still sorts by time."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big")
    return f"{prefix}_{_encode(ms, 10)}{_encode(digest, 16)}"


def id_floor(prefix, ms):
    """The smallest ID of time ``ms``: IDs made at or after ``ms`` sort at or after it."""
    return f"{prefix}_{_encode(ms, 10)}{'0' * 16}"


_ISSUED_TOKEN = re.compile(r"tok_[A-Za-z0-9_-]{43}")


def new_token():
    """A bearer token: 32 random bytes, URL-safe (``tok_`` and 43 characters)."""
    return "tok_" + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def is_issued_token(token):
    """True if ``token`` has the form :func:`new_token` gives (checked in constant time)."""
    return len(token) == 47 and _ISSUED_TOKEN.fullmatch(token) is not None


def hash_token(token):
    """What is stored for a token: its SHA-256 (tokens are random, so no slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret():
    """A Standard Webhooks signing secret: ``whsec_`` and base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def id_ms(identifier):
    """The milliseconds an ID of :func:`new_id` or :func:`deterministic_id` was made at (0 if it is
    not one)."""
    _, _, body = identifier.partition("_")
    number = 0
    for char in body[:10]:
        position = _ALPHABET.find(char)
        if position < 0:
            return 0
        number = number * 32 + position
    return number if len(body) >= 10 else 0

"""Standard Webhooks signatures, made over the exact bytes sent: ``v1`` (HMAC-SHA256, with the
reference library) for a ``whsec_`` secret, ``v1a`` (Ed25519, the specification's asymmetric
scheme, with ``cryptography``) for a ``whsk_`` private key (contract, sections 4 and 19).

``cryptography`` is not in the Lambda runtime: it comes with AWS's Powertools layer (built with
Powertools' ``[all]`` extras), and it is imported on first use, so that a function that signs
nothing with Ed25519 does not pay for it at its cold start.
"""

import base64
import functools
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

HMAC = "hmac"
ED25519 = "ed25519"
SIGNATURES = (HMAC, ED25519)
PRIVATE_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"


def signature_header(secrets, message_id, timestamp, body):
    """The ``webhook-signature`` value: one signature per secret, space-separated, in order;
    ``v1,<base64>`` for a ``whsec_`` secret, ``v1a,<base64>`` for a ``whsk_`` private key.

    ``body`` is the exact text that is sent; ``timestamp`` is Unix seconds.
    """
    return " ".join(_signature(secret, message_id, int(timestamp), body) for secret in secrets)


def _signature(secret, message_id, timestamp, body):
    if secret.startswith(PRIVATE_KEY_PREFIX):
        signed = f"{message_id}.{timestamp}.{body}".encode()
        return "v1a," + base64.b64encode(_private_key(secret).sign(signed)).decode()
    return Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, tz=timezone.utc), body)


def new_key_pair():
    """A new Ed25519 key pair: ``(private, public)``, as ``whsk_<base64 of the 32-byte private
    key>`` and ``whpk_<base64 of the 32-byte public key>``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes_raw()
    return PRIVATE_KEY_PREFIX + base64.b64encode(private).decode(), public_key_of(key)


def public_key_of(private_key):
    """The ``whpk_`` public key of a private key (a ``whsk_`` text, or a key object)."""
    key = _private_key(private_key) if isinstance(private_key, str) else private_key
    return PUBLIC_KEY_PREFIX + base64.b64encode(key.public_key().public_bytes_raw()).decode()


@functools.lru_cache(maxsize=1024)  # the same few keys sign every delivery of a batch
def _private_key(secret):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret[len(PRIVATE_KEY_PREFIX):]))

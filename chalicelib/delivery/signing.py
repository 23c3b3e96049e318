"""Standard Webhooks signatures, made with the reference library over the exact bytes sent."""

from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook


def signature_header(secrets, message_id, timestamp, body):
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, space-separated, in order.

    ``body`` is the exact text that is sent; ``timestamp`` is Unix seconds.
    """
    when = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    return " ".join(Webhook(secret).sign(message_id, when, body) for secret in secrets)

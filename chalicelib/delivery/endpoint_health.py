"""An endpoint's health, looked at after each attempt: 410 disables its webhook at once, and so
does failing without a success for too long (``AUTO_DISABLE_AFTER``)."""

from dataclasses import replace

from chalicelib import observability
from chalicelib.delivery.outcomes import WebhookDisabled
from chalicelib.errors import NotFound
from chalicelib.settings import format_duration

log = observability.logger


class EndpointHealth:
    """Marks a webhook failing, clears the mark, disables it; handed the webhook store."""

    def __init__(self, webhooks, auto_disable_after_ms):
        self._webhooks = webhooks
        self._auto_disable_after_ms = auto_disable_after_ms

    def after_attempt(self, webhook, attempt, now_ms):
        """Keep what ``attempt`` says of the endpoint in the webhook's item. Returns the webhook as
        it is now, and a :class:`WebhookDisabled` when this attempt disabled it (else None).

        The caller serializes the calls about one webhook, so that it is disabled (and counted) once.
        """
        try:
            if attempt.ok:
                if webhook.failing_since_ms is not None:
                    self._webhooks.clear_failing(webhook.webhook_id)
                    webhook = replace(webhook, failing_since_ms=None)
                return webhook, None
            if attempt.status_code == 410:
                return self._disable(webhook, "the endpoint answered 410 Gone")
            if webhook.failing_since_ms is None:
                self._webhooks.mark_failing(webhook.webhook_id, now_ms)
                return replace(webhook, failing_since_ms=now_ms), None
            if now_ms - webhook.failing_since_ms >= self._auto_disable_after_ms:
                return self._disable(webhook, "the endpoint accepted no delivery for "
                                     f"{format_duration(self._auto_disable_after_ms)}")
        except NotFound:
            pass  # removed, or disabled by another invocation meanwhile
        return webhook, None

    def _disable(self, webhook, reason):
        if webhook.status != "enabled":
            return webhook, None
        self._webhooks.set_status(webhook, "disabled", only_from="enabled", reason=reason)
        observability.count("Disabled")
        log.warning("webhook disabled", extra={"webhookID": webhook.webhook_id, "reason": reason})
        return replace(webhook, status="disabled", disabled_reason=reason), WebhookDisabled(
            webhook, reason, webhook.failing_since_ms)

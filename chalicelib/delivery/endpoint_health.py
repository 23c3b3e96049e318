"""An endpoint's health, looked at after each attempt: 410 disables its webhook at once, and so
does failing without a success for too long (``AUTO_DISABLE_AFTER``)."""

from chalicelib import observability
from chalicelib.errors import NotFound
from chalicelib.settings import format_duration

log = observability.logger


class EndpointHealth:
    """Marks a webhook failing, clears the mark, disables it; handed the webhook store, and the
    notices to tell when it disables one (chalicelib/delivery/hooks.py)."""

    def __init__(self, webhooks, auto_disable_after_ms, notices):
        self._webhooks = webhooks
        self._auto_disable_after_ms = auto_disable_after_ms
        self._notices = notices

    def after_attempt(self, webhook, webhook_item, attempt, now_ms):
        """Keep what ``attempt`` says of the webhook's endpoint in its stored item and in the
        batch's copy of it (``webhook_item``), which the batch's other messages read.

        The caller holds the batch's lock, so that a webhook is disabled (and counted) once.
        """
        failing_since = webhook_item.get("failingSince")
        try:
            if attempt.ok:
                if failing_since is not None:
                    self._webhooks.clear_failing(webhook.webhook_id)
                    webhook_item.pop("failingSince", None)
                return
            if attempt.status_code == 410:
                self._disable(webhook, webhook_item, "the endpoint answered 410 Gone")
            elif failing_since is None:
                self._webhooks.mark_failing(webhook.webhook_id, now_ms)
                webhook_item["failingSince"] = now_ms
            elif now_ms - int(failing_since) >= self._auto_disable_after_ms:
                self._disable(webhook, webhook_item, "the endpoint accepted no delivery for "
                              f"{format_duration(self._auto_disable_after_ms)}")
        except NotFound:
            pass  # removed, or disabled by another invocation meanwhile

    def _disable(self, webhook, webhook_item, reason):
        if webhook_item.get("status") != "enabled":
            return
        self._webhooks.set_status(webhook, "disabled", only_from="enabled", reason=reason)
        webhook_item["status"] = "disabled"
        observability.count("Disabled")
        log.warning("webhook disabled", extra={"webhookID": webhook.webhook_id, "reason": reason})
        failing_since = webhook_item.get("failingSince")
        self._notices.webhook_disabled(webhook, reason, None if failing_since is None else int(failing_since))

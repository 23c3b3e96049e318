"""``webhook.poll``: a pull webhook's messages, read by the receiver (contract, section 18)."""

from chalicelib.api.registry import READ, Param, method, webhook_id
from chalicelib.errors import Forbidden, InvalidParameter, NotFound
from chalicelib.pull.poll import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, cursor_for, poll, position_of
from chalicelib.store.erasure import erased_before
from chalicelib.store.webhook_record import Webhook


@method("webhook.poll", "A pull webhook's messages after a cursor, in dispatch order, each signed as its push "
        "delivery would be; waits up to wait seconds for one when there is none.",
        params=(webhook_id("The pull webhook."),
                Param("cursor", "cursor", "The cursor of an earlier answer: the messages after it (absent: from the "
                      "oldest message kept). An older cursor returns the same messages again."),
                Param("limit", "count", f"How many at most (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT})."),
                Param("wait", "wait", f"With nothing to return, how long to wait for a message (0 to "
                      f"{MAX_WAIT_SECONDS} seconds, default 0).")),
        verbs=READ, answer="PollPage")
def poll_webhook(ctx, params):
    services = ctx.services
    item = services.webhooks.get_item(params.identifier("webhookID"))
    webhook = None if item is None or item["status"] == "removed" else Webhook.from_item(item)
    if ctx.grant.device:
        if webhook is None or not ctx.grant.can_poll(webhook):
            raise Forbidden("this device's token may not poll that webhook", field="webhookID")
    elif webhook is None or not ctx.grant.can_poll(webhook):
        raise NotFound("no webhook with that webhookID", field="webhookID")
    if webhook.delivery != "pull":
        raise InvalidParameter("that webhook is a push webhook: its messages are POSTed to its url, not polled",
                               field="webhookID")
    limit = params.whole_number("limit", 1, MAX_LIMIT, default=DEFAULT_LIMIT)
    wait = params.whole_number("wait", 0, MAX_WAIT_SECONDS, default=0)
    cursor = params.raw("cursor")
    after = 0 if cursor is None else position_of(webhook, cursor)
    webhook = services.webhooks.forget_old_secret(webhook, ctx.now)
    data, position, more = poll(webhook, services.pull_log, after, limit, wait,
                                lambda message: erased_before(webhook, message), clock=services.clock)
    return 200, {"data": data, "cursor": cursor_for(webhook, position), "more": more}

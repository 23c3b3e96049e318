"""The service's own notices about its webhooks (contract, section 15): ``webhookDisabled`` when it
disables one, ``messageFailed`` when it gives a message up.

A notice goes, like a platform event, to the other webhooks of that type of the same owner (an
event-level webhook hears about its event's other webhooks, a company-level one about its
company's), and onto the EventBridge bus with source ``inevent.webhooks``, for the platform.

- No loops: a notice given up tells no one, and nothing is said about a webhook that takes
  notices only; a webhook is never told about itself.
- No floods: at most one ``messageFailed`` a minute about one webhook. The turn is taken with a
  conditional write on a small item of that webhook (``WH#<id>`` / ``NOTICE``), so it holds
  across Lambda instances; the messages given up meanwhile are counted there, and the next
  ``messageFailed`` about that webhook carries them as ``alsoFailed``. When no further message
  is given up, the last count is never reported on its own (the item expires with the delivery
  log's retention); the ``webhookDisabled`` that usually follows says the rest.

The delivery worker returns what happened (chalicelib/delivery/outcomes.py); the delivery
function's handler hands it to :meth:`Notices.tell`. A notice is sent once its cause is
recorded; if sending it fails, it is logged and lost (the delivery it is about is not tried
again for it).
"""

import json
import time
import uuid

from botocore.exceptions import ClientError

from chalicelib import observability
from chalicelib.catalog import NOTICE_TYPES
from chalicelib.delivery.outcomes import MessageGivenUp, WebhookDisabled
from chalicelib.delivery.queue import QueuedMessage
from chalicelib.dispatch.fanout import send
from chalicelib.ids import new_id
from chalicelib.store.table import error_code, reraise_unavailable

log = observability.logger

NOTICE_SOURCE = "inevent.webhooks"
NOTICE_EVERY_MS = 60_000  # at most one messageFailed a minute about one webhook


def _throttle_key(webhook_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": "NOTICE"}}


class Notices:
    """Builds the notices of what a batch's delivery came to and sends them; handed the webhook
    store, the delivery queue and log, the DynamoDB client and table (the throttle), an
    EventBridge client and bus, and the pull log (a pull webhook may take notices)."""

    def __init__(self, webhooks, queue, log_store, dynamodb, table_name, events, bus_name, retention_days=30,
                 clock=time.time, *, pull_log):
        self._webhooks = webhooks
        self._queue = queue
        self._log = log_store
        self._pull_log = pull_log
        self._db = dynamodb
        self._table = table_name
        self._events = events
        self._bus = bus_name
        self._retention_seconds = retention_days * 86400
        self._clock = clock

    def tell(self, events):
        """Tell of each of ``events`` (:class:`MessageGivenUp`, :class:`WebhookDisabled`), in order.
        No loops: a notice given up tells no one, and nothing is said about the disabling of a
        webhook that takes notices only (a webhook is never told about itself, :meth:`_tell`)."""
        for event in events:
            if isinstance(event, WebhookDisabled):
                if not all(name in NOTICE_TYPES for name in event.webhook.types):
                    self._guarded(lambda: self._webhook_disabled(event))
            elif isinstance(event, MessageGivenUp):
                if event.message.type not in NOTICE_TYPES:
                    self._guarded(lambda: self._message_failed(event))
        observability.flush()

    def _webhook_disabled(self, event):
        failing_since = event.failing_since_ms
        data = {**self._about(event.webhook), "type": event.webhook.type, "types": list(event.webhook.types),
                "reason": event.reason,
                "failingSince": None if failing_since is None else str(int(failing_since) // 1000)}
        self._tell(event.webhook, "webhookDisabled", data)

    def _guarded(self, send):
        try:
            send()
        except Exception:  # noqa: BLE001 - a notice never costs a delivery its outcome
            log.exception("a notice could not be sent")
            observability.count("NoticeLost")

    def _message_failed(self, event):
        webhook, last = event.webhook, event.last_attempt
        also_failed = self._take_turn(webhook.webhook_id)
        if also_failed is None:
            return  # counted: the next messageFailed about this webhook reports it
        status_code = last.get("statusCode")
        data = {**self._about(webhook), "messageID": event.message.message_id, "type": event.message.type,
                "attempts": event.attempts,
                "lastError": last.get("error") or (None if status_code is None else f"HTTP {status_code}"),
                "alsoFailed": also_failed}
        if status_code is not None:
            data["lastStatusCode"] = str(status_code)
        self._tell(webhook, "messageFailed", data)

    @staticmethod
    def _about(webhook):
        return {webhook.owner_field: webhook.owner_id, "webhookID": webhook.webhook_id, "url": webhook.url}

    def _take_turn(self, webhook_id):
        """The count of messages given up unreported since the last messageFailed about the
        webhook, if a minute has passed since it (and the turn is now taken); else None, and this
        one is counted.

        Each write carries a token of this call (``turn``): botocore's retry of a write whose
        answer was lost finds its own token, and the call goes on as its first try did (the turn
        taken, with the count it took along; or counted once), not as if another had the turn."""
        now_ms = int(self._clock() * 1000)
        expires = {"N": str(int(self._clock()) + self._retention_seconds)}
        turn = {"S": uuid.uuid4().hex}
        try:
            answer = self._db.update_item(
                TableName=self._table, Key=_throttle_key(webhook_id),
                UpdateExpression="SET lastNoticeAt = :now, turnAlsoFailed = if_not_exists(unreported, :zero), "
                                 "unreported = :zero, turn = :turn, expiresAt = :expires",
                ConditionExpression="attribute_not_exists(lastNoticeAt) OR lastNoticeAt <= :since",
                ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":zero": {"N": "0"}, ":expires": expires,
                                           ":since": {"N": str(now_ms - NOTICE_EVERY_MS)}, ":turn": turn},
                ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
            return int(answer["Attributes"]["turnAlsoFailed"]["N"])
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)
            held = exc.response.get("Item", {})
            if held.get("turn") == turn:
                return int(held["turnAlsoFailed"]["N"])
        try:
            self._db.update_item(TableName=self._table, Key=_throttle_key(webhook_id),
                                 UpdateExpression="ADD unreported :one SET expiresAt = :expires, counted = :turn",
                                 ConditionExpression="attribute_not_exists(counted) OR counted <> :turn",
                                 ExpressionAttributeValues={":one": {"N": "1"}, ":expires": expires, ":turn": turn})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise  # counted by this very write's first try otherwise
        return None

    def _tell(self, webhook, type_name, data):
        """Queue the notice for the owner's other webhooks of ``type_name``, and put it on the bus."""
        now = self._clock()
        hooks = [hook for hook in self._webhooks.list(webhook.level, webhook.owner_id, type_name)
                 if hook.webhook_id != webhook.webhook_id]
        message_id = new_id("msg")
        messages = [(hook, QueuedMessage(message_id=message_id, webhook_id=hook.webhook_id, type=type_name,
                                         subject=f"webhook:{webhook.webhook_id}", date=str(int(now)),
                                         timestamp=int(now), data=data)) for hook in hooks]
        enabled = send(messages, self._queue, self._log, now, self._pull_log)
        self._events.put_events(Entries=[{"Source": NOTICE_SOURCE, "DetailType": type_name,
                                          "Detail": json.dumps(data), "EventBusName": self._bus}])
        observability.count("NoticeSent")
        log.info("notice sent", extra={"type": type_name, "webhookID": webhook.webhook_id, "webhooks": enabled})


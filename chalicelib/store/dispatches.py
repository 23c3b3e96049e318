"""Where each platform event went: the webhooks its message was queued for, per level, so that
``webhook.trace`` (contract, section 22) can find them from the messageID alone.

The delivery log cannot say it: a message's record is written at its first attempt, and a
webhook's log is read by webhookID. So the fan-out writes one small item per platform event
(``DISPATCH#<messageID>``) before it queues anything: the type, the date, and for each level the
owner and the webhookIDs (a string set: a retried fan-out, which reuses its messageID, adds to
what is there). 200 webhooks at each level make about 12 KB, far below DynamoDB's 400 KB; it
costs one UpdateItem per platform event, billed by its size (a write unit per KB). It is kept as
long as the delivery log keeps messages, and holds no personal data (no IDs of the event's
people), so an erasure leaves it be.
"""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.catalog import COMPANY, EVENT
from chalicelib.store.table import batch_get, get_item, message_key, reraise_unavailable, serialize, webhook_key

# The item's attributes for each level: the owner's ID, and the webhookIDs queued at that level.
_OWNER = {EVENT: "eventID", COMPANY: "companyID"}
_HOOKS = {EVENT: "eventHooks", COMPANY: "companyHooks"}


def dispatch_key(message_id):
    return {"pk": {"S": f"DISPATCH#{message_id}"}, "sk": {"S": "DISPATCH"}}


@dataclass(frozen=True)
class Dispatch:
    """One platform event's message: its type and date, and by ``(level, owner_id)`` the
    webhookIDs it was queued for, in creation order."""

    message_id: str
    type: str
    date: str
    webhooks: dict

    @classmethod
    def from_item(cls, item):
        webhooks = {(level, item[_OWNER[level]]): tuple(sorted(item[_HOOKS[level]]))
                    for level in (EVENT, COMPANY) if item.get(_HOOKS[level])}
        return cls(item["messageID"], item["type"], item["date"], webhooks)


class Dispatches:
    """The ``DISPATCH#<messageID>`` items; handed its DynamoDB client and table."""

    def __init__(self, client, table_name, retention_days=30):
        self._db = client
        self._table = table_name
        self._retention_seconds = retention_days * 86400

    def record(self, message_id, type, date, hooks, now):
        """Note that ``message_id`` (of ``type``, dated ``date``) is queued for the webhooks
        ``hooks``: one UpdateItem, whatever their number and levels (a fan-out reaches one event
        and at most one company)."""
        values = {":type": type, ":date": date, ":message": message_id, ":expires": int(now) + self._retention_seconds}
        sets, adds = ["#type = :type", "#date = :date", "messageID = :message", "expiresAt = :expires"], []
        for level in (EVENT, COMPANY):
            at_level = [hook for hook in hooks if hook.level == level]
            if not at_level:
                continue
            sets.append(f"{_OWNER[level]} = :{level}")
            adds.append(f"{_HOOKS[level]} :{level}Hooks")
            values[f":{level}"] = at_level[0].owner_id
        wire = serialize(values)
        for level in (EVENT, COMPANY):
            ids = sorted({hook.webhook_id for hook in hooks if hook.level == level})
            if ids:
                wire[f":{level}Hooks"] = {"SS": ids}
        try:
            self._db.update_item(TableName=self._table, Key=dispatch_key(message_id),
                                 UpdateExpression="SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else ""),
                                 ExpressionAttributeNames={"#type": "type", "#date": "date"},
                                 ExpressionAttributeValues=wire)
        except ClientError as exc:
            reraise_unavailable(exc)

    def get(self, message_id):
        """The :class:`Dispatch` of ``message_id``, or None."""
        item = get_item(self._db, self._table, dispatch_key(message_id))
        return None if item is None else Dispatch.from_item(item)

    def deliveries(self, message_id, webhook_ids):
        """The webhook items and the delivery log's records of ``message_id`` for ``webhook_ids``,
        each by webhookID, read together (BatchGetItem, 100 keys a request)."""
        keys = [key for webhook_id in webhook_ids
                for key in (webhook_key(webhook_id), message_key(webhook_id, message_id))]
        webhooks, records = {}, {}
        for item in batch_get(self._db, self._table, keys):
            (webhooks if item["sk"] == "WH" else records)[item["pk"][3:]] = item
        return webhooks, records

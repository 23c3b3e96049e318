"""Forgetting a person (contract, section 15): ``webhook.erasePerson`` starts an erasure, a job on
its own queue and function carries it out, ``webhook.erasure`` reads how far it got.

It costs what the scope holds, never the whole table, and adds nothing to a delivery:

1. **Mark.** Each webhook of the events and companies named gets a mark on its own item,
   ``erased:<personID>`` = the time the erasure was asked for (ms). The delivery worker reads
   that item once per batch already; a queued or retrying message about the person dispatched
   before that time is dropped there (:func:`erased_before`), at no extra request. Marks older
   than SQS keeps a message are pruned when the next erasure marks that webhook.
2. **Settle.** The job waits ``ERASURE_SETTLE_SECONDS`` (longer than a delivery invocation or an
   API call may run), on the queue, so that no delivery or dispatch that began before the marks
   can still write a record about the person.
3. **Erase.** It Queries each webhook's log (``WH#<id>``, ``MSG#...`` up to the erasure's time)
   and deletes the messages whose ``data.personID`` is the person, in transactions that also move the erasure's
   checkpoint (the webhook it is at, the last key, the count): a crash halfway loses nothing,
   and the queue runs it again from there. A step written twice (a retry after its answer was
   lost) counts once. A pull webhook's entries (``POS#...``) about the person are emptied
   rather than deleted, so that its positions stay one unbroken run (chalicelib.pull.log).
   Last, the webhook's sequence counter for the person is deleted (a later message about them
   starts at 1 again).

A message dispatched after the erasure was asked for is delivered as any other: the platform
dispatched it again. One dispatched in the same millisecond counts as before.
"""

import json
import time
import uuid
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib import observability
from chalicelib.ids import id_floor, new_id
from chalicelib.store.table import (
    POSITION_PREFIX,
    deserialize,
    error_code,
    get_item,
    position_sk,
    reraise_unavailable,
    sequence_key,
    serialize,
    webhook_key,
)
from chalicelib.store.webhook_record import ERASURE_MARK

log = observability.logger

MARK_PREFIX = ERASURE_MARK
MARK_KEEP_MS = 15 * 86400 * 1000  # longer than SQS keeps a queued message (14 days)
_TRANSACTION_ITEMS = 100  # DynamoDB's most; one is the checkpoint
_MIN_REMAINING_MS = 10_000  # less left than this in the invocation: go on in a new one


def erased_before(webhook, message):
    """True when ``message`` is about a person erased from ``webhook`` (a
    :class:`chalicelib.store.webhook_record.Webhook`) after it was dispatched. A message made in
    the erasure's own millisecond counts as before it."""
    person = message.data.get("personID") if isinstance(message.data, dict) else None
    if person is None:
        return False
    marked = webhook.erased_ms.get(str(person))
    return marked is not None and message.message_id < id_floor("msg", marked + 1)


def erased_after(webhook_item, message_id):
    """True when some person was erased from this webhook after ``message_id`` was dispatched: a
    record of that message missing from its log may have gone with them."""
    return any(message_id < id_floor("msg", int(value) + 1)
               for name, value in webhook_item.items() if name.startswith(MARK_PREFIX))


def _erasure_key(erasure_id):
    return {"pk": {"S": f"ERASURE#{erasure_id}"}, "sk": {"S": "ERASURE"}}


@dataclass(frozen=True)
class Erasure:
    """One erasure: who, where (``owners``: [level, ID] pairs), when it was asked for, and how far
    it got (``phase`` mark, erase or done; the webhooks left, the last key read, the count)."""

    erasure_id: str
    person_id: str
    owners: tuple
    requested_ms: int
    phase: str = "mark"
    remaining: tuple = ()
    last_key: str | None = None
    erased: int = 0
    settle_until_ms: int = 0

    @classmethod
    def from_item(cls, item):
        return cls(erasure_id=item["erasureID"], person_id=item["personID"],
                   owners=tuple(tuple(owner) for owner in json.loads(item["owners"])),
                   requested_ms=int(item["requestedAt"]), phase=item["phase"],
                   remaining=tuple(item.get("remaining") or ()), last_key=item.get("lastKey"),
                   erased=int(item.get("erased", 0)), settle_until_ms=int(item.get("settleUntil", 0)))

    def public(self):
        return {"erasureID": self.erasure_id, "status": "done" if self.phase == "done" else "running",
                "erased": self.erased}


class Erasures:
    """The erasures in the table (``ERASURE#<id>``) and the queue their job runs from."""

    def __init__(self, client, table_name, sqs, queue_url, retention_days=30):
        self._db = client
        self._table = table_name
        self._sqs = sqs
        self._url = queue_url
        self._retention_seconds = retention_days * 86400

    def start(self, person_id, owners, now):
        """Record a new erasure of ``person_id`` from ``owners`` and queue its job."""
        erasure = Erasure(new_id("era"), person_id, tuple(owners), int(now * 1000))
        item = {"erasureID": erasure.erasure_id, "personID": person_id, "owners": json.dumps(owners),
                "requestedAt": erasure.requested_ms, "phase": "mark", "erased": 0,
                "expiresAt": int(now) + self._retention_seconds}
        try:
            self._db.put_item(TableName=self._table, Item={**_erasure_key(erasure.erasure_id), **serialize(item)})
        except ClientError as exc:
            reraise_unavailable(exc)
        self.queue(erasure.erasure_id)
        return erasure

    def queue(self, erasure_id, delay_seconds=0):
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps({"erasureID": erasure_id}),
                               DelaySeconds=max(0, min(900, int(delay_seconds))))

    def get(self, erasure_id):
        item = get_item(self._db, self._table, _erasure_key(erasure_id))
        return None if item is None else Erasure.from_item(item)

    def update(self, erasure_id, **fields):
        """Set fields of the erasure item (None removes one)."""
        sets = {name: value for name, value in fields.items() if value is not None}
        removes = [name for name, value in fields.items() if value is None]
        expression = "SET " + ", ".join(f"#{n} = :{n}" for n in sets)
        if removes:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removes)
        self._db.update_item(TableName=self._table, Key=_erasure_key(erasure_id), UpdateExpression=expression,
                             ExpressionAttributeNames={f"#{n}": n for n in fields},
                             ExpressionAttributeValues={f":{n}": v for n, v in serialize(sets).items()})

    def checkpoint(self, erasure_id, last_key, erased):
        """The transaction item that moves the checkpoint past ``last_key``, with ``erased`` the
        erasure's count so far (set, not added: written twice, it counts once)."""
        return {"Update": {"TableName": self._table, "Key": _erasure_key(erasure_id),
                           "UpdateExpression": "SET lastKey = :key, erased = :erased",
                           "ExpressionAttributeValues": {":key": {"S": last_key}, ":erased": {"N": str(erased)}}}}

    def next_webhook(self, erasure_id, remaining):
        """The transaction item that moves the erasure on to its next webhook."""
        return {"Update": {"TableName": self._table, "Key": _erasure_key(erasure_id),
                           "UpdateExpression": "SET remaining = :remaining REMOVE lastKey",
                           "ExpressionAttributeValues": serialize({":remaining": list(remaining)})}}


class ErasureJob:
    """Carries an erasure out, a step at a time (see the module docstring); handed the erasures,
    the webhook store, the DynamoDB client and table. ``after_commit(erased so far)`` is called
    after each transaction (a test stops the job there to show a crash halfway)."""

    def __init__(self, erasures, webhooks, dynamodb, table_name, settle_seconds, clock=time.time, after_commit=None):
        self._erasures = erasures
        self._webhooks = webhooks
        self._db = dynamodb
        self._table = table_name
        self._settle_ms = settle_seconds * 1000
        self._clock = clock
        self._after_commit = after_commit or (lambda erased: None)

    def run(self, erasure_id, remaining_ms=None):
        """Take the erasure as far as this invocation allows; queue the rest."""
        started = time.monotonic()
        erasure = self._erasures.get(erasure_id)
        if erasure is None or erasure.phase == "done":
            return
        if erasure.phase == "mark":
            self._mark(erasure)
            return
        now_ms = int(self._clock() * 1000)
        if now_ms < erasure.settle_until_ms:
            self._erasures.queue(erasure_id, (erasure.settle_until_ms - now_ms) / 1000 + 1)
            return
        erased, last_key = erasure.erased, erasure.last_key
        remaining = list(erasure.remaining)
        while remaining:
            if remaining_ms is not None and remaining_ms - (time.monotonic() - started) * 1000 < _MIN_REMAINING_MS:
                self._erasures.queue(erasure_id)  # go on in a new invocation, from the checkpoint
                return
            webhook_id = remaining.pop(0)
            erased = self._erase_log(erasure, webhook_id, last_key, erased)
            last_key = None
            # The webhook is done: its sequence counter for the person goes, and the checkpoint
            # moves on to the next webhook, together.
            self._transact([{"Delete": {"TableName": self._table,
                                        "Key": sequence_key(webhook_id, f"person:{erasure.person_id}")}},
                            self._erasures.next_webhook(erasure_id, remaining)], erased)
        self._erasures.update(erasure_id, phase="done", remaining=None, lastKey=None, doneAt=int(self._clock() * 1000))
        observability.count("ErasureDone")
        log.info("erasure done", extra={"erasureID": erasure_id, "erased": erased})

    def _erase_log(self, erasure, webhook_id, last_key, erased):
        """Erase the person's messages from one webhook's delivery log, and from its pull log if it
        is a pull webhook, from ``last_key`` on; return the erasure's count after them."""
        if not (last_key or "").startswith(POSITION_PREFIX):
            erased = self._erase_records(erasure, webhook_id, last_key, erased)
            last_key = None
        return self._erase_entries(erasure, webhook_id, last_key, erased)

    def _erase_entries(self, erasure, webhook_id, last_key, erased):
        """Empty the entries of a pull webhook's log about the person (chalicelib.pull.log): each
        keeps its position, so the positions stay one run, and nothing about the person."""
        floor = id_floor("msg", erasure.requested_ms + 1)
        return self._erase_each(
            erasure, webhook_id, last_key, erased, (position_sk(0), position_sk(10**12 - 1)),
            lambda key: {"Update": {"TableName": self._table, "Key": key,
                                    "UpdateExpression": "SET erased = :yes REMOVE dataJson, subject",
                                    "ConditionExpression": "attribute_exists(pk)",
                                    "ExpressionAttributeValues": {":yes": {"BOOL": True}}}},
            before=lambda item: item["messageID"] < floor, projection="pk, sk, dataJson, messageID")

    def _erase_records(self, erasure, webhook_id, last_key, erased):
        """Delete the person's messages from one webhook's delivery log, from ``last_key`` on; return
        the erasure's count after them."""
        # Only messages dispatched before the erasure was asked for: one after it is the platform's
        # new word, and stays (the worker applies the same bound, erased_before).
        return self._erase_each(erasure, webhook_id, last_key, erased,
                                ("MSG#", "MSG#" + id_floor("msg", erasure.requested_ms + 1)),
                                lambda key: {"Delete": {"TableName": self._table, "Key": key}})

    def _erase_each(self, erasure, webhook_id, last_key, erased, key_range, write, before=lambda item: True,
                    projection="pk, sk, dataJson"):
        """Page through the webhook's items whose sort keys are in ``key_range`` (from ``last_key``
        on), and apply ``write`` to each about the person that ``before`` keeps, a transaction at a
        time with the erasure's checkpoint; return the erasure's count after them."""
        needle = '"personID":' + json.dumps(erasure.person_id, ensure_ascii=False)
        query = {"TableName": self._table, "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
                 "FilterExpression": "contains(dataJson, :needle)", "ProjectionExpression": projection,
                 "ExpressionAttributeValues": {":pk": {"S": f"WH#{webhook_id}"}, ":low": {"S": key_range[0]},
                                               ":high": {"S": key_range[1]}, ":needle": {"S": needle}},
                 "ConsistentRead": True}
        if last_key:
            query["ExclusiveStartKey"] = {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": last_key}}
        while True:
            try:
                answer = self._db.query(**query)
            except ClientError as exc:
                reraise_unavailable(exc)
            found = [deserialize(item) for item in answer["Items"]]
            # The filter finds the text; the person is the one named by data's own personID.
            keys = [{"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}} for item in found
                    if before(item) and json.loads(item["dataJson"]).get("personID") == erasure.person_id]
            for start in range(0, len(keys), _TRANSACTION_ITEMS - 1):
                chunk = keys[start:start + _TRANSACTION_ITEMS - 1]
                erased += len(chunk)
                self._transact([write(key) for key in chunk]
                               + [self._erasures.checkpoint(erasure.erasure_id, chunk[-1]["sk"]["S"], erased)],
                               erased)
            if "LastEvaluatedKey" not in answer:
                return erased
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _transact(self, items, erased):
        """One step, in one transaction. Botocore's retries of it keep its ClientRequestToken
        (written here so that it shows), with which DynamoDB changes nothing for a try that went
        through already; and every write of a step is idempotent anyway (deletes, and the count
        set, not added), so a step run again from an older checkpoint counts nothing twice."""
        try:
            self._db.transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
        except ClientError as exc:
            reraise_unavailable(exc)
        self._after_commit(erased)

    def _mark(self, erasure):
        """Mark every webhook of the erasure's owners; then wait ``settle`` before erasing."""
        hooks = [hook.webhook_id for level, owner_id in erasure.owners for hook in self._webhooks.list(level, owner_id)]
        for webhook_id in hooks:
            self._mark_one(webhook_id, erasure)
        settle_until = int(self._clock() * 1000) + self._settle_ms
        self._erasures.update(erasure.erasure_id, phase="erase", remaining=hooks, settleUntil=settle_until)
        self._erasures.queue(erasure.erasure_id, self._settle_ms / 1000 + 1)

    def _mark_one(self, webhook_id, erasure):
        item = get_item(self._db, self._table, webhook_key(webhook_id))
        if item is None:
            return
        names = {"#mark": MARK_PREFIX + erasure.person_id}
        old = [name for name, value in item.items() if name.startswith(MARK_PREFIX) and name != names["#mark"]
               and int(value) < erasure.requested_ms - MARK_KEEP_MS]
        expression = "SET #mark = :at"
        if old:
            names.update({f"#old{i}": name for i, name in enumerate(old)})
            expression += " REMOVE " + ", ".join(f"#old{i}" for i in range(len(old)))
        try:
            self._db.update_item(TableName=self._table, Key=webhook_key(webhook_id), UpdateExpression=expression,
                                 ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames=names,
                                 ExpressionAttributeValues={":at": {"N": str(erasure.requested_ms)}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                reraise_unavailable(exc)  # else removed meanwhile: nothing of it is sent

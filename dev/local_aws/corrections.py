"""Corrections of moto where it answers differently from AWS in something the service's promises
rest on, each small, named, and documented against AWS's own behaviour: SQS FIFO's order within
a message group, its receipt handles' expiry and its five minutes of deduplication, and
DynamoDB's idempotent transactions (ClientRequestToken).

Unlike the speed-ups in patches.py, these change what moto answers: they make it answer as AWS
does. They are applied wherever moto stands in for AWS: in the local run's moto server
(dev/local_aws/server.py) and in the tests' in-process moto (tests/conftest.py). Like the
speed-ups, each replaces a piece of moto's private code, so they hold only for the moto they were
written for (``WRITTEN_FOR``); with any other moto they are skipped with one warning, and
``LOCAL_MOTO_CORRECTIONS=off`` turns them off (the crash tests then fail, as they should).

The upstream report for each is in docs/emulator.md.
"""

import hashlib
import json
import threading
import time

from dev.local_aws.patches import WRITTEN_FOR, in_force

SWITCH = "LOCAL_MOTO_CORRECTIONS"  # "off" turns them off
_applied = set()
_pass = threading.local()  # the moment a receive's pass over the queue judges visibility at


def _release_timed_out(queue):
    """Drop from the queue's in-flight set every message whose visibility timeout has ended, so
    that its group counts as blocked only while one of its messages is really in flight."""
    for message in [message for message in queue.pending_messages if message.visible]:
        queue.pending_messages.discard(message)


def fifo_receive_in_group_order():
    """SQS FIFO hands a message group's messages out in order, also when several in-flight
    messages of the group become visible together (a consumer that died holding them): AWS
    answers the group's earliest message first. Moto 5.2 builds its set of blocked groups before
    it walks the queue and lets a timed-out message leave that set only when the walk reaches
    it, so the group's earlier timed-out messages are skipped and a later one is handed out
    (m1..m3 received and not deleted, m4..m7 sent: moto answers m3, m4... where AWS answers
    m1, m2, m3...). The same happens when the group's messages time out one after another
    during the walk itself (received together, their timeouts end a fraction of a millisecond
    apart): m1 is reached while m2 is still in flight and skipped, then m2 and m3 time out, and
    m3 is taken. The correction judges each pass over the queue at one moment, read once before
    it, and releases the messages timed out by then before the blocked groups are computed; a
    long poll makes its passes here, so that messages timing out while it waits are released
    too."""
    from moto.sqs import models
    from moto.sqs.models import Message, SQSBackend

    visible = Message.visible.fget

    def visible_at_the_pass(message):
        moment = getattr(_pass, "ms", None)
        return visible(message) if moment is None else moment > message.visible_at

    Message.visible = property(visible_at_the_pass)
    receive = SQSBackend.receive_message

    def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout,
                        message_attribute_names=None):
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            return receive(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
        ends = time.time() + (wait_seconds_timeout or 0)
        while True:
            _pass.ms = models.unix_time_millis()
            try:
                _release_timed_out(queue)
                got = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            finally:
                _pass.ms = None
            left = ends - time.time()
            if got or left <= 0:
                return got
            queue.wait_for_messages(min(1.0, left))

    receive_message.corrected = True
    receive_message.plain = receive  # moto's own, for the test that shows what it answers
    SQSBackend.receive_message = receive_message


def fifo_receipt_handles_expire():
    """On a FIFO queue a receipt handle holds its message only while that receive's visibility
    timeout lasts: once the message is visible again or received anew, AWS refuses the old handle
    (``InvalidParameterValue``: "The receipt handle has expired") for DeleteMessage and
    ChangeMessageVisibility. Moto 5.2 takes any handle the message ever had, so a consumer that
    overran its visibility timeout can still make the message visible (taking it from under the
    consumer that received it since, and unblocking its group: the group's next message goes to a
    third consumer ahead of it) or delete it. The correction refuses an expired handle, as AWS
    does; the batch calls report it for the entry."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Queue, SQSBackend

    class ExpiredReceiptHandle(ReceiptHandleIsInvalid):  # the batch calls report this class per entry
        def __init__(self, receipt_handle):
            super().__init__()
            self.code = "InvalidParameterValue"
            self.message = (f"Value {receipt_handle} for parameter ReceiptHandle is invalid. "
                            "Reason: The receipt handle has expired.")

    def refuse_if_expired(queue, receipt_handle):
        if not queue.fifo_queue:
            return
        for message in queue._messages:
            if message.had_receipt_handle(receipt_handle):
                if message.receipt_handle != receipt_handle or message.visible:
                    raise ExpiredReceiptHandle(receipt_handle)
                return

    change = SQSBackend.change_message_visibility

    def change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
        refuse_if_expired(self.get_queue(queue_name), receipt_handle)
        return change(self, queue_name, receipt_handle, visibility_timeout)

    delete = Queue.delete_message

    def delete_message(self, receipt_handle):
        refuse_if_expired(self, receipt_handle)
        return delete(self, receipt_handle)

    SQSBackend.change_message_visibility = change_message_visibility
    Queue.delete_message = delete_message


FIFO_DEDUPLICATION_MS = 5 * 60 * 1000  # SQS's deduplication interval


def fifo_deduplication_for_five_minutes():
    """A FIFO queue drops a message whose deduplication ID it took in the last five minutes,
    whatever became of the first one: "If a message with a particular message deduplication ID is
    sent successfully, any messages sent with the same message deduplication ID are accepted
    successfully but aren't delivered during the 5-minute deduplication interval" (SQS's
    developer guide, "Using the message deduplication ID"). Moto 5.2 compares a new message
    only with the messages still in the queue, so once the first copy was received and deleted
    (delivered), a retried send of it is queued again; and it compares queue-wide even where
    ``DeduplicationScope`` is ``messageGroup``. The correction remembers every
    deduplication ID a FIFO queue took (per message group with ``DeduplicationScope``
    ``messageGroup``) for five minutes from its first send."""
    from moto.sqs.models import Queue

    add = Queue.add_message

    def add_message(self, message):
        if self.fifo_queue and message.deduplication_id:
            scope = getattr(self, "deduplication_scope", "queue")
            key = (message.group_id, message.deduplication_id) if scope == "messageGroup" else message.deduplication_id
            taken = self.__dict__.setdefault("_deduplication_ids_taken", {})
            sent = int(message.sent_timestamp)
            first = taken.get(key)
            if first is not None and sent - first < FIFO_DEDUPLICATION_MS:
                return  # accepted, and not delivered
            if len(taken) > 1000 and len(taken) % 1000 == 0:  # forget what is past its interval, now and then
                for old in [k for k, at in taken.items() if sent - at >= FIFO_DEDUPLICATION_MS]:
                    del taken[old]
            taken[key] = sent
            if not self.lambda_event_source_mappings:  # moto's own check (the queued messages only, queue-wide) is not asked
                with self._messages_lock:
                    self._messages.append(message)
                    self._messages_lock.notify_all()
                return None
        return add(self, message)

    add_message.plain = add
    Queue.add_message = add_message


IDEMPOTENCY_SECONDS = 600  # how long DynamoDB honours a TransactWriteItems' ClientRequestToken


def transactions_honour_client_request_tokens():
    """TransactWriteItems with a ``ClientRequestToken`` is idempotent for 10 minutes: "If the
    original TransactWriteItems call was successful, the subsequent TransactWriteItems calls with
    the same client token return successfully without making any changes"; the same token with
    other parameters is ``IdempotentParameterMismatchException`` (DynamoDB's API reference,
    TransactWriteItems). Botocore gives every TransactWriteItems a token of its own, kept across
    its retries, so on AWS a retry of a transaction whose answer was lost changes nothing and
    answers success. Moto 5.2 ignores the token and runs the transaction again: its conditions
    then fail against what the first try wrote (a webhook.create answers 409 for the webhook it
    just made), or its unconditional writes apply twice (an ADD counts twice). The correction
    remembers each successful transaction's token and parameters for 10 minutes."""
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.responses import DynamoHandler

    class IdempotentParameterMismatch(DynamodbException):
        def __init__(self):
            super().__init__("com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                             "The request uses the same client token as a previous, but non-identical request.")

    run = DynamoHandler.transact_write_items

    def transact_write_items(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return run(self)
        backend = self.dynamodb_backend
        done = backend.__dict__.setdefault("_client_request_tokens", {})  # token: (parameters' hash, when, answer)
        now = time.time()
        for old in [t for t, (_, at, _) in done.items() if now - at >= IDEMPOTENCY_SECONDS]:
            del done[old]
        parameters = hashlib.sha256(json.dumps({k: v for k, v in self.body.items() if k != "ClientRequestToken"},
                                               sort_keys=True).encode()).hexdigest()
        if token in done:
            if done[token][0] != parameters:
                raise IdempotentParameterMismatch()
            return done[token][2]  # succeeded before: success again, and nothing changes
        answer = run(self)  # a cancelled transaction raises: its token is not kept
        done[token] = (parameters, now, answer)
        return answer

    transact_write_items.plain = run
    DynamoHandler.transact_write_items = transact_write_items


CORRECTIONS = (fifo_receive_in_group_order, fifo_receipt_handles_expire, fifo_deduplication_for_five_minutes,
               transactions_honour_client_request_tokens)


def apply(environ=None, moto_version=None, warn=None):
    """Apply every correction once per process, unless ``LOCAL_MOTO_CORRECTIONS=off`` or the moto
    is not ``WRITTEN_FOR`` (:func:`dev.local_aws.patches.in_force`). Returns the names of the
    corrections in force."""
    if not in_force(SWITCH, ("the moto corrections", "check docs/emulator.md's reports against this moto"),
                    environ, moto_version, warn):
        return []
    for correction in CORRECTIONS:
        if correction.__name__ not in _applied:
            correction()
            _applied.add(correction.__name__)
    return [correction.__name__ for correction in CORRECTIONS]

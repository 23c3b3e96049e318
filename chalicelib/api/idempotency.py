"""Idempotent ``webhook.dispatch`` (contract, section 10), with Powertools' Idempotency utility.

The first call with an ``Idempotency-Key`` header runs and its ``202`` body is kept for 24
hours in the table (``IDEM`` / ``<hash of the key>``, removed by the table's TTL). The same key
with the same parameters answers that body again and queues nothing; with other parameters it
is a ``409``. A call that fails (a 4xx, or AWS unavailable) keeps nothing, so it can be retried.

Powertools keeps every record under one partition key when the table has a sort key, as this
one does; DynamoDB splits a partition that is busy by its sort keys, which are hashes here.

A dispatch that fails halfway (SQS took some of its messages, then refused) keeps no record, and
its retry queues again: under the same messageID (:meth:`DispatchIdempotency.message_id`), so the
FIFO queue drops the copies of what the first try queued (its deduplication ID is the messageID
and the webhookID) and, after SQS's five minutes, the delivery log's record of the message does.

A retry is never taken for another request (contract, section 10: 409 is for a key reused with
other parameters only):

- **Botocore's own retry.** When the answer to Powertools' in-progress ``PutItem`` is lost,
  botocore sends it again, and it fails its condition against the record its first try wrote.
  Every in-progress record carries a token of the request that wrote it (``requestToken``), and
  a failed condition on a record with this request's token is this request's own write.
- **The platform's retry** while the first call truly runs answers ``503`` with
  ``Retry-After`` (it is not an error of the caller's: try again), then the first call's answer.
- **A first call that died** (or whose record could not be cleared, AWS failing) holds its key
  ``IN_PROGRESS_MILLIS`` at most; then a retry runs it again, queueing under the same messageID,
  which the FIFO queue drops. So the in-progress window only spares that work, and is short.
- **The dispatch done, its answer not kept** (the success record could not be written): the
  call answers its ``202`` all the same; a retry later runs it again, under the same messageID.
"""

import contextvars
import hashlib
import json
import uuid

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import Conflict, InvalidParameter, Unavailable
from chalicelib.ids import deterministic_id

KEEP_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255
# A dispatch that dies midway (or whose record could not be cleared) leaves its key "in progress":
# it is free again after this long. A dispatch runs well within it (a few AWS calls, each retried by
# botocore for a few seconds at most); one that outruns it is run again by a retry, harmlessly.
IN_PROGRESS_MILLIS = 10_000
RETRY_AFTER_SECONDS = 1  # while a dispatch with the key truly runs
TOKEN_ATTRIBUTE = "requestToken"


class _RequestTime:
    """What Powertools reads of a Lambda context: how long the call may still run."""

    @staticmethod
    def get_remaining_time_in_millis():
        return IN_PROGRESS_MILLIS


def check_key(value):
    """The ``Idempotency-Key`` header's value, if it is 1 to 255 printable ASCII characters."""
    if not (isinstance(value, str) and 0 < len(value) <= MAX_KEY_LENGTH and value.isascii() and value.isprintable()):
        raise InvalidParameter(f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                               field="Idempotency-Key", code="invalid_idempotency_key")
    return value


class _OwnRecords:
    """The DynamoDB client as Powertools is handed it: each record it puts carries the token of
    the request that puts it, and a put whose condition fails on a record with that same token
    (botocore's retry of a put whose answer was lost) succeeds, as the first try did."""

    def __init__(self, client, request_token):
        self._client = client
        self._request_token = request_token  # a ContextVar: one token per call

    def put_item(self, **request):
        token = self._request_token.get()
        request["Item"] = {**request["Item"], TOKEN_ATTRIBUTE: {"S": token}}
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            return self._client.put_item(**request)
        except ClientError as exc:
            held = exc.response.get("Item", {}).get(TOKEN_ATTRIBUTE, {}).get("S")
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException" and held == token:
                return {}
            raise

    def __getattr__(self, name):
        return getattr(self._client, name)


class DispatchIdempotency:
    """Runs a dispatch at most once per key; handed its DynamoDB client and table."""

    def __init__(self, client, table_name):
        # Powertools' idempotency is imported when a call first carries a key (services makes
        # this object then): the API's cold start does not pay for it.
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

        self._client = client
        self._table = table_name
        self._request_token = contextvars.ContextVar("request_token")
        self._store = DynamoDBPersistenceLayer(
            table_name=table_name, key_attr="pk", sort_key_attr="sk", static_pk_value="IDEM",
            expiry_attr="expiresAt", boto3_client=_OwnRecords(client, self._request_token),
        )
        self._config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="request",
                                         raise_on_no_idempotency_key=True, expires_after_seconds=KEEP_SECONDS)
        self._config.register_lambda_context(_RequestTime())

    def run(self, key, request, dispatch):
        """``dispatch()`` once for ``key``: its answer, or the first call's answer again.

        ``request`` is the call's parameters as given (JSON-able): the same key with another
        ``request`` raises :class:`Conflict`.
        """
        from aws_lambda_powertools.utilities.idempotency import idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        answered = []

        @idempotent_function(data_keyword_argument="call", config=self._config, persistence_store=self._store)
        def dispatch_once(call):
            answered.append(dispatch())
            return answered[-1]

        self._request_token.set(uuid.uuid4().hex)
        try:
            return dispatch_once(call={"key": key, "request": request})
        except IdempotencyValidationError as exc:
            raise Conflict("this Idempotency-Key was used with other parameters in the last 24 hours",
                           field="Idempotency-Key", code="idempotency_key_reused") from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Unavailable("a dispatch with this Idempotency-Key is still running; try again in a moment",
                              field="Idempotency-Key", code="idempotency_key_in_progress",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from exc
        except IdempotencyPersistenceLayerError as exc:
            if answered:  # dispatched; only its answer could not be kept
                return answered[-1]
            raise Unavailable("the service is busy; try again in a moment") from exc

    def message_id(self, key, request, now):
        """The messageID of the dispatch of ``request`` under ``key``: the same for every retry.

        Its random part is derived from the key and the parameters; its time part is the first
        try's, kept beside the idempotency records (``IDEM`` / ``MSG#<hash>``, for as long as a
        key is kept), so that the messageID still sorts by when the message was first made.
        """
        seed = key + "\n" + json.dumps(request, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()
        candidate = deterministic_id("msg", seed, int(now * 1000))
        try:
            self._client.put_item(
                TableName=self._table,
                Item={"pk": {"S": "IDEM"}, "sk": {"S": f"MSG#{digest}"}, "messageID": {"S": candidate},
                      "expiresAt": {"N": str(int(now) + KEEP_SECONDS)}},
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return candidate
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException" and "Item" in exc.response:
                return exc.response["Item"]["messageID"]["S"]
            raise Unavailable("the service is busy; try again in a moment") from exc
        except BotoCoreError as exc:
            raise Unavailable("the service is busy; try again in a moment") from exc

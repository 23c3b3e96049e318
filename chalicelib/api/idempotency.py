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
"""

import hashlib
import json

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import Conflict, InvalidParameter, Unavailable
from chalicelib.ids import deterministic_id

KEEP_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255
# A dispatch that dies midway leaves its key "in progress": it is free again after this long
# (the API function's timeout is 29 seconds).
IN_PROGRESS_MILLIS = 30_000


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


class DispatchIdempotency:
    """Runs a dispatch at most once per key; handed its DynamoDB client and table."""

    def __init__(self, client, table_name):
        # Powertools' idempotency is imported when a call first carries a key (services makes
        # this object then): the API's cold start does not pay for it.
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

        self._client = client
        self._table = table_name
        self._store = DynamoDBPersistenceLayer(
            table_name=table_name, key_attr="pk", sort_key_attr="sk", static_pk_value="IDEM",
            expiry_attr="expiresAt", boto3_client=client,
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

        @idempotent_function(data_keyword_argument="call", config=self._config, persistence_store=self._store)
        def dispatch_once(call):
            return dispatch()

        try:
            return dispatch_once(call={"key": key, "request": request})
        except IdempotencyValidationError as exc:
            raise Conflict("this Idempotency-Key was used with other parameters in the last 24 hours",
                           field="Idempotency-Key", code="idempotency_key_reused") from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict("a dispatch with this Idempotency-Key is still running; try again in a moment",
                           field="Idempotency-Key", code="idempotency_key_in_progress") from exc
        except IdempotencyPersistenceLayerError as exc:
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

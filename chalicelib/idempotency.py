"""Idempotent ``webhook.dispatch`` (contract, section 10), with Powertools' Idempotency utility.

The first call with an ``Idempotency-Key`` header runs and its ``202`` body is kept for 24
hours in the table (``IDEM`` / ``<hash of the key>``, removed by the table's TTL). The same key
with the same parameters answers that body again and queues nothing; with other parameters it
is a ``409``. A call that fails (a 4xx, or AWS unavailable) keeps nothing, so it can be retried.

Powertools keeps every record under one partition key when the table has a sort key, as this
one does; DynamoDB splits a partition that is busy by its sort keys, which are hashes here.
"""

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)

from chalicelib.errors import Conflict, InvalidParameter, Unavailable

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

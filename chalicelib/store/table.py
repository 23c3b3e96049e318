"""The one DynamoDB table (pk, sk): its item kinds, their keys, and the helpers every store uses.

Items (``<owner>`` is ``EV#<eventID>`` for an event-level webhook, ``CO#<companyID>`` for a
company-level one):

| pk | sk | what |
| --- | --- | --- |
| ``WH#<webhookID>`` | ``WH`` | the webhook, whole: its object, its secrets (or private keys), its own headers' values, its template, its OAuth client's secret, its erasure marks and status (``removed`` is kept, so queued deliveries see it is gone) |
| ``<owner>`` | ``L#<webhookID>`` | the owner's listing of a live webhook: what a fan-out needs of it (its types, status and filter), so that ``webhook.find`` and the fan-out read an owner's webhooks with one Query (chalicelib.store.webhook_record.Listing) |
| ``<owner>`` | ``<type>#<sha256(normal url)>`` | a listing as the first rounds wrote it (one type, the whole object): still read, and counted for uniqueness, until the webhook is next updated |
| ``URL#<owner>#<sha256(normal url)>`` | ``URL`` | which of the owner's push webhooks for that url takes which type (``T#<type>`` or ``T#*``: its webhookID) and how many types are taken: makes level + url + type unique |
| ``CAP#<owner>`` | ``CAP`` | how many live webhooks the owner has, to hold the cap under racing creations |
| ``WH#<webhookID>`` | ``MSG#<messageID>`` | one message to one webhook and its attempts (the delivery log), with a TTL |
| ``WH#<webhookID>`` | ``SEQ#<sha256(subject)>`` | the last ``sequence`` given to the webhook's messages about one subject (a pull webhook's: and its latest messageIDs) |
| ``WH#<webhookID>`` | ``POS#<position>`` | a pull webhook's message at its position, 1, 2, 3... in dispatch order: its pull log and its delivery log (``chalicelib.pull.log``), with a TTL |
| ``WH#<webhookID>`` | ``PULL`` | how far polls have returned a pull webhook's messages (``returned``), and a first return in progress (``pendingFrom``, ``pendingTo``) |
| ``WH#<webhookID>`` | ``POLLED#<position>`` | a first return of a pull webhook's messages from that position: up to where, when, and each one's sequence, with a TTL |
| ``WH#<webhookID>`` | ``LATE#<messageID>`` | the position of a message put long after it was dispatched (a retried dispatch), to find it by its ID, with a TTL |
| ``WH#<webhookID>`` | ``TOKEN`` | the access token of a webhook with ``auth``, its lease and last failure (``chalicelib.delivery.token_item``), with a TTL |
| ``HOLD#<owner>`` | ``HOLD`` | an organizer's share: its lease slots (``b0``... the expiry, ``w0``... the batch's token) and its ``tail`` of turns (``chalicelib.delivery.admission``), with a TTL |
| ``DISPATCH#<messageID>`` | ``DISPATCH`` | a platform event's type, date and, per level, the webhookIDs it was queued for, push and pull (``chalicelib.store.dispatches``, for webhook.trace), with a TTL |
| ``WH#<webhookID>`` | ``NOTICE`` | the once-a-minute turn of ``messageFailed`` about the webhook and the count given up since (``chalicelib.dispatch.notices``), with a TTL |
| ``ERASURE#<erasureID>`` | ``ERASURE`` | an erasure's person, scope, phase, checkpoint and count (``chalicelib.store.erasure``), with a TTL |
| ``TOK#<sha256(token)>`` | ``TOK`` | a token's grant (events and companies, or a device's pull webhooks); the clear token is never stored (a revoked one: a bare mark for a day, with a TTL) |
| ``RATE#<key>`` | ``RATE`` | a rate limit's state (``chalicelib.api.rate_limits``), with a TTL |
| ``RATE#WH#<webhookID>`` | ``SEC#<Unix second>`` | the attempts a rate-limited webhook started in that second, and their tokens (``chalicelib.delivery.admission``), with a TTL |
| ``IDEM`` | ``<function>#<hash of the key>`` | an idempotency record of ``webhook.dispatch`` (Powertools), with a TTL |
| ``IDEM`` | ``MSG#<sha256(key, parameters)>`` | a keyed dispatch's messageID, its first try's, for its retries; with a TTL |
"""

import hashlib

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.errors import Unavailable

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}
OWNER_PREFIX = {"event": "EV", "company": "CO"}


def serialize(item):
    """``item`` in DynamoDB's attribute-value form, leaving out its None values."""
    return {key: _attribute_value(value) for key, value in item.items() if value is not None}


def _attribute_value(value):
    # The types the stores write, done here (boto3's TypeSerializer takes five times as long,
    # which the delivery worker pays for every record); anything else is left to it.
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int:
        return {"N": str(value)}
    if kind is bool:
        return {"BOOL": value}
    if kind is dict:
        return {"M": {key: _attribute_value(item) for key, item in value.items()}}
    if kind is list:
        return {"L": [_attribute_value(item) for item in value]}
    if value is None:
        return {"NULL": True}
    return _serializer.serialize(value)


def deserialize(item):
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def error_code(exc):
    return exc.response.get("Error", {}).get("Code", "")


def is_transient(exc):
    """Whether a ``ClientError`` is DynamoDB or SQS being unavailable for a moment (throttled, or
    answering 5xx), so the same request may succeed when tried again."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return error_code(exc) in _THROTTLED or status >= 500


def reraise_unavailable(exc):
    """Turn throttling and AWS outages into a retryable 503; anything else is a bug, re-raised."""
    if is_transient(exc):
        raise Unavailable("the service is busy; try again in a moment") from exc
    raise exc


def cancellation_reasons(exc):
    """The reason code of each item of a cancelled transaction, in order ('None' where it passed)."""
    return [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]


def get_item(client, table, key):
    """The item at ``key``, deserialized, or None; read consistently."""
    try:
        answer = client.get_item(TableName=table, Key=key, ConsistentRead=True)
    except ClientError as exc:
        reraise_unavailable(exc)
    return deserialize(answer["Item"]) if "Item" in answer else None


def batch_get(client, table, keys):
    """Every item at ``keys`` that exists, by BatchGetItem, 100 keys a request, with retries of
    what DynamoDB left unprocessed."""
    found = []
    for start in range(0, len(keys), 100):
        request = {table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        for _ in range(5):
            try:
                answer = client.batch_get_item(RequestItems=request)
            except ClientError as exc:
                reraise_unavailable(exc)
            found.extend(deserialize(item) for item in answer["Responses"].get(table, []))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        if request:
            raise Unavailable("the table is unavailable; try again in a moment")
    return found


def batch_put(client, table, items):
    """Put items with BatchWriteItem, 25 a request, with retries of what DynamoDB left
    unprocessed; for a key given twice the last one wins."""
    latest = {}
    for item in items:
        latest[(item["pk"]["S"], item["sk"]["S"])] = item
    puts = [{"PutRequest": {"Item": item}} for item in latest.values()]
    for start in range(0, len(puts), 25):
        request = {table: puts[start : start + 25]}
        for _ in range(5):
            try:
                answer = client.batch_write_item(RequestItems=request)
            except ClientError as exc:
                reraise_unavailable(exc)
            request = answer.get("UnprocessedItems") or {}
            if not request:
                break
        if request:
            raise Unavailable("the table is unavailable; try again in a moment")


def digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def owner_pk(level, owner_id):
    return f"{OWNER_PREFIX[level]}#{owner_id}"


def webhook_key(webhook_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": "WH"}}


LISTING_PREFIX = "L#"


def listing_key(level, owner_id, webhook_id):
    """The owner's listing of one webhook (chalicelib.store.webhook_record.Listing)."""
    return {"pk": {"S": owner_pk(level, owner_id)}, "sk": {"S": f"{LISTING_PREFIX}{webhook_id}"}}


def legacy_listing_key(level, owner_id, type, normal_url):
    """Where the first rounds listed a webhook (one type each): by type and url, the whole object.
    Such items are still read, and taken into account for uniqueness, until the webhook is updated."""
    return {"pk": {"S": owner_pk(level, owner_id)}, "sk": {"S": f"{type}#{digest(normal_url)}"}}


def url_claim_key(level, owner_id, normal_url):
    """The types that the owner's push webhooks for one url (in its normal form) take."""
    return {"pk": {"S": f"URL#{owner_pk(level, owner_id)}#{digest(normal_url)}"}, "sk": {"S": "URL"}}


def cap_key(level, owner_id):
    return {"pk": {"S": "CAP#" + owner_pk(level, owner_id)}, "sk": {"S": "CAP"}}


def message_key(webhook_id, message_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": f"MSG#{message_id}"}}


def subject_hash(subject):
    return digest(subject)[:40]


def sequence_key(webhook_id, subject):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": f"SEQ#{subject_hash(subject)}"}}


def token_key(token_hash):
    return {"pk": {"S": f"TOK#{token_hash}"}, "sk": {"S": "TOK"}}


POSITION_PREFIX = "POS#"


def position_sk(position):
    return f"{POSITION_PREFIX}{position:012d}"


def entry_key(webhook_id, position):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": position_sk(position)}}


def pull_state_key(webhook_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": "PULL"}}


def first_return_key(webhook_id, start):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": f"POLLED#{start:012d}"}}


def late_key(webhook_id, message_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": f"LATE#{message_id}"}}

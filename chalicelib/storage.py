"""DynamoDB storage: webhooks, tokens and the delivery log, in one table (pk, sk).

Items:
- ``WH#<webhookID>`` / ``WH``: the webhook, with its secret and status (``removed`` is kept so
  that queued deliveries can see it is gone).
- ``EV#<eventID>`` / ``<type>#<sha256(url)>``: the event's listing of a live webhook. Its key
  makes eventID + type + url unique, and lets ``webhook.find`` and the fan-out read an event's
  webhooks (of one type) with one Query.
- ``TOK#<sha256(token)>`` / ``TOK``: a token's grant; the clear token is never stored.
- ``WH#<webhookID>`` / ``MSG#<messageID>``: one message to one webhook and its attempts.

Every class here is handed its DynamoDB client and table name, so the same code runs on AWS,
on the local moto server and in tests.
"""

import hashlib
from dataclasses import dataclass

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, InvalidParameter, NotFound, Unavailable

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


def serialize(item):
    return {key: _serializer.serialize(value) for key, value in item.items() if value is not None}


def deserialize(item):
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


def error_code(exc):
    return exc.response.get("Error", {}).get("Code", "")


def reraise_unavailable(exc):
    """Turn throttling and AWS outages into a retryable 503; anything else is a bug, re-raised."""
    if error_code(exc) in _THROTTLED:
        raise Unavailable("the service is busy; try again in a moment") from exc
    raise exc


def webhook_key(webhook_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": "WH"}}


def listing_key(event_id, type, url):
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
    return {"pk": {"S": f"EV#{event_id}"}, "sk": {"S": f"{type}#{digest}"}}


def message_key(webhook_id, message_id):
    return {"pk": {"S": f"WH#{webhook_id}"}, "sk": {"S": f"MSG#{message_id}"}}


@dataclass(frozen=True)
class Webhook:
    """A registered endpoint. ``secrets`` are its signing secrets, newest first; the one before
    the newest still signs until ``previous_secret_until`` (Unix seconds), after a rotation."""

    webhook_id: str
    event_id: str
    type: str
    url: str
    date: str
    status: str
    secrets: tuple
    previous_secret_until: int = 0

    def signing_secrets(self, now):
        """The secrets a delivery made at ``now`` is signed with, newest first."""
        if len(self.secrets) > 1 and now < self.previous_secret_until:
            return self.secrets[:2]
        return self.secrets[:1]

    @classmethod
    def from_item(cls, item):
        return cls(
            webhook_id=item["webhookID"],
            event_id=item["eventID"],
            type=item["type"],
            url=item["url"],
            date=item["date"],
            status=item["status"],
            secrets=tuple(item.get("secrets", ())),
            previous_secret_until=int(item.get("previousSecretUntil", 0)),
        )

    def public(self):
        """The webhook object of the contract (section 2): never the secret."""
        return {
            "webhookID": self.webhook_id,
            "eventID": self.event_id,
            "type": self.type,
            "url": self.url,
            "date": self.date,
            "status": self.status,
        }


class WebhookStore:
    """Webhooks and the per-event listing that keeps them unique and findable."""

    def __init__(self, client, table_name, max_per_event=200):
        self._db = client
        self._table = table_name
        self._max_per_event = max_per_event

    def create(self, webhook):
        """Store a new webhook; raise :class:`Conflict` naming the existing one on a duplicate."""
        listing = listing_key(webhook.event_id, webhook.type, webhook.url)
        if self._count(webhook.event_id) >= self._max_per_event:
            raise InvalidParameter(
                f"an event may have at most {self._max_per_event} webhooks; remove one first",
                field="eventID",
                code="too_many_webhooks",
            )
        item = {
            "webhookID": webhook.webhook_id,
            "eventID": webhook.event_id,
            "type": webhook.type,
            "url": webhook.url,
            "date": webhook.date,
            "status": webhook.status,
        }
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {**webhook_key(webhook.webhook_id), **serialize({**item, "secrets": list(webhook.secrets)})},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {**listing, **serialize(item)},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                reraise_unavailable(exc)
            existing = self._get_listing(listing)
            if existing is None:  # cancelled for another reason (a conflicting transaction): retryable
                raise Unavailable("the service is busy; try again in a moment") from exc
            raise Conflict(
                f"this event already has a {webhook.type} webhook for that url: {existing['webhookID']}",
                field="url",
            ) from exc
        return webhook

    def get(self, webhook_id):
        """The webhook, or None when it does not exist or was removed."""
        item = self.get_item(webhook_id)
        if item is None or item["status"] == "removed":
            return None
        return Webhook.from_item(item)

    def get_item(self, webhook_id):
        try:
            answer = self._db.get_item(TableName=self._table, Key=webhook_key(webhook_id), ConsistentRead=True)
        except ClientError as exc:
            reraise_unavailable(exc)
        return deserialize(answer["Item"]) if "Item" in answer else None

    def list(self, event_id, type=None):
        """The event's live webhooks (of one type, if given) in creation order: one Query."""
        condition = "pk = :pk"
        values = {":pk": {"S": f"EV#{event_id}"}}
        if type is not None:
            condition += " AND begins_with(sk, :type)"
            values[":type"] = {"S": f"{type}#"}
        items = []
        query = {"TableName": self._table, "KeyConditionExpression": condition, "ExpressionAttributeValues": values}
        try:
            while True:  # one page holds every listing of an event (capped); the loop is a safeguard
                answer = self._db.query(**query)
                items.extend(deserialize(item) for item in answer["Items"])
                if "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except ClientError as exc:
            reraise_unavailable(exc)
        items.sort(key=lambda item: item["webhookID"])
        return [Webhook.from_item(item) for item in items]

    def remove(self, webhook):
        """Mark the webhook removed and drop its listing; raise :class:`NotFound` if already gone."""
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": webhook_key(webhook.webhook_id),
                            "UpdateExpression": "SET #s = :removed",
                            "ConditionExpression": "attribute_exists(pk) AND #s <> :removed",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {":removed": {"S": "removed"}},
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": listing_key(webhook.event_id, webhook.type, webhook.url),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise NotFound("no webhook with that webhookID", field="webhookID") from exc
            reraise_unavailable(exc)
        return webhook

    def rotate_secret(self, webhook, secret, previous_until):
        """Make ``secret`` the newest; the current one keeps signing until ``previous_until``.

        Conditional on the current secret, so two rotations at once cannot both win.
        """
        try:
            self._db.update_item(
                TableName=self._table,
                Key=webhook_key(webhook.webhook_id),
                UpdateExpression="SET secrets = :secrets, previousSecretUntil = :until",
                ConditionExpression="attribute_exists(pk) AND #s <> :removed AND secrets[0] = :current",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=serialize(
                    {
                        ":secrets": [secret, webhook.secrets[0]],
                        ":until": int(previous_until),
                        ":removed": "removed",
                        ":current": webhook.secrets[0],
                    }
                ),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict("the secret was rotated or the webhook removed meanwhile; try again",
                               field="webhookID") from exc
            reraise_unavailable(exc)

    def mark_failing(self, webhook_id, since_ms):
        """Note when the webhook's current run of failures began (kept if already noted)."""
        self._update_health(webhook_id, "SET failingSince = if_not_exists(failingSince, :since)", {":since": {"N": str(since_ms)}})

    def clear_failing(self, webhook_id):
        """The webhook's endpoint accepted a delivery: its run of failures is over."""
        self._update_health(webhook_id, "REMOVE failingSince", None)

    def _update_health(self, webhook_id, expression, values):
        request = {
            "TableName": self._table,
            "Key": webhook_key(webhook_id),
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._db.update_item(**request)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise NotFound("no webhook with that webhookID", field="webhookID") from exc
            reraise_unavailable(exc)

    def set_status(self, webhook, status):
        """Enable or disable a live webhook, in its item and its listing together.

        Enabling also ends the webhook's run of failures, so it gets a fresh chance.
        """
        names = {"#s": "status"}
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": webhook_key(webhook.webhook_id),
                            "UpdateExpression": "SET #s = :status" + (" REMOVE failingSince" if status == "enabled" else ""),
                            "ConditionExpression": "attribute_exists(pk) AND #s <> :removed",
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": {":status": {"S": status}, ":removed": {"S": "removed"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": listing_key(webhook.event_id, webhook.type, webhook.url),
                            "UpdateExpression": "SET #s = :status",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": {":status": {"S": status}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise NotFound("no webhook with that webhookID", field="webhookID") from exc
            reraise_unavailable(exc)

    def _count(self, event_id):
        try:
            answer = self._db.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"EV#{event_id}"}},
                Select="COUNT",
            )
        except ClientError as exc:
            reraise_unavailable(exc)
        return answer["Count"]

    def _get_listing(self, key):
        try:
            answer = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        except ClientError as exc:
            reraise_unavailable(exc)
        return deserialize(answer["Item"]) if "Item" in answer else None


@dataclass(frozen=True)
class Grant:
    """What a token may reach: every event (admin) or the listed ones."""

    admin: bool
    events: frozenset

    def can_access(self, event_id):
        return self.admin or event_id in self.events


class TokenStore:
    """Tokens, stored as their SHA-256: a stolen table does not yield usable tokens."""

    def __init__(self, client, table_name):
        self._db = client
        self._table = table_name

    @staticmethod
    def _key(token_hash):
        return {"pk": {"S": f"TOK#{token_hash}"}, "sk": {"S": "TOK"}}

    def put(self, token_hash, grant, date):
        item = {"admin": grant.admin, "events": sorted(grant.events), "date": date}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**self._key(token_hash), **serialize(item)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            reraise_unavailable(exc)

    def get(self, token_hash):
        try:
            answer = self._db.get_item(TableName=self._table, Key=self._key(token_hash), ConsistentRead=True)
        except ClientError as exc:
            reraise_unavailable(exc)
        if "Item" not in answer:
            return None
        item = deserialize(answer["Item"])
        return Grant(admin=bool(item.get("admin")), events=frozenset(item.get("events", ())))

    def delete(self, token_hash):
        """Delete a token; True if it existed."""
        try:
            answer = self._db.delete_item(TableName=self._table, Key=self._key(token_hash), ReturnValues="ALL_OLD")
        except ClientError as exc:
            reraise_unavailable(exc)
        return "Attributes" in answer

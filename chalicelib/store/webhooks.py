"""Webhooks in the table: the webhook item, its owner's listing, and the owner's count.

An owner is an event (event-level webhooks) or a company (company-level ones); everything here
works the same for both. Handed its DynamoDB client and table name, so the same code runs on
AWS, on the local moto server and in tests.
"""

import random
import time
import uuid
from dataclasses import replace

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import Conflict, InvalidParameter, NotFound, Unavailable
from chalicelib.store.table import (
    cancellation_reasons,
    cap_key,
    deserialize,
    error_code,
    get_item,
    is_transient,
    owner_pk,
    reraise_unavailable,
    serialize,
    webhook_key,
)
from chalicelib.store.webhook_record import Webhook

_CREATE_TRIES = 3  # a listing removed between a cancelled creation and the read that explains it
_TRANSACTION_TRIES = 6
# After a try whose outcome is unknown (AWS kept failing through botocore's own retries, or never
# answered), the same transaction is sent again, with the same token, after these pauses.
_UNKNOWN_OUTCOME_PAUSES = (1.0, 2.0)


class WebhookStore:
    """Webhooks and the per-owner listing that keeps them unique, counted and findable."""

    def __init__(self, client, table_name, max_per_owner=200, sleep=time.sleep):
        self._db = client
        self._table = table_name
        self._max = max_per_owner
        self._sleep = sleep

    def _transact(self, items):
        """Write ``items`` in one transaction; the reason codes of a cancellation (one per item),
        or None when it went through. A transaction that met another one writing the same
        items (every creation for an owner writes its counter) is tried again after a short,
        random pause, and gives :class:`Unavailable` only if that keeps happening.

        A retry is never taken for a conflict: the transaction carries a ClientRequestToken,
        with which DynamoDB answers a try that went through already with success, changing
        nothing, for 10 minutes. Botocore's retries keep it; so do the tries made here after
        one whose outcome is unknown (AWS failing, or no answer). A cancelled try changed
        nothing, and the next one gets a token of its own."""
        token, unknown = str(uuid.uuid4()), 0
        for attempt in range(_TRANSACTION_TRIES):
            try:
                self._db.transact_write_items(TransactItems=items, ClientRequestToken=token)
                return None
            except ClientError as exc:
                if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
                    if unknown == len(_UNKNOWN_OUTCOME_PAUSES) or not is_transient(exc):
                        reraise_unavailable(exc)
                    self._sleep(_UNKNOWN_OUTCOME_PAUSES[unknown])
                    unknown += 1
                    continue
                reasons = cancellation_reasons(exc)
                if "ConditionalCheckFailed" in reasons:
                    return reasons
            except BotoCoreError:
                if unknown == len(_UNKNOWN_OUTCOME_PAUSES):
                    raise
                self._sleep(_UNKNOWN_OUTCOME_PAUSES[unknown])
                unknown += 1
                continue
            token = str(uuid.uuid4())
            self._sleep(random.uniform(0.005, 0.02 * (attempt + 1)))
        raise Unavailable("the service is busy; try again in a moment")

    def create(self, webhook):
        """Store a new webhook in one transaction with its listing and its owner's count.

        Raise :class:`Conflict` naming the existing webhook on a duplicate, and
        :class:`InvalidParameter` when the owner has its most webhooks already: the count's
        condition holds however many creations race.
        """
        items = [
            {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": {**webhook_key(webhook.webhook_id), **webhook.item_attributes()}}},
            {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                     "Item": {**webhook.listing_key(), **webhook.listing_attributes()}}},
            {"Update": {"TableName": self._table, "Key": cap_key(webhook.level, webhook.owner_id),
                        "UpdateExpression": "ADD webhooks :one",
                        "ConditionExpression": "attribute_not_exists(webhooks) OR webhooks < :max",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": str(self._max)}}}},
        ]
        for _ in range(_CREATE_TRIES):
            reasons = self._transact(items)
            if reasons is None or reasons[0] == "ConditionalCheckFailed":
                return webhook  # made (its webhookID is new: only this call's own earlier try wrote it)
            if reasons[1] == "ConditionalCheckFailed":
                existing = get_item(self._db, self._table, webhook.listing_key())
                if existing is not None:
                    raise Conflict(
                        f"this {webhook.level} already has a webhook of type {webhook.type} for that url: "
                        f"{existing['webhookID']}", field="url")
                continue  # the listing that stopped it was removed meanwhile: try again
            raise InvalidParameter(
                f"{'an event' if webhook.level == 'event' else 'a company'} may have at most {self._max}"
                " webhooks; remove one first", field=webhook.owner_field, code="too_many_webhooks")
        raise Unavailable("the service is busy; try again in a moment")

    def update(self, current, updated):
        """Store ``updated``, the webhook ``current`` with a new url, headers, rate limit, filter,
        description, auth or template (webhook.update), in one transaction with its listing;
        everything else in the item (its
        secrets, status, health) is kept. A new url moves the listing, whose key makes it unique:
        :class:`Conflict` naming the webhook that has it already. :class:`Conflict` too when the
        webhook's url or status changed since ``current`` was read, :class:`NotFound` when it
        was removed.
        """
        names = {"#s": "status", "#u": "url", "#n": "normalUrl", "#h": "headers", "#r": "rateLimit", "#f": "filter",
                 "#a": "auth", "#t": "template", "#d": "description"}
        listed = updated.listing_attributes()
        values = {":url": listed["url"], ":normal": listed["normalUrl"], ":description": listed["description"]}

        def changes(attributes):
            sets, removes = ["#u = :url", "#n = :normal", "#h = :headers", "#d = :description"], []
            for name, attribute in (("#r", "rateLimit"), ("#f", "filter"), ("#a", "auth"), ("#t", "template")):
                if attribute in attributes:
                    sets.append(f"{name} = :{attribute}")
                else:
                    removes.append(name)
            return "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""), {
                **values, ":headers": attributes["headers"],
                **{f":{a}": attributes[a] for a in ("rateLimit", "filter", "auth", "template") if a in attributes}}

        # The item keeps the headers' values, the OAuth client's secret and the template (section
        # 21); the listing, none of them.
        item_update, item_values = changes(updated.item_attributes())
        listing_update, listing_values = changes(listed)
        items = [{"Update": {
            "TableName": self._table, "Key": webhook_key(current.webhook_id), "UpdateExpression": item_update,
            # On the secret too: a listing moved with the url carries the webhook's public key.
            "ConditionExpression": "attribute_exists(pk) AND #s = :was AND #u = :oldUrl AND secrets[0] = :secret",
            "ExpressionAttributeNames": _names_in(item_update + " #s #u", names),
            "ExpressionAttributeValues": {**item_values, ":was": {"S": current.status}, ":oldUrl": {"S": current.url},
                                          ":secret": {"S": current.secrets[0]}},
        }}]
        moved = current.listing_key() != updated.listing_key()
        if moved:
            items += [
                {"Delete": {"TableName": self._table, "Key": current.listing_key(),
                            "ConditionExpression": "attribute_exists(pk)"}},
                {"Put": {"TableName": self._table, "Item": {**updated.listing_key(), **listed},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
        else:
            items.append({"Update": {"TableName": self._table, "Key": current.listing_key(),
                                     "UpdateExpression": listing_update, "ConditionExpression": "attribute_exists(pk)",
                                     "ExpressionAttributeNames": _names_in(listing_update, names),
                                     "ExpressionAttributeValues": listing_values}})
        reasons = self._transact(items)
        if reasons is None:
            return updated
        if moved and reasons[2] == "ConditionalCheckFailed":
            existing = get_item(self._db, self._table, updated.listing_key())
            if existing is not None:
                raise Conflict(f"this {updated.level} already has a webhook of type {updated.type} for that url: "
                               f"{existing['webhookID']}", field="url")
        if self.get(current.webhook_id) is None:
            raise NotFound("no webhook with that webhookID", field="webhookID")
        raise Conflict("the webhook was changed meanwhile; read it again and retry", field="webhookID")

    def get(self, webhook_id, now=None):
        """The webhook, or None when it does not exist or was removed.

        With ``now``, a rotated-out secret whose overlap has ended is deleted on the way.
        """
        item = self.get_item(webhook_id)
        if item is None or item["status"] == "removed":
            return None
        webhook = Webhook.from_item(item)
        return webhook if now is None else self.forget_old_secret(webhook, now)

    def get_item(self, webhook_id):
        return get_item(self._db, self._table, webhook_key(webhook_id))

    def list(self, level, owner_id, type=None):
        """The owner's live webhooks (of one type, if given) in creation order: one Query."""
        condition = "pk = :pk"
        values = {":pk": {"S": owner_pk(level, owner_id)}}
        if type is not None:
            condition += " AND begins_with(sk, :type)"
            values[":type"] = {"S": f"{type}#"}
        items = []
        query = {"TableName": self._table, "KeyConditionExpression": condition, "ExpressionAttributeValues": values}
        try:
            while True:  # one page holds every listing of an owner (capped); the loop is a safeguard
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
        """Mark the webhook removed, drop its listing and count it out; raise
        :class:`NotFound` if it is already gone."""
        reasons = self._transact([
                    {"Update": {"TableName": self._table, "Key": webhook_key(webhook.webhook_id),
                                "UpdateExpression": "SET #s = :removed",
                                "ConditionExpression": "attribute_exists(pk) AND #s <> :removed",
                                "ExpressionAttributeNames": {"#s": "status"},
                                "ExpressionAttributeValues": {":removed": {"S": "removed"}}}},
                    {"Delete": {"TableName": self._table, "Key": webhook.listing_key()}},
                    {"Update": {"TableName": self._table, "Key": cap_key(webhook.level, webhook.owner_id),
                                "UpdateExpression": "ADD webhooks :minus",
                                "ExpressionAttributeValues": {":minus": {"N": "-1"}}}},
                ])
        if reasons is not None:
            raise NotFound("no webhook with that webhookID", field="webhookID")
        return webhook

    def rotate_secret(self, webhook, secret, previous_until, public_key=None):
        """Make ``secret`` the newest; the current one keeps signing until ``previous_until``.

        For an ed25519 webhook ``secret`` is the new private key and ``public_key`` its public
        key, which the webhook object shows (the old one as ``previousPublicKey``): its listing
        changes in the same transaction. Conditional on the current secret, so two rotations at
        once cannot both win; a retry of this very rotation (its answer lost) finds its own new
        secret in place, and wins.
        """
        conflict = Conflict("the secret was rotated or the webhook removed meanwhile; try again", field="webhookID")
        if public_key is None:
            self._update(
                webhook.webhook_id,
                "SET secrets = :secrets, previousSecretUntil = :until",
                "attribute_exists(pk) AND #s <> :removed AND secrets[0] = :current",
                {":secrets": [secret, webhook.secrets[0]], ":until": int(previous_until), ":removed": "removed",
                 ":current": webhook.secrets[0]},
                conflict,
                ours=lambda item: item.get("secrets", [None])[0] == secret and item.get("status") != "removed",
            )
            return
        keys = "SET publicKey = :public, previousPublicKey = :previous, previousSecretUntil = :until"
        values = {":public": public_key, ":previous": webhook.public_keys[0], ":until": int(previous_until)}
        # One transaction, with a ClientRequestToken kept across retries (_transact): a retry of it
        # whose first answer was lost is the same transaction again, never a conflict.
        reasons = self._transact([
            {"Update": {"TableName": self._table, "Key": webhook_key(webhook.webhook_id),
                        "UpdateExpression": keys + ", secrets = :secrets",
                        "ConditionExpression": "attribute_exists(pk) AND #s <> :removed AND secrets[0] = :current",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": serialize({**values, ":secrets": [secret, webhook.secrets[0]],
                                                                ":removed": "removed", ":current": webhook.secrets[0]})}},
            {"Update": {"TableName": self._table, "Key": webhook.listing_key(), "UpdateExpression": keys,
                        "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": serialize(values)}},
        ])
        if reasons is not None:
            raise conflict

    def forget_old_secret(self, webhook, now):
        """Delete the rotated-out secret once its overlap has ended; return the webhook as it is then.

        Done on the way whenever a webhook is read for use (an API call, a delivery), so an old
        secret lives past its overlap only until the webhook is next used.
        """
        if len(webhook.secrets) < 2 or now < webhook.previous_secret_until:
            return webhook
        try:
            self._update(webhook.webhook_id, "REMOVE secrets[1], previousSecretUntil, previousPublicKey",
                         "previousSecretUntil = :until AND secrets[0] = :current",
                         {":until": webhook.previous_secret_until, ":current": webhook.secrets[0]}, None)
        except NotFound:
            pass  # rotated again or removed meanwhile: that write decides
        return webhook.as_of(now)

    def mark_failing(self, webhook_id, since_ms):
        """Note when the webhook's current run of failures began (kept if already noted)."""
        self._update(webhook_id, "SET failingSince = if_not_exists(failingSince, :since)", "attribute_exists(pk)",
                     {":since": since_ms})

    def mark_held(self, webhook_id, since_ms, reason, attempt_ms):
        """Hold the webhook to its share of the delivery capacity (chalicelib.delivery.admission); a mark
        already there is kept."""
        try:
            self._update(webhook_id, "SET heldSince = :since, heldReason = :reason, heldAttemptMs = :ms",
                         "attribute_exists(pk) AND attribute_not_exists(heldSince)",
                         {":since": since_ms, ":reason": reason, ":ms": attempt_ms})
        except NotFound:
            pass  # held already (another worker saw it first), or removed

    def clear_held(self, webhook_id):
        """The webhook's endpoint is fast again: it is no longer held to its share."""
        self._update(webhook_id, "REMOVE heldSince, heldReason, heldAttemptMs", "attribute_exists(pk)", None)

    def clear_failing(self, webhook_id):
        """The webhook's endpoint accepted a delivery: its run of failures is over."""
        self._update(webhook_id, "REMOVE failingSince", "attribute_exists(pk)", None)

    def _update(self, webhook_id, expression, condition, values, conflict=None, ours=None):
        """One conditional UpdateItem of the webhook item; a failed condition raises ``conflict``,
        or :class:`NotFound` without one, unless ``ours(the item as it was)`` says the item already
        holds this very update (botocore's retry of a try whose answer was lost)."""
        request = {"TableName": self._table, "Key": webhook_key(webhook_id), "UpdateExpression": expression,
                   "ConditionExpression": condition}
        if ours is not None:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if "#s" in condition:
            request["ExpressionAttributeNames"] = {"#s": "status"}
        if values:
            request["ExpressionAttributeValues"] = serialize(values)
        try:
            self._db.update_item(**request)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                if ours is not None and "Item" in exc.response and ours(deserialize(exc.response["Item"])):
                    return
                raise (conflict or NotFound("no webhook with that webhookID", field="webhookID")) from exc
            reraise_unavailable(exc)

    def set_status(self, webhook, status, only_from=None, reason=None):
        """Enable or disable a live webhook, in its item and its listing together.

        Enabling also ends the webhook's run of failures, so it gets a fresh chance. With
        ``only_from``, the change is made only from that status (else :class:`NotFound`): two
        deliveries that both decide to disable a webhook disable it once. ``reason`` says why
        the service disabled it (``webhook.stats`` shows it until it is enabled again).
        """
        names = {"#s": "status"}
        condition = "attribute_exists(pk) AND #s <> :removed"
        values = {":status": {"S": status}, ":removed": {"S": "removed"}}
        if status == "enabled":
            update = "SET #s = :status REMOVE failingSince, disabledReason"
        elif reason is not None:
            update = "SET #s = :status, disabledReason = :reason"
            values[":reason"] = {"S": reason}
        else:
            update = "SET #s = :status REMOVE disabledReason"
        if only_from is not None:
            condition += " AND #s = :from"
            values[":from"] = {"S": only_from}
        reasons = self._transact([
            {"Update": {"TableName": self._table, "Key": webhook_key(webhook.webhook_id), "UpdateExpression": update,
                        "ConditionExpression": condition, "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values}},
            {"Update": {"TableName": self._table, "Key": webhook.listing_key(),
                        "UpdateExpression": "SET #s = :status", "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeNames": names, "ExpressionAttributeValues": {":status": {"S": status}}}},
        ])
        if reasons is not None:
            raise NotFound("no webhook with that webhookID", field="webhookID")


def _names_in(expression, names):
    """The placeholders of ``names`` that ``expression`` uses (DynamoDB refuses unused ones)."""
    used = set(expression.replace(",", " ").split())
    return {key: value for key, value in names.items() if key in used}

"""Webhooks in the table: the webhook item, its owner's listing, the url's claims and the owner's count.

An owner is an event (event-level webhooks) or a company (company-level ones); everything here
works the same for both. Handed its DynamoDB client and table name, so the same code runs on
AWS, on the local moto server and in tests.

Uniqueness (contract, sections 17 and 18): two push webhooks of one owner with the same url (in
its normal form) may not share a type; pull webhooks have no url. The url's claim item
(``URL#<owner>#<sha256(url)>``) holds, for each type taken, the webhook that takes it
(``T#<type>``, or ``T#*`` for a webhook that takes every type) and how many are taken
(``claimed``): a webhook takes its types with one conditional update of that item, in the same
transaction as the webhook and its listing, so racing creations cannot both win. A webhook stored by the first rounds is listed under its type and url instead (one item
per type and url was the uniqueness then): a new claim also reads that no such listing exists
for a type it takes, and the webhook moves to the new layout at its next update.

A retry never looks like another writer: every transaction here (the webhook, its listing, its
claims and the count together) carries a ClientRequestToken kept across its retries
(:meth:`WebhookStore._transact`), and a single conditional write that may be retried asks for
the item as it was when its condition fails (``ReturnValuesOnConditionCheckFailure``) and
recognises its own write there.
"""

import random
import re
import time
import uuid
from dataclasses import dataclass, replace

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.catalog import ALL_TYPES
from chalicelib.errors import Conflict, InvalidParameter, NotFound, Unavailable
from chalicelib.store.table import (
    batch_get,
    cancellation_reasons,
    cap_key,
    deserialize,
    error_code,
    get_item,
    is_transient,
    legacy_listing_key,
    owner_pk,
    reraise_unavailable,
    serialize,
    url_claim_key,
    webhook_key,
)
from chalicelib.store.webhook_record import Listing, Webhook, effective_types

_CREATE_TRIES = 3  # a claim released between a cancelled write and the read that explains it
_TRANSACTION_TRIES = 6
_CLAIM = "T#"  # an attribute of a url's claim item: T#<type> = the webhookID that takes it
# After a try whose outcome is unknown (AWS kept failing through botocore's own retries, or never
# answered), the same transaction is sent again, with the same token, after these pauses.
_UNKNOWN_OUTCOME_PAUSES = (1.0, 2.0)


@dataclass(frozen=True)
class _Write:
    """One item of a transaction, and what its failed condition means: ``webhook`` (changed or
    removed meanwhile), ``cap`` (too many webhooks), ``claim`` (a type of that url is taken)."""

    role: str
    item: dict
    key: dict | None = None


class WebhookStore:
    """Webhooks, the per-owner listing that finds them, the url claims that keep them unique, and
    the owner's count."""

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

    def _write(self, writes):
        """Write ``writes`` (a list of :class:`_Write`) in one transaction; the first one whose
        condition failed, or None when it went through."""
        reasons = self._transact([write.item for write in writes])
        if reasons is None:
            return None
        return next(write for write, reason in zip(writes, reasons) if reason == "ConditionalCheckFailed")

    def _claims(self, webhook, held, url_changed=False, current=None):
        """The writes that make ``webhook`` (of its url and types) take the claims it needs, giving
        back ``held`` (the types the webhook held before, at ``current``'s url): a conditional
        update of the url's claim item, two when the url changes.

        A webhook of the first rounds listed with a type newly taken and the same url is a
        :class:`Conflict` already: such listings are read first (one BatchGetItem). That read
        cannot be overtaken: this code never writes a listing of that layout, it only removes
        them, so one missing now is missing at the transaction too. A pull webhook has no url:
        it takes no claims (an owner may have several pull webhooks of one type)."""
        if webhook.delivery == "pull":
            return []
        writes = []
        wanted = webhook.types
        if url_changed and held:
            writes.append(self._claim_update(current, held, ()))
            held = ()
        update = self._claim_update(webhook, held, wanted)
        if update is not None:
            writes.append(update)
        taken = tuple(t for t in wanted if t not in held)
        own = current.listing_key() if current is not None and current.legacy_listing else None
        keys = [key for key in (legacy_listing_key(webhook.level, webhook.owner_id, name, webhook.normal_url)
                                for name in (effective_types(taken, webhook.level) if taken else ())) if key != own]
        listed_before = batch_get(self._db, self._table, keys) if keys else []
        if listed_before:
            raise self._conflict_with(webhook, listed_before[0]["type"], listed_before[0]["webhookID"])
        return writes

    def _claim_update(self, webhook, held, wanted):
        """The conditional update of ``webhook``'s url claim item from ``held`` types to ``wanted``."""
        released = [t for t in held if t not in wanted]
        added = [t for t in wanted if t not in held]
        if not released and not added:
            return None
        names, values = {}, {":id": {"S": webhook.webhook_id}}
        conditions, sets, removes = [], [], []
        for index, name in enumerate(released):
            names[f"#r{index}"] = _CLAIM + name
            removes.append(f"#r{index}")
            conditions.append(f"#r{index} = :id")
        if added == [ALL_TYPES]:
            # Every type of the level: no other webhook may hold any type of this url.
            values[":held"] = {"N": str(len(held))}
            conditions.append("(attribute_not_exists(claimed) OR claimed = :held)")
        elif added:
            if ALL_TYPES not in held:
                names["#all"] = _CLAIM + ALL_TYPES
                conditions.append("attribute_not_exists(#all)")
            conditions += [f"attribute_not_exists(#a{index})" for index in range(len(added))]
        for index, name in enumerate(added):
            names[f"#a{index}"] = _CLAIM + name
            sets.append(f"#a{index} = :id")
        expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        if len(added) != len(released):
            values[":delta"] = {"N": str(len(added) - len(released))}
            expression += " ADD claimed :delta"
        key = url_claim_key(webhook.level, webhook.owner_id, webhook.normal_url)
        return _Write("claim", {"Update": {
            "TableName": self._table, "Key": key, "UpdateExpression": expression.strip(),
            "ConditionExpression": " AND ".join(conditions), "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values}}, key)

    def _conflict(self, write, webhook):
        """The :class:`Conflict` that a failed claim means, naming the webhook that has the type;
        None when it is gone meanwhile (the write may be tried again)."""
        item = get_item(self._db, self._table, write.key)
        if item is None:
            return None
        held = {name[len(_CLAIM):]: value for name, value in item.items() if name.startswith(_CLAIM)}
        clash = [t for t in (ALL_TYPES, *webhook.types) if t in held] or (
            list(held) if webhook.types == (ALL_TYPES,) else [])
        clash = [t for t in clash if held[t] != webhook.webhook_id]
        return self._conflict_with(webhook, clash[0], held[clash[0]]) if clash else None

    @staticmethod
    def _conflict_with(webhook, type_name, holder):
        takes = "every type (*)" if type_name == ALL_TYPES else type_name
        return Conflict(f"this {webhook.level} already has a webhook for that url that takes {takes}: {holder}",
                        field="url")

    def create(self, webhook):
        """Store a new webhook in one transaction with its listing, its url's claims and its
        owner's count.

        Raise :class:`Conflict` naming the existing webhook when one of the owner's webhooks for
        that url takes one of its types, and :class:`InvalidParameter` when the owner has its most
        webhooks already: the conditions hold however many creations race.
        """
        writes = [
            _Write("webhook", {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                                       "Item": {**webhook_key(webhook.webhook_id), **webhook.item_attributes()}}}),
            _Write("webhook", {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                                       "Item": {**webhook.listing_key(), **webhook.listing_attributes()}}}),
            _Write("cap", {"Update": {"TableName": self._table, "Key": cap_key(webhook.level, webhook.owner_id),
                                      "UpdateExpression": "ADD webhooks :one",
                                      "ConditionExpression": "attribute_not_exists(webhooks) OR webhooks < :max",
                                      "ExpressionAttributeValues": {":one": {"N": "1"},
                                                                    ":max": {"N": str(self._max)}}}}),
            *self._claims(webhook, ()),
        ]
        for _ in range(_CREATE_TRIES):
            failed = self._write(writes)
            if failed is None:
                return webhook
            if failed.role == "cap":
                raise InvalidParameter(
                    f"{'an event' if webhook.level == 'event' else 'a company'} may have at most {self._max}"
                    " webhooks; remove one first", field=webhook.owner_field, code="too_many_webhooks")
            if failed.role == "webhook":
                # Its webhookID and listing key are new: only this call's own earlier try can have
                # written them (a try whose answer was lost, past its ClientRequestToken): made.
                return webhook
            conflict = self._conflict(failed, webhook)
            if conflict is not None:
                raise conflict
            # what stopped it was removed meanwhile: try again
        raise Unavailable("the service is busy; try again in a moment")

    def update(self, current, updated):
        """Store ``updated``, the webhook ``current`` with a new url, types, headers, rate limit,
        filter, description, auth or template (webhook.update), in one transaction with its listing
        and its url's claims; everything else in the item (its secrets, status, health) is kept.
        New types or a new url take their claims as at creation: :class:`Conflict` naming the
        webhook that has one already. :class:`Conflict` too when the webhook's url, types or status changed since
        ``current`` was read, :class:`NotFound` when it was removed. A webhook of the first rounds
        moves to the new layout here.
        """
        listed = updated.item_attributes()
        # The item keeps the headers' values, the OAuth client's secret and the template; the
        # listing, only what a fan-out reads (its types, status and filter).
        names = {"#s": "status", "#u": "url", "#n": "normalUrl", "#h": "headers", "#r": "rateLimit", "#f": "filter",
                 "#ts": "types", "#t": "type", "#a": "auth", "#tp": "template", "#d": "description"}
        sets = ["#h = :headers", "#ts = :types", "#d = :description"]
        values = {":headers": listed["headers"], ":types": listed["types"], ":description": listed["description"],
                  ":was": {"S": current.status}}
        removes = []
        for name, attribute in (("#u", "url"), ("#n", "normalUrl"), ("#r", "rateLimit"), ("#f", "filter"),
                                ("#t", "type"), ("#a", "auth"), ("#tp", "template")):
            if attribute in listed:
                sets.append(f"{name} = :{attribute}")
                values[f":{attribute}"] = listed[attribute]
            else:
                removes.append(name)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        condition = "attribute_exists(pk) AND #s = :was AND "
        if current.url is None:
            condition += "attribute_not_exists(#u) AND "
        else:
            condition += "#u = :oldUrl AND "
            values[":oldUrl"] = {"S": current.url}
        if current.legacy_listing:
            condition += "attribute_not_exists(#ts)"
        else:
            condition += "#ts = :oldTypes"
            values[":oldTypes"] = serialize({"t": list(current.types)})["t"]
        writes = [_Write("webhook", {"Update": {
            "TableName": self._table, "Key": webhook_key(current.webhook_id), "UpdateExpression": expression,
            "ConditionExpression": condition, "ExpressionAttributeNames": _names_in(expression + " " + condition, names),
            "ExpressionAttributeValues": values}})]
        moved = replace(updated, legacy_listing=False)
        if current.legacy_listing:
            writes += [
                _Write("webhook", {"Delete": {"TableName": self._table, "Key": current.listing_key(),
                                              "ConditionExpression": "attribute_exists(pk)"}}),
                _Write("webhook", {"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(pk)",
                                           "Item": {**moved.listing_key(), **moved.listing_attributes()}}}),
            ]
        else:
            writes.append(_Write("webhook", {"Put": {
                "TableName": self._table, "ConditionExpression": "attribute_exists(pk)",
                "Item": {**moved.listing_key(), **moved.listing_attributes()}}}))
        held = () if current.legacy_listing else current.types
        writes += self._claims(moved, held, url_changed=current.normal_url != moved.normal_url, current=current)
        failed = self._write(writes)
        if failed is None:
            return moved
        if failed.role == "claim":
            conflict = self._conflict(failed, moved)
            if conflict is not None:
                raise conflict
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

    def get_many(self, webhook_ids):
        """The live webhooks among ``webhook_ids`` (one BatchGetItem a hundred)."""
        items = batch_get(self._db, self._table, [webhook_key(webhook_id) for webhook_id in webhook_ids])
        return [Webhook.from_item(item) for item in items if item["status"] != "removed"]

    def get_item(self, webhook_id):
        return get_item(self._db, self._table, webhook_key(webhook_id))

    def list(self, level, owner_id, type=None):
        """The owner's live webhooks as its listing holds them (:class:`Listing`), those that take
        ``type`` if given, in creation order: one Query, one page for an owner's most webhooks."""
        query = {"TableName": self._table, "KeyConditionExpression": "pk = :pk",
                 "ExpressionAttributeValues": {":pk": {"S": owner_pk(level, owner_id)}}}
        items = []
        try:
            while True:  # one page holds every listing of an owner (capped); the loop is a safeguard
                answer = self._db.query(**query)
                items.extend(deserialize(item) for item in answer["Items"])
                if "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except ClientError as exc:
            reraise_unavailable(exc)
        listings = sorted((Listing.from_item(item, level, owner_id) for item in items), key=lambda l: l.webhook_id)
        return [listing for listing in listings if type is None or listing.takes(type)]

    def find(self, level, owner_id, type=None):
        """The owner's live webhooks (those that take ``type``, if given) in creation order, whole:
        the listing's Query, then their items (BatchGetItem, 100 a request)."""
        listings = self.list(level, owner_id, type)
        items = {item["webhookID"]: item for item in batch_get(self._db, self._table,
                                                               [webhook_key(l.webhook_id) for l in listings])}
        found = [items.get(listing.webhook_id) for listing in listings]
        return [Webhook.from_item(item) for item in found if item is not None and item["status"] != "removed"]

    def remove(self, webhook):
        """Mark the webhook removed, drop its listing and its url's claims, and count it out; raise
        :class:`NotFound` if it is already gone."""
        writes = [
            {"Update": {"TableName": self._table, "Key": webhook_key(webhook.webhook_id),
                        "UpdateExpression": "SET #s = :removed",
                        "ConditionExpression": "attribute_exists(pk) AND #s <> :removed",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":removed": {"S": "removed"}}}},
            {"Delete": {"TableName": self._table, "Key": webhook.listing_key()}},
            {"Update": {"TableName": self._table, "Key": cap_key(webhook.level, webhook.owner_id),
                        "UpdateExpression": "ADD webhooks :minus",
                        "ExpressionAttributeValues": {":minus": {"N": "-1"}}}},
        ]
        if not webhook.legacy_listing and webhook.delivery == "push":
            writes.append(self._claim_update(webhook, webhook.types, ()).item)
        if self._transact(writes) is not None:
            raise NotFound("no webhook with that webhookID", field="webhookID")
        return webhook

    def rotate_secret(self, webhook, secret, previous_until, public_key=None):
        """Make ``secret`` the newest; the current one keeps signing until ``previous_until``.

        For an ed25519 webhook ``secret`` is the new private key and ``public_key`` its public
        key, which the webhook object shows (the old one as ``previousPublicKey``). Both live in
        the webhook item only (the owner's listing holds no keys), so a rotation is one
        UpdateItem. Conditional on the current secret, so two rotations at once cannot both win;
        a retry of this very rotation (its answer lost) finds its own new secret in place, and
        wins.
        """
        expression = "SET secrets = :secrets, previousSecretUntil = :until"
        values = {":secrets": [secret, webhook.secrets[0]], ":until": int(previous_until), ":removed": "removed",
                  ":current": webhook.secrets[0]}
        if public_key is not None:
            expression += ", publicKey = :public, previousPublicKey = :previous"
            values.update({":public": public_key, ":previous": webhook.public_keys[0]})
        self._update(
            webhook.webhook_id, expression, "attribute_exists(pk) AND #s <> :removed AND secrets[0] = :current",
            values, Conflict("the secret was rotated or the webhook removed meanwhile; try again", field="webhookID"),
            ours=lambda item: item.get("secrets", [None])[0] == secret and item.get("status") != "removed",
        )

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
    used = set(re.findall(r"#\w+", expression))
    return {key: value for key, value in names.items() if key in used}

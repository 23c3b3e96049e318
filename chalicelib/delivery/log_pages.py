"""Reading the delivery log a page at a time, newest first, for ``webhook.deliveries``, the
stats and replays: the filters, the bounded reads on, and the opaque cursor."""

import base64
import binascii

from botocore.exceptions import ClientError

from chalicelib.errors import InvalidParameter
from chalicelib.ids import id_floor
from chalicelib.store.table import deserialize, reraise_unavailable


def _dated_within(item, low, high):
    date = item.get("date")
    if not (isinstance(date, str) and date.isdigit()):
        return False
    return (low is None or int(date) >= low) and (high is None or int(date) <= high)


def _encode_cursor(sk):
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def _decode_cursor(cursor):
    try:
        sk = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidParameter("cursor is not a cursor this method gave", field="cursor") from exc
    if not sk.startswith("MSG#msg_") or len(sk) > 64:
        raise InvalidParameter("cursor is not a cursor this method gave", field="cursor")
    return sk


READ_ITEMS = 200  # the most records one page reads: what one unfiltered page of the largest size reads
QUERY_ITEMS = 50  # the fewest one Query asks for


def page(db, table, webhook_id, now, status=None, limit=50, cursor=None, since_ms=None, max_items=READ_ITEMS,
         type=None, dates=None):
    """A page of the webhook's messages, newest first; returns ``(items, next cursor)``.

    Expired records (past the retention, not yet removed by DynamoDB's TTL) are left out.
    With ``since_ms``, only messages made at or after that time; with ``status`` or ``type``,
    only those (DynamoDB filters them); with ``dates`` (``(low, high)`` Unix seconds, either
    None), only messages whose ``date`` is within them, inclusive. The date is the platform's
    (a message made now may be about last week), so no key condition can select it: it is
    compared here, as the table keeps it as text.

    Reads go on until the page holds ``limit`` records that match, or ``max_items`` records
    (at least ``limit``) have been read, whichever comes first: DynamoDB's ``Limit`` counts the
    records read, matching or not, so a filter that matches little costs no more than an
    unfiltered page of ``max_items``. A page cut short by that bound may hold fewer than
    ``limit`` matches, even none, and its cursor goes on from the last record read.
    """
    values = {":pk": {"S": f"WH#{webhook_id}"}, ":now": {"N": str(int(now))}}
    names = {"#expires": "expiresAt"}
    filters = ["#expires > :now"]
    if status is not None:
        filters.append("#status = :status")
        names["#status"] = "status"
        values[":status"] = {"S": status}
    if type is not None:
        filters.append("#type = :type")
        names["#type"] = "type"
        values[":type"] = {"S": type}
    low, high = dates or (None, None)
    if since_ms is not None:
        condition = "pk = :pk AND sk BETWEEN :low AND :high"
        values[":low"] = {"S": "MSG#" + id_floor("msg", since_ms)}
        values[":high"] = {"S": "MSG#msg_~"}
    else:
        condition = "pk = :pk AND begins_with(sk, :msg)"
        values[":msg"] = {"S": "MSG#"}
    query = {
        "TableName": table,
        "KeyConditionExpression": condition,
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
        "ConsistentRead": True,
    }
    if cursor:
        query["ExclusiveStartKey"] = {"pk": values[":pk"], "sk": {"S": _decode_cursor(cursor)}}
    found, budget = [], max(limit, max_items)
    while budget > 0:  # a filter can leave a read short: read on, up to the page's bound
        query["Limit"] = min(budget, max(limit, QUERY_ITEMS))
        try:
            answer = db.query(**query)
        except ClientError as exc:
            reraise_unavailable(exc)
        budget -= max(1, answer.get("ScannedCount", query["Limit"]))
        items = answer["Items"]
        for index, item in enumerate(items):
            item = deserialize(item)
            if (low is not None or high is not None) and not _dated_within(item, low, high):
                continue
            found.append(item)
            if len(found) == limit:
                more = index < len(items) - 1 or "LastEvaluatedKey" in answer
                return found, _encode_cursor(item["sk"]) if more else None
        if "LastEvaluatedKey" not in answer:
            return found, None
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return found, _encode_cursor(query["ExclusiveStartKey"]["sk"]["S"])

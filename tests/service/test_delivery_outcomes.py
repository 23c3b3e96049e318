"""What the delivery worker returns (chalicelib/delivery/outcomes.py): the messages that come
back, and what organizers are told of (messages given up, webhooks disabled); and what admission
(chalicelib/delivery/admission.py) does to a batch: a message held back uses no attempt."""

import time

from chalicelib.delivery.admission import rate_key
from chalicelib.delivery.outcomes import MessageGivenUp, WebhookDisabled
from chalicelib.services import get_services
from tests.helpers import stored_message
from tests.service.helpers import receive


def test_a_message_held_back_by_admission_uses_no_attempt_and_keeps_its_group_in_order(api, aws, receiver):
    hook = api.create(receiver.url, rateLimit=1)
    services = get_services()
    for second in range(int(time.time()), int(time.time()) + 30):  # its places are taken for a while
        services.dynamodb.put_item(TableName=services.settings.table_name,
                                   Item={**rate_key(hook["webhookID"], second), "attempts": {"N": "1"}})
    sent = [api.dispatch(person_id="7", activity_id=str(n))["messageID"] for n in range(2)]
    records = receive(aws)
    outcome = services.worker.handle(records)
    assert outcome.retry == [r["messageId"] for r in records]  # the held one and the one behind it
    assert receiver.requests == [] and outcome.events == []
    assert stored_message(hook["webhookID"], sent[0]) is None and stored_message(hook["webhookID"], sent[1]) is None


def test_a_share_that_fails_after_a_2xx_does_not_send_the_message_again(api, aws, receiver):
    """Contract 13: a message goes again after a 2xx only when the worker died before its
    record. A failing write of the share (clearing a held webhook's mark, here) once made the
    worker skip the record, and the message came back and was POSTed again."""
    hook = api.create(receiver.url)
    services = get_services()
    services.webhooks.mark_held(hook["webhookID"], 1, "slow: an attempt took 2.0 s", 2000)

    def fail_clearing_the_mark(params, **_):
        if "REMOVE heldSince" in params.get("UpdateExpression", ""):
            raise RuntimeError("the table that keeps the share failed")

    services.dynamodb.meta.events.register("provide-client-params.dynamodb.UpdateItem", fail_clearing_the_mark)
    message_id = api.dispatch()["messageID"]
    assert services.worker.handle(receive(aws)).retry == []
    assert stored_message(hook["webhookID"], message_id)["status"] == "delivered"
    assert len(receiver.requests) == 1


def test_a_message_given_up_and_a_webhook_disabled_are_returned(api, aws, receiver, settings):
    settings(RETRY_SCHEDULE="0s")
    receiver.answer(410)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    disabled, given_up = get_services().worker.handle(receive(aws)).events
    assert isinstance(disabled, WebhookDisabled) and isinstance(given_up, MessageGivenUp)
    assert (disabled.webhook.webhook_id, disabled.reason) == (hook["webhookID"], "the endpoint answered 410 Gone")
    assert (given_up.webhook.webhook_id, given_up.message.message_id, given_up.attempts) == (
        hook["webhookID"], message_id, 1)
    assert given_up.last_attempt["statusCode"] == 410


def test_a_delivered_message_returns_nothing_to_tell(api, aws, receiver):
    api.create(receiver.url)
    api.dispatch()
    outcome = get_services().worker.handle(receive(aws))
    assert outcome.events == [] and outcome.retry == []

"""The delivery worker's hooks (chalicelib/delivery/hooks.py): admission before each attempt,
notices when a message is given up or a webhook disabled."""

from chalicelib.delivery.hooks import Admission, Notices
from chalicelib.delivery.worker import DeliveryWorker
from chalicelib.services import get_services
from tests.conftest import stored_message
from tests.test_delivery_promises import receive


def worker_with(admission=None, notices=None):
    s = get_services()
    return DeliveryWorker(s.webhooks, s.log, s.queue, s.policy, s.sender, s.settings, admission=admission,
                          notices=notices)


class HoldBack(Admission):
    def __init__(self, seconds):
        self.seconds, self.asked, self.done_with = seconds, [], []

    def admit(self, webhook, now, batch=None):
        self.asked.append(webhook.webhook_id)
        return self.seconds

    def done(self, webhook, attempt, batch=None):
        self.done_with.append(attempt.status_code)


class Told(Notices):
    def __init__(self):
        self.failed, self.disabled = [], []

    def message_failed(self, webhook, message, record):
        self.failed.append((webhook.webhook_id, message.message_id, record["statusCode"], record["attempts"]))

    def webhook_disabled(self, webhook, reason, failing_since_ms):
        self.disabled.append((webhook.webhook_id, reason))


def test_a_message_held_back_by_admission_uses_no_attempt_and_keeps_its_group_in_order(api, aws, receiver, worker):
    hook = api.create(receiver.url)
    first = api.dispatch(person_id="7")["messageID"]
    second = api.dispatch(person_id="7")["messageID"]
    records = receive(aws)
    admission = HoldBack(30)
    back = worker_with(admission=admission).handle(records)
    assert back == [r["messageId"] for r in records]  # the held one and the one behind it
    assert admission.asked == [hook["webhookID"]]  # the second was not asked: it waits behind the first
    assert receiver.requests == [] and stored_message(hook["webhookID"], first) is None
    assert stored_message(hook["webhookID"], second) is None


def test_admission_is_told_of_each_attempt_made(api, aws, receiver):
    api.create(receiver.url)
    api.dispatch()
    admission = HoldBack(None)
    assert worker_with(admission=admission).handle(receive(aws)) == []
    assert admission.done_with == [200] and len(receiver.requests) == 1


class FailsWhenDone(Admission):
    def done(self, webhook, attempt, batch=None):
        raise RuntimeError("the table that keeps the share failed")


def test_an_admission_that_fails_after_a_2xx_does_not_send_the_message_again(api, aws, receiver):
    """Contract 13: a message goes again after a 2xx only when the worker died before its
    record. A failing admission hook (fair sharing's table, say) once made the worker skip the
    record, and the message came back and was POSTed again."""
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    assert worker_with(admission=FailsWhenDone()).handle(receive(aws)) == []
    assert stored_message(hook["webhookID"], message_id)["status"] == "delivered"
    assert len(receiver.requests) == 1


def test_a_message_given_up_and_a_webhook_disabled_are_told(api, aws, receiver, settings):
    settings(RETRY_SCHEDULE="0s")
    receiver.answer(410)
    hook = api.create(receiver.url)
    message_id = api.dispatch()["messageID"]
    told = Told()
    worker_with(notices=told).handle(receive(aws))
    assert told.failed == [(hook["webhookID"], message_id, 410, 1)]
    assert told.disabled == [(hook["webhookID"], "the endpoint answered 410 Gone")]


def test_a_delivered_message_tells_no_one(api, aws, receiver):
    api.create(receiver.url)
    api.dispatch()
    told = Told()
    worker_with(notices=told).handle(receive(aws))
    assert told.failed == [] and told.disabled == []

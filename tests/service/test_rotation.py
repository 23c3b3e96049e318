"""Secret rotation (contract, section 9): the new secret signs first, the old one beside it for
exactly 24 hours, then it signs no more and is deleted. An ed25519 webhook's key pair rotates the
same way: tests/service/test_signatures.py."""

import time

from chalicelib.delivery.signing import signature_header
from chalicelib.services import get_services

URL = "http://127.0.0.1:9/hook"
DAY = 24 * 3600


def test_a_delivery_after_a_rotation_is_signed_by_both_secrets_new_first(api, receiver, worker):
    hook = api.create(receiver.url)
    status, rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    assert status == 200 and set(rotated) == {"webhookID", "secret"}
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    api.dispatch()
    worker.run()
    (request,) = receiver.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    new_only = dict(request.headers, **{"webhook-signature": signatures[0]})
    old_only = dict(request.headers, **{"webhook-signature": signatures[1]})
    request.verify(rotated["secret"])
    from standardwebhooks.webhooks import Webhook

    Webhook(rotated["secret"]).verify(request.body, new_only)
    Webhook(hook["secret"]).verify(request.body, old_only)


def test_the_request_example_is_signed_like_a_real_delivery_after_rotation(api):
    hook = api.create("http://127.0.0.1:9/x")
    rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])[1]
    example = api.call("webhook.requestExample", webhookID=hook["webhookID"])[1]
    assert len(example["headers"]["webhook-signature"].split(" ")) == 2
    from standardwebhooks.webhooks import Webhook

    Webhook(rotated["secret"]).verify(example["body"], example["headers"])


def test_a_rotated_secret_signs_beside_the_new_one_for_exactly_24_hours(api):
    hook = api.create("http://127.0.0.1:9/hook")
    before = int(time.time())
    status, rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    after = int(time.time())
    assert status == 200
    webhook = get_services().webhooks.get(hook["webhookID"])
    assert before + DAY <= webhook.previous_secret_until <= after + DAY
    rotation = webhook.previous_secret_until - DAY
    for offset, signatures in ((DAY - 60, 2), (DAY + 60, 1)):  # 23 h 59 m, then 24 h 01 m
        at = rotation + offset
        header = signature_header(webhook.signing_secrets(at), "msg_1", at, '{"a":1}')
        assert len(header.split(" ")) == signatures, offset
    assert webhook.signing_secrets(rotation + DAY - 60)[0] == rotated["secret"]  # the new one first
    until = webhook.previous_secret_until  # to the second: both until it, then the new one alone
    assert webhook.signing_secrets(until - 1) == (rotated["secret"], hook["secret"])
    assert webhook.signing_secrets(until + 1) == (rotated["secret"],)


def test_a_rotated_out_secret_is_deleted_when_its_overlap_ends(api):
    hook = api.create(URL)
    api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    store = get_services().webhooks
    rotated = store.get(hook["webhookID"])
    assert len(store.get_item(hook["webhookID"])["secrets"]) == 2
    store.get(hook["webhookID"], now=rotated.previous_secret_until + 1)
    assert store.get_item(hook["webhookID"])["secrets"] == [rotated.secrets[0]]

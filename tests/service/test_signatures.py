"""Signatures without a shared secret (contract, section 19): ed25519 webhooks sign v1a, and a
receiver verifies with the public key alone, here with libsodium (PyNaCl), not with the library
the service signs with (cryptography)."""

import base64
import importlib.metadata
import json
import logging
import os
import pathlib
import subprocess
import sys

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from chalicelib import observability
from chalicelib.services import get_services
from chalicelib.store.table import get_item, listing_key, webhook_key

ROOT = pathlib.Path(__file__).resolve().parents[2]
URL = "http://127.0.0.1:9/hooks"


def verify_v1a(public_key, headers, body):
    """What a receiver does, with the public key alone: every v1a signature in the header, in
    order, each checked by libsodium; returns how many verified (raises if one is forged)."""
    key = VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + (
        body if isinstance(body, bytes) else body.encode())
    return key.verify(signed, base64.b64decode(headers["webhook-signature"].split(" ")[0].removeprefix("v1a,")))


def signatures(headers):
    return headers["webhook-signature"].split(" ")


def verifies(public_key, signature, headers, body):
    try:
        verify_v1a(public_key, {**headers, "webhook-signature": signature}, body)
        return True
    except BadSignatureError:
        return False


def create_ed25519(api, url=URL, **extra):
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=url,
                            signature="ed25519", **extra)
    assert status == 201, body
    return body


def test_an_ed25519_webhook_answers_its_public_key_and_no_secret(api):
    hook = create_ed25519(api)
    assert "secret" not in hook
    assert hook["signature"] == "ed25519"
    assert hook["publicKey"].startswith("whpk_") and len(base64.b64decode(hook["publicKey"][5:])) == 32
    assert hook["previousPublicKey"] is None
    listed = api.call("webhook.find", eventID="1234")[1]["data"]
    assert listed == [hook]


def test_an_hmac_webhook_says_so_and_has_no_public_key(api):
    hook = api.create(URL)
    assert hook["signature"] == "hmac" and hook["publicKey"] is None and hook["secret"].startswith("whsec_")
    assert api.call("webhook.create", eventID="1234", type="activityDismissal", url=URL,
                    signature="hmac")[1]["signature"] == "hmac"


@pytest.mark.parametrize("value", ["rsa", "ED25519", "", ["ed25519"], 1])
def test_an_unknown_signature_is_refused_on_signature(api, value):
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment", url=URL, signature=value)
    assert status == 400 and body["error"]["field"] == "signature", body
    assert api.call("webhook.find", eventID="1234")[1]["count"] == 0


@pytest.mark.parametrize("value", ["ed25519", "hmac"])
def test_the_signature_cannot_change(api, value):
    hook = create_ed25519(api)
    status, body = api.call("webhook.update", webhookID=hook["webhookID"], signature=value)
    assert status == 400 and body["error"]["field"] == "signature"
    assert api.call("webhook.find", eventID="1234")[1]["data"] == [hook]


def test_a_delivery_verifies_with_the_public_key_alone(api, receiver, worker):
    hook = create_ed25519(api, receiver.url)
    api.dispatch()
    worker.run()
    (request,) = receiver.wait_for(1)
    (signature,) = signatures(request.headers)
    assert signature.startswith("v1a,")
    verify_v1a(hook["publicKey"], request.headers, request.body)
    # Anything else signed is refused: another body, another id, another time.
    for forged_headers, forged_body in (
        (request.headers, request.body.replace(b"5521", b"5522")),
        ({**request.headers, "webhook-id": "msg_other"}, request.body),
        ({**request.headers, "webhook-timestamp": str(int(request.headers["webhook-timestamp"]) + 1)}, request.body),
    ):
        with pytest.raises(BadSignatureError):
            verify_v1a(hook["publicKey"], forged_headers, forged_body)


def test_a_test_send_and_the_request_example_verify_with_the_public_key(api, receiver):
    hook = create_ed25519(api, receiver.url)
    status, result = api.call("webhook.test", webhookID=hook["webhookID"])
    assert status == 200 and result["statusCode"] == 200
    (request,) = receiver.requests
    verify_v1a(hook["publicKey"], request.headers, request.body)

    status, example = api.call("webhook.requestExample", webhookID=hook["webhookID"])
    assert status == 200 and example["publicKey"] == hook["publicKey"]
    assert signatures(example["headers"])[0].startswith("v1a,")
    verify_v1a(example["publicKey"], example["headers"], example["body"])
    # An hmac webhook's example has no public key: its secret verifies it.
    assert "publicKey" not in api.call("webhook.requestExample", webhookID=api.create(URL)["webhookID"])[1]


class Kept(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(json.dumps(vars(record), default=str))


@pytest.fixture
def service_logs():
    """Everything the service logs at INFO and above (each attempt is a line), with its extras."""
    stdlib_logger = logging.getLogger(observability.SERVICE)
    kept, level = Kept(), stdlib_logger.level
    stdlib_logger.addHandler(kept)
    stdlib_logger.setLevel(logging.INFO)
    yield lambda: "\n".join(kept.records)
    stdlib_logger.removeHandler(kept)
    stdlib_logger.setLevel(level)


def test_the_private_key_is_in_the_webhook_item_only_and_never_answered_or_logged(api, receiver, worker, service_logs):
    hook = create_ed25519(api, receiver.url)
    services = get_services()
    item = get_item(services.dynamodb, services.settings.table_name, webhook_key(hook["webhookID"]))
    (private_key,) = item["secrets"]
    assert private_key.startswith("whsk_")
    # The owner's listing is the fan-out's projection: no key of any kind; the object reads the item.
    listing = get_item(services.dynamodb, services.settings.table_name, listing_key("event", "1234", hook["webhookID"]))
    assert "secrets" not in listing and "publicKey" not in listing
    assert api.call("webhook.find", eventID="1234")[1]["data"][0]["publicKey"] == hook["publicKey"]
    rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])[1]
    api.dispatch()
    worker.run()
    answers = [api.call(name, webhookID=hook["webhookID"]) for name in (
        "webhook.requestExample", "webhook.test", "webhook.deliveries", "webhook.stats", "webhook.update",
        "webhook.disable", "webhook.enable")]
    answers += [api.call("webhook.find", eventID="1234"), rotated, hook]
    new_private = get_item(services.dynamodb, services.settings.table_name, webhook_key(hook["webhookID"]))["secrets"][0]
    logged = service_logs()
    assert hook["webhookID"] in logged  # the attempts were logged, and are looked at here
    seen = json.dumps(answers) + logged
    for secret in (private_key, new_private):
        assert secret[5:] not in seen and secret[5:15] not in seen


def test_rotation_makes_a_new_key_pair_and_both_sign_for_a_day(api, receiver, worker):
    hook = create_ed25519(api, receiver.url)
    status, rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])
    assert status == 200 and set(rotated) == {"webhookID", "publicKey"}
    assert rotated["webhookID"] == hook["webhookID"] and rotated["publicKey"] not in (hook["publicKey"], None)
    (shown,) = api.call("webhook.find", eventID="1234")[1]["data"]
    assert (shown["publicKey"], shown["previousPublicKey"]) == (rotated["publicKey"], hook["publicKey"])

    api.dispatch()
    worker.run()
    (request,) = receiver.wait_for(1)
    new, old = signatures(request.headers)  # new first
    assert verifies(rotated["publicKey"], new, request.headers, request.body)
    assert verifies(hook["publicKey"], old, request.headers, request.body)
    assert not verifies(hook["publicKey"], new, request.headers, request.body)


def test_after_the_day_the_old_key_neither_signs_nor_shows(api):
    hook = create_ed25519(api)
    rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])[1]
    store = get_services().webhooks
    until = store.get(hook["webhookID"]).previous_secret_until
    (listed,) = store.find("event", "1234")
    assert listed.as_of(until - 1).public()["previousPublicKey"] == hook["publicKey"]
    assert listed.as_of(until + 1).public()["previousPublicKey"] is None
    later = store.get(hook["webhookID"], now=until + 1)  # what an API call or a delivery then reads
    assert later.public()["previousPublicKey"] is None and len(later.signing_secrets(until + 1)) == 1
    assert store.get(hook["webhookID"]).public()["publicKey"] == rotated["publicKey"]
    assert len(store.get(hook["webhookID"]).secrets) == 1  # the old private key is deleted


def test_a_second_rotation_within_the_day_keeps_the_newest_two(api):
    hook = create_ed25519(api)
    first = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])[1]
    second = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])[1]
    (shown,) = api.call("webhook.find", eventID="1234")[1]["data"]
    assert (shown["publicKey"], shown["previousPublicKey"]) == (second["publicKey"], first["publicKey"])
    status, example = api.call("webhook.requestExample", webhookID=hook["webhookID"])
    new, old = signatures(example["headers"])
    assert verifies(second["publicKey"], new, example["headers"], example["body"])
    assert verifies(first["publicKey"], old, example["headers"], example["body"])


def test_a_moved_url_keeps_the_keys(api):
    hook = create_ed25519(api)
    rotated = api.call("webhook.rotateSecret", webhookID=hook["webhookID"])[1]
    status, updated = api.call("webhook.update", webhookID=hook["webhookID"], url=URL + "/moved")
    assert status == 200
    (shown,) = api.call("webhook.find", eventID="1234")[1]["data"]
    assert shown == updated
    assert (shown["publicKey"], shown["previousPublicKey"]) == (rotated["publicKey"], hook["publicKey"])


def test_cryptography_is_imported_only_by_what_signs_with_ed25519():
    # The Lambda functions' cold start: importing the app and the worker, and signing v1, loads
    # none of it; the first v1a signature does.
    code = (
        "import sys, app, chalicelib.delivery.worker\n"
        "from chalicelib.delivery.signing import new_key_pair, signature_header\n"
        "signature_header(['whsec_' + 'A' * 43 + '='], 'msg_1', 1, '{}')\n"
        "print('cryptography' in sys.modules)\n"
        "signature_header([new_key_pair()[0]], 'msg_1', 1, '{}')\n"
        "print('cryptography' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_the_powertools_layer_the_functions_run_with_carries_cryptography():
    # AWS builds its Powertools layer with the [all] extras: whatever release requirements-dev.txt
    # pins (and the stack's layer version follows, docs/deploy.md), that is where cryptography comes from.
    requirements = importlib.metadata.requires("aws-lambda-powertools")
    assert any(r.startswith(("cryptography", "aws-encryption-sdk")) and "extra == 'all'" in r.replace('"', "'")
               for r in requirements), requirements


def test_the_readmes_receiver_verifies_a_delivery_with_the_public_key_alone(api, receiver):
    readme = (ROOT / "README.md").read_text()
    (example,) = [block.split("```", 1)[0] for block in readme.split("```python\n")[1:] if "VerifyKey" in block]
    hook = create_ed25519(api, receiver.url)
    api.call("webhook.rotateSecret", webhookID=hook["webhookID"])  # two signatures: it takes the one it can
    namespace = {}
    exec(example.replace("whpk_...", hook["publicKey"]), namespace)
    api.call("webhook.test", webhookID=hook["webhookID"])
    (request,) = receiver.requests
    assert namespace["receive"](request.body, request.headers) == f"{request.headers['webhook-id']}.".encode() + \
        request.headers["webhook-timestamp"].encode() + b"." + request.body
    with pytest.raises(ValueError, match="forged"):
        namespace["receive"](request.body.replace(b"test", b"tost"), request.headers)
    with pytest.raises(ValueError, match="stale"):
        namespace["receive"](request.body, {**request.headers, "webhook-timestamp": "1764273600"})

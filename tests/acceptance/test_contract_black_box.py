"""The contract (/work/shared/api-contract.md), sections 1 to 22, checked sentence by sentence
against the local run (``make run``) from outside: over HTTP, with real receivers and a real OAuth
token endpoint on loopback, the relay (``python -m chalicelib.listen``) run as a developer runs it,
and the local run's own output. Each check names its section. A sentence the service does not keep
is marked ``xfail(strict=True)`` with the deviation.
"""

import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook

from dev.local_service import ADMIN_TOKEN, ROOT
from dev.receiver import Receiver
from dev.token_endpoint import TokenEndpoint

from .black_box import SEEN, SETTINGS, new_id, stop_all, wait_until

ENROLL = "activityEnrollment"

# Every secret handed out and every token made, for the module's last check (section 8: nothing
# secret is logged). Every answer is in SEEN, for section 1's (JSON and one error shape everywhere).
SECRETS = []
NEVER_ANSWERED = []  # header values, client secrets, access tokens: not even once
PUBLIC_KEYS = set()  # ed25519 webhooks' public keys: no answer or log line may hold their private keys

WRITE_METHODS = ["webhook.create", "webhook.update", "webhook.remove", "webhook.dispatch", "webhook.enable",
                 "webhook.disable", "webhook.rotateSecret", "token.create", "token.revoke", "webhook.redeliver",
                 "webhook.test", "webhook.erasePerson"]
READ_METHODS = ["webhook.find", "webhook.requestExample", "webhook.responseExample", "webhook.types",
                "webhook.deliveries", "webhook.message", "webhook.stats", "webhook.trace", "webhook.erasure"]

CATALOG = ["eventCreated", "eventEdited", "eventEnd", "eventEnrollment", "eventEnrollmentUpdate", "eventDismissal",
           "eventCheckIn", "eventCheckOut", "activityEnrollment", "activityDismissal", "activityCheckIn",
           "activityCheckOut", "activityCreated", "activityEdited", "activityRemoved", "speakerCreated",
           "speakerEdited", "speakerRemoved"]
IDS = {"eventCreated": ["eventID"], "eventEdited": ["eventID"], "eventEnd": ["eventID"],
       **{t: ["eventID", "personID"] for t in CATALOG[3:8]},
       **{t: ["eventID", "activityID", "personID"] for t in CATALOG[8:12]},
       **{t: ["eventID", "activityID"] for t in CATALOG[12:15]},
       **{t: ["eventID", "speakerID"] for t in CATALOG[15:18]}}
WEBHOOK_KEYS = {"webhookID", "type", "url", "date", "status"}


@pytest.fixture
def receiver():
    with Receiver(check_schema=False) as server:
        yield server


@pytest.fixture
def token_endpoint():
    with TokenEndpoint(client_secret="cs-" + new_id("secret")) as endpoint:
        SECRETS.append(endpoint.client_secret)
        NEVER_ANSWERED.append(endpoint.client_secret)
        yield endpoint


def created(api, *args, **kwargs):
    """webhook.create, keeping its secret for the check that nothing secret is logged."""
    webhook = api.create(*args, **kwargs)
    if webhook.get("secret"):
        SECRETS.append(webhook["secret"])
    return webhook


def error_of(answer, status, field=..., code=None):
    """The answer is the contract's error, with this status (and field, and code)."""
    assert answer.status == status, answer
    body = answer.body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    if field is not ...:
        assert body["error"]["field"] == field, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def hmac_signature(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()


def signatures(headers):
    return headers["webhook-signature"].split(" ")


def verify_hmac(secret, headers, body):
    expected = "v1," + hmac_signature(secret, headers["webhook-id"], headers["webhook-timestamp"], body)
    return expected in signatures(headers)


def verify_ed25519(public_key, signature, headers, body):
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    version, _, value = signature.partition(",")
    assert version == "v1a", signature
    try:
        key.verify(base64.b64decode(value), f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body)
        return True
    except InvalidSignature:
        return False


def is_unix_seconds(value, near=None, slack=120):
    ok = isinstance(value, str) and value.isascii() and value.isdigit()
    if ok and near is not None:
        ok = abs(int(value) - near) <= slack
    return ok


def aws_call(service_run, api_name, target, payload, dynamodb=False):
    """A call to the local run's AWS backend (the addresses it prints), over plain HTTP."""
    text = "".join(service_run.lines)
    match = re.search(r"AWS backend:\s+(\S+) \(DynamoDB: (\S+)\)", text)
    assert match, text
    endpoint = match.group(2) if dynamodb else match.group(1)
    import urllib.request

    request = urllib.request.Request(endpoint + "/", data=json.dumps(payload).encode(), method="POST", headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0" if dynamodb else "application/x-amz-json-1.1",
        "Authorization": f"AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/{api_name}/aws4_request, "
                         "SignedHeaders=host, Signature=00"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def params_for(method, webhook_id="wh_none", message_id="msg_none"):
    """Parameters that make ``method`` valid enough to get past the verb and the token."""
    return {"webhook.find": {"eventID": "x"}, "webhook.types": {}, "webhook.trace": {"messageID": message_id,
                                                                                      "eventID": "x"},
            "webhook.erasure": {"erasureID": "era_none"},
            "webhook.message": {"webhookID": webhook_id, "messageID": message_id}}.get(method,
                                                                                        {"webhookID": webhook_id})


# ---------------------------------------------------------------------------------------------
# 1. Calling a method
# ---------------------------------------------------------------------------------------------


def test_s1_path_style_and_platform_style_behave_identically(api):
    event = new_id()
    path_made = api.call("webhook.create", {"eventID": event, "url": "http://127.0.0.1:9/a", "type": ENROLL})
    platform_made = api.call("webhook.create", {"eventID": event, "url": "http://127.0.0.1:9/b", "type": ENROLL},
                             style="platform")
    assert path_made.status == platform_made.status == 201, (path_made, platform_made)
    by_path = api.call("webhook.find", {"eventID": event}, verb="GET", as_="query")
    by_platform = api.call("webhook.find", {"eventID": event}, verb="GET", as_="query", style="platform")
    assert by_path.status == by_platform.status == 200
    assert by_path.body == by_platform.body
    assert [w["url"] for w in by_path.body["data"]] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    # The same refusal both ways.
    for style in ("path", "platform"):
        error_of(api.call("webhook.create", {"eventID": event, "url": "nope", "type": ENROLL}, style=style), 400,
                 "url")


@pytest.mark.parametrize("method", READ_METHODS)
@pytest.mark.parametrize("style", ["path", "platform"])
def test_s1_read_methods_accept_get_and_post(api, method, style):
    event = new_id()
    webhook = created(api, event, "http://127.0.0.1:9/r")
    message = api.dispatch(event)["messageID"]
    params = {"webhook.find": {"eventID": event}, "webhook.types": {},
              "webhook.trace": {"messageID": message, "eventID": event},
              "webhook.message": {"webhookID": webhook["webhookID"], "messageID": message}}.get(
        method, {"webhookID": webhook["webhookID"]})
    if method == "webhook.erasure":
        params = {"erasureID": api.ok("webhook.erasePerson", {"personID": "p", "eventID": event},
                                      status=202)["erasureID"]}
    if method == "webhook.message":
        wait_until(lambda: api.deliveries(webhook["webhookID"])["count"] == 1, what="the message in the log")
    by_get = api.call(method, params, verb="GET", as_="query", style=style)
    by_post = api.call(method, params, verb="POST", style=style)
    assert by_get.status == 200, by_get
    assert by_post.status == 200, by_post


@pytest.mark.parametrize("method", WRITE_METHODS)
def test_s1_write_methods_accept_post_only_any_other_verb_is_405(api, method):
    for style in ("path", "platform"):
        for verb in ("GET", "PUT", "DELETE", "PATCH"):
            as_ = "query" if verb == "GET" else "json"
            error_of(api.call(method, params_for(method), verb=verb, as_=as_, style=style), 405)


@pytest.mark.parametrize("method", READ_METHODS)
def test_s1_read_methods_refuse_other_verbs_with_405(api, method):
    for verb in ("PUT", "DELETE", "PATCH"):
        error_of(api.call(method, params_for(method), verb=verb), 405)


@pytest.mark.parametrize("as_", ["json", "form", "query"])
def test_s1_parameters_come_from_the_query_string_and_from_a_json_or_form_body(api, as_):
    event = new_id()
    answer = api.call("webhook.create", {"eventID": event, "url": "http://127.0.0.1:9/p", "type": ENROLL}, as_=as_)
    assert answer.status == 201, answer
    assert api.ok("webhook.find", {"eventID": event}, as_=as_)["count"] == 1


@pytest.mark.parametrize("as_", ["json", "form"])
def test_s1_a_body_value_overrides_a_query_value_of_the_same_name(api, as_):
    in_query, in_body = new_id(), new_id()
    created(api, in_body, "http://127.0.0.1:9/body")
    answer = api.call("webhook.find", {"eventID": in_body}, as_=as_, query={"eventID": in_query})
    assert answer.status == 200, answer
    assert [w["eventID"] for w in answer.body["data"]] == [in_body]


@pytest.mark.parametrize("where", ["query", "form", "json"])
def test_s1_a_tokenID_parameter_authenticates(api, where):
    event = new_id()
    token = api.event_token(event)
    SECRETS.append(token)
    params = {"eventID": event, "tokenID": token}
    answer = api.call("webhook.find", params, verb="GET" if where == "query" else "POST", as_=where, token="")
    assert answer.status == 200, answer


def test_s1_the_authorization_header_alone_authenticates_when_present(api):
    event = new_id()
    token = api.event_token(event)
    # A valid header wins over a tokenID that is not a token...
    answer = api.call("webhook.find", {"eventID": event, "tokenID": "tok_not-a-token"}, token=token)
    assert answer.status != 401, answer
    # ...and an unknown header is refused even beside a valid tokenID.
    error_of(api.call("webhook.find", {"eventID": event, "tokenID": token}, token="tok_unknown"), 401)


def test_s1_no_token_or_an_unknown_token_is_401(api):
    error_of(api.call("webhook.find", {"eventID": "1"}, token=""), 401)
    error_of(api.call("webhook.find", {"eventID": "1"}, token="tok_does-not-exist"), 401)
    error_of(api.call("webhook.find", {"eventID": "1", "tokenID": "tok_does-not-exist"}, token=""), 401)
    error_of(api.call("webhook.create", {"eventID": "1", "url": "http://127.0.0.1:9/", "type": ENROLL}, token=""), 401)
    for header in ("Basic dXNlcjpwdw==", "Bearer", "Bearer ", f"bearer{ADMIN_TOKEN}", ADMIN_TOKEN):
        error_of(api.call("webhook.find", {"eventID": "1"}, token="", headers={"authorization": header}), 401)


def test_s1_a_token_without_access_to_the_event_is_403(api):
    mine, theirs = new_id(), new_id()
    token = api.event_token(mine)
    error_of(api.call("webhook.find", {"eventID": theirs}, token=token), 403)
    error_of(api.call("webhook.create", {"eventID": theirs, "url": "http://127.0.0.1:9/", "type": ENROLL},
                      token=token), 403)
    assert api.call("webhook.find", {"eventID": mine}, token=token).status == 200


@pytest.mark.parametrize("method", ["webhook.requestExample", "webhook.responseExample", "webhook.remove",
                                    "webhook.update", "webhook.deliveries", "webhook.stats", "webhook.enable",
                                    "webhook.disable", "webhook.rotateSecret", "webhook.test"])
def test_s1_a_webhook_of_an_event_the_token_cannot_see_is_404_as_an_unknown_one(api, method):
    mine, theirs = new_id(), new_id()
    token = api.event_token(mine)
    foreign = created(api, theirs, "http://127.0.0.1:9/f")["webhookID"]
    unknown = "wh_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
    seen = error_of(api.call(method, {"webhookID": foreign}, token=token), 404)
    never = error_of(api.call(method, {"webhookID": unknown}, token=token), 404)
    assert seen["code"] == never["code"] and seen["field"] == never["field"]
    assert seen["message"].replace(foreign, "ID") == never["message"].replace(unknown, "ID")
    # And nothing happened to it.
    assert api.ok("webhook.find", {"eventID": theirs})["data"][0]["status"] == "enabled"


def test_s1_errors_have_one_shape_and_status_404_for_an_unknown_method(api):
    for style in ("path", "platform"):
        error_of(api.call("webhook.nothing", {}, style=style), 404)
    error_of(api.call("webhook.find", {}), 400, "eventID")


def raw_post(api, path, body, content_type, chunked=False):
    """A POST over a plain socket, the body sent whole even if the server answers early (as it may
    for a 413): the status and the answer's body."""
    port = int(api.base.rsplit(":", 1)[1])
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
            f"Content-Type: {content_type}\r\nConnection: close\r\n").encode()
    if chunked:
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        payload = head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(
            b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        payload = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    head, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {line.split(b":", 1)[0].strip().lower(): line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:]}
    if headers.get(b"transfer-encoding") == b"chunked":
        decoded = b""
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            size = int(size, 16)
            if not size:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        rest = decoded
    return status, headers, rest


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_s1_a_body_over_1_mib_is_413_and_one_of_1_mib_is_not(api, chunked):
    event = new_id()
    head, tail = ('{"eventID": "%s", "pad": "' % event).encode(), b'"}'
    over = head + b"a" * (1024 * 1024 + 1 - len(head) - len(tail)) + tail
    assert len(over) == 1024 * 1024 + 1
    status, headers, body = raw_post(api, "/api/webhook.find", over, "application/json", chunked)
    assert status == 413 and headers[b"content-type"].startswith(b"application/json"), (status, body)
    assert json.loads(body)["error"]["code"], body
    form = ("eventID=" + event + "&pad=").encode()
    form += b"a" * (1024 * 1024 + 1 - len(form))
    assert raw_post(api, "/api/webhook.find", form, "application/x-www-form-urlencoded", chunked)[0] == 413
    exactly = b" " * (1024 * 1024 - len(json.dumps({"eventID": event}))) + json.dumps({"eventID": event}).encode()
    assert len(exactly) == 1024 * 1024
    status, _, body = raw_post(api, "/api/webhook.find", exactly, "application/json", chunked)
    assert status == 200, (status, body)


def test_s1_a_dispatch_whose_delivered_body_would_pass_64_kib_is_413_on_data(api, receiver):
    event = new_id()
    created(api, event, receiver.url)
    error_of(api.call("webhook.dispatch", {"type": ENROLL, "eventID": event, "activityID": "1", "personID": "2",
                                           "data": {"big": "x" * (64 * 1024)}}), 413, "data")
    api.dispatch(event, data={"big": "x" * (60 * 1024)})
    assert len(receiver.wait_for(1)) == 1


MALFORMED = [
    ("application/json", b"{"),
    ("application/json", b"[1, 2]"),
    ("application/json", b'"text"'),
    ("application/json", b"null"),
    ("application/json", b""),
    ("application/json", b"\xff\xfe{}"),
    ("application/json", b'{"eventID": {"a": 1}}'),
    ("application/json", b'{"eventID": null}'),
    ("application/json", b'{"eventID": 1e400}'),
    ("application/json", b'{"eventID": NaN}'),
    ("application/json", b'{"eventID": "\\ud800"}'),
    ("application/json", b'{"eventID": true}'),
    ("application/json", b'{"eventID": ["a", "b"]}'),
    ("application/json", b'{"eventID": "' + b"9" * 5000 + b'"}'),
    ("application/json", b"[" * 10000 + b"]" * 10000),
    ("application/json", b'{"a": ' * 5000 + b"1" + b"}" * 5000),
    ("application/x-www-form-urlencoded", b"eventID=%ZZ&type=%"),
    ("application/x-www-form-urlencoded", b"eventID=1&eventID=2"),
    ("application/x-www-form-urlencoded", b"&&&==&"),
    ("application/x-www-form-urlencoded", b"eventID=%ff%fe"),
    ("application/x-www-form-urlencoded", b"eventID=\x00"),
    ("text/plain", b"eventID=1"),
    ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--"),
    ("application/json; charset=latin-1", b'{"eventID": "\xe9"}'),
]


@pytest.mark.parametrize("method", ["webhook.find", "webhook.create", "webhook.dispatch", "webhook.update",
                                    "token.create", "webhook.deliveries"])
def test_s1_no_input_however_malformed_produces_a_5xx(api, method):
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    for content_type, body in MALFORMED:
        answer = api.raw("POST", f"/api/{method}", body, {**auth, "content-type": content_type})
        assert answer.status < 500, (content_type, body[:60], answer)
    for query in ["eventID=%", "action=%00", "eventID=" + "%ff" * 50, "limit=99999999999999999999999999",
                  "webhookID=" + "a" * 5000, "cursor=!!!!", "cursor=" + "A" * 3000]:
        answer = api.raw("GET", f"/api/{method}?{query}", None, auth)
        assert answer.status < 500, (query, answer)
    answer = api.raw("GET", "/api/?action=" + method + "&action=webhook.find&eventID=1", None, auth)
    assert answer.status < 500, answer


def test_s1_a_body_neither_json_nor_form_is_refused_with_a_status_the_contract_lists(api):
    answer = api.raw("POST", "/api/webhook.find", b"eventID=1", {"authorization": f"Bearer {ADMIN_TOKEN}",
                                                                 "content-type": "text/plain"})
    assert answer.status in (400, 401, 403, 404, 405, 409, 413, 429), answer


# ---------------------------------------------------------------------------------------------
# 2. The webhook object, and 3. Methods
# ---------------------------------------------------------------------------------------------


def test_s2_the_webhook_object(api):
    event_number = int(time.time() * 1000) % 10**9
    url = "http://127.0.0.1:9/Hooks/InEvent?x=1&y=%20z"
    answer = api.call("webhook.create", {"eventID": event_number, "url": url, "type": ENROLL})
    assert answer.status == 201, answer
    made = answer.body
    SECRETS.append(made["secret"])
    assert WEBHOOK_KEYS | {"eventID", "secret"} <= set(made)
    assert isinstance(made["webhookID"], str) and made["webhookID"]
    assert made["eventID"] == str(event_number)
    assert made["type"] == ENROLL and made["url"] == url and made["status"] == "enabled"
    assert is_unix_seconds(made["date"], near=time.time())
    assert "companyID" not in made
    listed = api.ok("webhook.find", {"eventID": event_number})["data"]
    assert listed == [{k: v for k, v in made.items() if k != "secret"}]
    assert not any("secret" in key.lower() for key in listed[0])


def test_s2_a_webhookID_is_never_reused(api):
    event = new_id()
    ids = set()
    for _ in range(3):
        webhook = created(api, event, "http://127.0.0.1:9/same")
        assert webhook["webhookID"] not in ids
        ids.add(webhook["webhookID"])
        api.ok("webhook.remove", {"webhookID": webhook["webhookID"]})


@pytest.mark.parametrize("missing", ["eventID", "url", "type"])
def test_s3_create_needs_eventID_url_and_type(api, missing):
    params = {"eventID": new_id(), "url": "http://127.0.0.1:9/m", "type": ENROLL}
    del params[missing]
    error_of(api.call("webhook.create", params), 400, missing)


BAD_URLS = ["not a url", "/relative/path", "127.0.0.1/x", "ftp://127.0.0.1/x", "file:///etc/passwd",
            "javascript:alert(1)", "http://", "http:///x", "https://:80/x", "http://user:pw@127.0.0.1/x",
            "http://user@127.0.0.1/x", "http://:pw@127.0.0.1/x", "http://127.0.0.1:99999/x",
            "http://127.0.0.1/" + "a" * 2040, "", "mailto:a@127.0.0.1"]


@pytest.mark.parametrize("url", BAD_URLS, ids=range(len(BAD_URLS)))
def test_s3_a_url_that_is_not_an_absolute_http_url_with_a_host_is_400_on_url(api, url):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": url, "type": ENROLL}), 400, "url")


def test_s3_a_url_of_2048_characters_is_taken_and_one_of_2049_is_not(api):
    base = "http://127.0.0.1/"
    created(api, new_id(), base + "a" * (2048 - len(base)))
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": base + "a" * (2049 - len(base)), "type": ENROLL}),
             400, "url")


# Section 3 and section 8 (and section 10's site-local): non-public destinations, however spelled.
# 127.0.0.1 is exempt here (WEBHOOK_ALLOW_NETWORKS); every other loopback address is not.
BLOCKED = ["http://127.0.0.2/", "http://127.1.2.3/", "http://2130706434/", "http://0x7f000002/", "http://0177.0.0.2/",
           "http://127.2/", "http://0x7f.0.0.2/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/",
           "http://[::ffff:127.0.0.2]/", "http://[::ffff:7f00:2]/",
           "http://10.0.0.1/", "http://012.0.0.1/", "http://167772161/", "http://0xa000001/", "http://10.1/",
           "http://172.16.0.1/", "http://172.31.255.254/", "http://192.168.1.1/", "http://[fc00::1]/",
           "http://[fd12:3456::1]/", "http://169.254.169.254/latest/meta-data/", "http://2852039166/",
           "http://0xa9fea9fe/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/", "http://[::ffff:10.0.0.1]/",
           "http://224.0.0.1/", "http://239.255.255.250/", "http://[ff02::1]/", "http://0.0.0.0/", "http://0/",
           "http://[::]/", "http://240.0.0.1/", "http://255.255.255.255/", "http://[fec0::1]/",
           "http://[fed0::5]/", "https://[::ffff:192.168.0.1]:8443/x"]


@pytest.mark.parametrize("url", BLOCKED)
def test_s3_s8_a_url_that_points_at_a_non_public_address_is_400_on_url(api, url):
    answer = api.call("webhook.create", {"eventID": new_id(), "url": url, "type": ENROLL})
    if answer.status == 201:  # never leave one behind, whatever the verdict
        api.call("webhook.remove", {"webhookID": answer.body["webhookID"]})
    error_of(answer, 400, "url")


def test_s3_a_public_address_is_taken(api):
    answer = api.call("webhook.create", {"eventID": new_id(), "url": "https://1.1.1.1/hooks", "type": ENROLL})
    assert answer.status == 201, answer
    # Nothing is ever dispatched to it; it goes at once.
    api.ok("webhook.remove", {"webhookID": answer.body["webhookID"]})


@pytest.mark.parametrize("bad_type", ["activityenrollment", "ActivityEnrollment", "nope", "", "webhook.test",
                                      "activityEnrollment ", "*"])
def test_s3_a_type_not_of_the_catalog_is_400_on_type(api, bad_type):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": bad_type}), 400,
             "type")


@pytest.mark.parametrize("type_", CATALOG[1:] + ["webhookDisabled", "messageFailed"])
def test_s3_s11_every_type_of_the_catalog_can_be_taken_at_the_event_level(api, type_):
    assert created(api, new_id(), "http://127.0.0.1:9/", type=type_)["type"] == type_


def test_s3_the_same_event_type_and_url_twice_is_409_naming_the_existing_webhook(api):
    event = new_id()
    first = created(api, event, "http://127.0.0.1:9/dup")
    error = error_of(api.call("webhook.create", {"eventID": event, "url": "http://127.0.0.1:9/dup", "type": ENROLL}),
                     409)
    assert first["webhookID"] in error["message"]
    # Another type, or another event, with the same URL is no duplicate.
    created(api, event, "http://127.0.0.1:9/dup", type="activityDismissal")
    created(api, new_id(), "http://127.0.0.1:9/dup")
    assert api.ok("webhook.find", {"eventID": event})["count"] == 2


def test_s3_create_answers_201_with_a_secret_of_24_to_64_random_bytes(api):
    secrets = set()
    for _ in range(2):
        made = created(api, new_id(), "http://127.0.0.1:9/s")
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", made["secret"]), made
        assert 24 <= len(base64.b64decode(made["secret"][6:], validate=True)) <= 64
        secrets.add(made["secret"])
    assert len(secrets) == 2


def test_s3_find_lists_an_events_webhooks_in_creation_order_without_removed_ones(api):
    event = new_id()
    made = [created(api, event, f"http://127.0.0.1:9/{i}", type=t)
            for i, t in enumerate([ENROLL, "activityDismissal", ENROLL, "eventCheckIn"])]
    api.ok("webhook.remove", {"webhookID": made[1]["webhookID"]})
    api.ok("webhook.disable", {"webhookID": made[3]["webhookID"]})
    found = api.ok("webhook.find", {"eventID": event}, verb="GET", as_="query")
    assert found["count"] == 3 == len(found["data"])
    assert [w["webhookID"] for w in found["data"]] == [made[0]["webhookID"], made[2]["webhookID"],
                                                       made[3]["webhookID"]]
    typed = api.ok("webhook.find", {"eventID": event, "type": ENROLL})
    assert [w["webhookID"] for w in typed["data"]] == [made[0]["webhookID"], made[2]["webhookID"]]
    assert typed["count"] == 2


def test_s3_find_with_a_type_not_of_the_catalog_is_400_on_type(api):
    error_of(api.call("webhook.find", {"eventID": new_id(), "type": "activityenrollment"}), 400, "type")


def test_s3_find_of_an_event_with_no_webhooks_is_count_0_and_an_empty_list(api):
    assert api.ok("webhook.find", {"eventID": new_id()}, verb="GET", as_="query") == {"count": 0, "data": []}


def test_s3_remove_answers_the_removed_webhook_then_404(api):
    event = new_id()
    made = created(api, event, "http://127.0.0.1:9/rm")
    removed = api.ok("webhook.remove", {"webhookID": made["webhookID"]})
    assert removed["webhookID"] == made["webhookID"] and removed["url"] == made["url"]
    assert "secret" not in removed
    error_of(api.call("webhook.remove", {"webhookID": made["webhookID"]}), 404)
    error_of(api.call("webhook.remove", {"webhookID": "wh_01ZZZZZZZZZZZZZZZZZZZZZZZZ"}), 404)
    error_of(api.call("webhook.remove", {}), 400, "webhookID")
    assert api.ok("webhook.find", {"eventID": event})["count"] == 0


def test_s3_after_removal_nothing_more_is_sent_queued_deliveries_included(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    receiver.answer((200, 1.5))  # the first POST is held while the webhook is removed
    for _ in range(4):
        api.dispatch(event, person_id="same-person")
    receiver.wait_for(1)
    api.ok("webhook.remove", {"webhookID": webhook})
    time.sleep(2)
    assert len(receiver.requests) == 1, [r.json()["sequence"] for r in receiver.requests]


def test_s3_request_example_is_exactly_a_delivery_signed_with_the_real_secret(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url + "/ex")
    example = api.ok("webhook.requestExample", {"webhookID": made["webhookID"]}, verb="GET", as_="query")
    assert example["method"] == "POST" and example["url"] == receiver.url + "/ex"
    headers = example["headers"]
    assert {"content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"} <= set(headers)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert is_unix_seconds(headers["webhook-timestamp"], near=time.time())
    assert headers["webhook-signature"].startswith("v1,")
    assert verify_hmac(made["secret"], headers, example["body"].encode())
    assert json.loads(example["body"]) == example["payload"]
    assert example["payload"]["type"] == ENROLL and example["payload"]["webhookID"] == made["webhookID"]
    assert set(IDS[ENROLL]) <= set(example["payload"]["data"])
    assert example["payload"]["data"]["eventID"] == event
    # And a real delivery has the same headers and the same shape of body.
    api.dispatch(event)
    real = receiver.wait_for(1)[0]
    assert set(headers) <= set(real.headers)
    assert set(json.loads(example["body"])) == set(real.json())
    assert real.headers["user-agent"] == headers["user-agent"]


def test_s3_response_example_shows_the_real_configuration(api):
    made = created(api, new_id(), "http://127.0.0.1:9/rx")
    example = api.ok("webhook.responseExample", {"webhookID": made["webhookID"]}, verb="GET", as_="query")
    assert example["status"] == 200
    assert example["headers"] == {"content-type": "application/json"}
    assert example["body"] == {"received": True}
    rules = example["rules"]
    assert set(rules) >= {"success", "timeoutSeconds", "gone", "retrySchedule"}
    assert isinstance(rules["success"], str) and isinstance(rules["gone"], str)
    assert rules["timeoutSeconds"] == 3 and not isinstance(rules["timeoutSeconds"], bool)
    assert rules["retrySchedule"] == ["0s", "500ms", "500ms"]


@pytest.mark.parametrize("method", ["webhook.requestExample", "webhook.responseExample"])
def test_s3_the_examples_need_a_webhookID(api, method):
    error_of(api.call(method, {}), 400, "webhookID")
    error_of(api.call(method, {"webhookID": "wh_01ZZZZZZZZZZZZZZZZZZZZZZZZ"}), 404)


# ---------------------------------------------------------------------------------------------
# 4. What an endpoint receives, and 5. Platform events
# ---------------------------------------------------------------------------------------------


def test_s4_a_delivery_is_a_signed_post_as_standard_webhooks_has_it(api, receiver):
    from standardwebhooks.webhooks import Webhook

    event = new_id()
    made = created(api, event, receiver.url + "/in")
    sent = api.dispatch(event, person_id="5521", activity_id="98", date="1764273600", data={"seat": "A4"})
    got = receiver.wait_for(1)[0]
    assert got.path == "/in"
    assert got.headers["content-type"].split(";")[0] == "application/json"
    assert got.headers["webhook-id"] == sent["messageID"]
    assert is_unix_seconds(got.headers["webhook-timestamp"], near=time.time())
    assert signatures(got.headers) == ["v1," + hmac_signature(made["secret"], got.headers["webhook-id"],
                                                             got.headers["webhook-timestamp"], got.body)]
    Webhook(made["secret"]).verify(got.body, got.headers)  # any Standard Webhooks library verifies it
    assert re.search("inevent|webhook", got.headers["user-agent"], re.I), got.headers["user-agent"]
    body = got.json()
    assert body["type"] == ENROLL and body["webhookID"] == made["webhookID"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"]), body
    assert body["data"] == {"eventID": event, "activityID": "98", "personID": "5521", "date": "1764273600",
                            "seat": "A4"}


def test_s4_s5_without_a_date_the_data_carries_the_time_of_receipt(api, receiver):
    event = new_id()
    created(api, event, receiver.url)
    before = time.time()
    api.dispatch(event)
    assert is_unix_seconds(receiver.wait_for(1)[0].json()["data"]["date"], near=before, slack=30)


def test_s4_the_webhook_id_and_the_body_stay_the_same_on_every_retry(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url)
    receiver.answer(500, 503, 200)
    api.dispatch(event)
    got = receiver.wait_for(3, timeout=20)
    assert len(got) == 3
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    assert all(verify_hmac(made["secret"], r.headers, r.body) for r in got)


def test_s4_a_redirect_is_not_followed_it_is_a_failed_attempt(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url + "/in")["webhookID"]
    receiver.answer((302, 0.0, b"", {"location": receiver.url + "/elsewhere"}), 200)
    api.dispatch(event)
    got = receiver.wait_for(2, timeout=20)
    assert [r.path for r in got] == ["/in", "/in"]
    message = wait_until(lambda: next((m for m in api.deliveries(webhook)["data"] if m["status"] == "delivered"),
                                      None), what="the message delivered")
    assert [a["statusCode"] for a in message["attempts"]] == [302, 200]


def test_s5_dispatch_answers_202_with_the_messageID_and_how_many_webhooks_it_was_queued_for(api, receiver):
    event = new_id()
    first = created(api, event, receiver.url + "/1")
    created(api, event, receiver.url + "/2")
    created(api, event, receiver.url + "/3", type="activityDismissal")
    api.ok("webhook.disable", {"webhookID": created(api, event, receiver.url + "/4")["webhookID"]})
    answer = api.call("webhook.dispatch", {"type": ENROLL, "eventID": event, "activityID": "98", "personID": "1"})
    assert answer.status == 202, answer
    assert set(answer.body) == {"messageID", "webhooks"}
    assert answer.body["messageID"].startswith("msg_") and answer.body["webhooks"] == 2
    assert sorted(r.path for r in receiver.wait_for(2)) == ["/1", "/2"]
    assert api.ok("webhook.dispatch", {"type": ENROLL, "eventID": new_id(), "activityID": "1", "personID": "1"},
                  status=202)["webhooks"] == 0
    assert first["webhookID"] in {r.json()["webhookID"] for r in receiver.requests}


@pytest.mark.parametrize("missing", ["type", "eventID", "activityID", "personID"])
def test_s5_s11_dispatch_without_one_of_its_parameters_is_400_on_it(api, missing):
    params = {"type": ENROLL, "eventID": new_id(), "activityID": "98", "personID": "1"}
    del params[missing]
    error_of(api.call("webhook.dispatch", params), 400, missing)


@pytest.mark.parametrize("name,value", [("data", "[1, 2]"), ("data", "text"), ("data", [1]), ("date", "yesterday"),
                                        ("date", "-5"), ("type", "nope")])
def test_s5_dispatch_refuses_a_wrong_parameter_with_400_on_it(api, name, value):
    params = {"type": ENROLL, "eventID": new_id(), "activityID": "98", "personID": "1", name: value}
    error_of(api.call("webhook.dispatch", params), 400, name)


def test_s5_an_eventbridge_event_reaches_the_events_webhooks(api, receiver, service):
    event = new_id()
    made = created(api, event, receiver.url)
    before = time.time()
    detail = {"eventID": event, "activityID": "98", "personID": "77"}
    aws_call(service, "events", "AWSEvents.PutEvents", {"Entries": [
        {"Source": "inevent.platform", "DetailType": ENROLL, "Detail": json.dumps(detail), "EventBusName": "default"}]})
    got = receiver.wait_for(1, timeout=20)[0]
    assert verify_hmac(made["secret"], got.headers, got.body)
    body = got.json()
    assert body["type"] == ENROLL and body["webhookID"] == made["webhookID"]
    assert {k: body["data"][k] for k in detail} == detail
    assert is_unix_seconds(body["data"]["date"], near=before, slack=30)


# ---------------------------------------------------------------------------------------------
# 6. Tokens
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_", ["form-repeated", "comma", "json-list"])
def test_s6_token_create_takes_one_event_or_more_and_answers_201(api, as_):
    one, two, other = new_id(), new_id(), new_id()
    params, encoding = {"form-repeated": ({"eventID": [one, two]}, "form"),
                        "comma": ({"eventID": f"{one},{two}"}, "form"),
                        "json-list": ({"eventID": [one, two]}, "json")}[as_]
    answer = api.call("token.create", params, as_=encoding)
    assert answer.status == 201, answer
    SECRETS.append(answer.body["tokenID"])
    assert isinstance(answer.body["tokenID"], str) and answer.body["tokenID"]
    assert sorted(answer.body["events"]) == sorted([one, two])
    token = answer.body["tokenID"]
    for event in (one, two):
        assert api.call("webhook.find", {"eventID": event}, token=token).status == 200
    error_of(api.call("webhook.find", {"eventID": other}, token=token), 403)


def test_s6_only_an_admin_token_makes_and_revokes_tokens(api):
    event = new_id()
    token = api.event_token(event)
    SECRETS.append(token)
    error_of(api.call("token.create", {"eventID": event}, token=token), 403)
    victim = api.event_token(event)
    error_of(api.call("token.revoke", {"tokenID": victim}, token=token), 403)
    assert api.call("webhook.find", {"eventID": event}, token=victim).status == 200


def test_s6_token_revoke_stops_the_token_at_once(api):
    event = new_id()
    token = api.event_token(event)
    assert api.call("webhook.find", {"eventID": event}, token=token).status == 200
    answer = api.call("token.revoke", {"tokenID": token})  # the admin in the header, the victim as tokenID
    assert answer.status == 200, answer
    error_of(api.call("webhook.find", {"eventID": event}, token=token), 401)
    error_of(api.call("webhook.find", {"eventID": event, "tokenID": token}, token=""), 401)
    assert api.call("webhook.find", {"eventID": event}).status == 200  # the admin still works


def test_s6_tokens_are_stored_hashed(api, service):
    event = new_id()
    token = api.event_token(event)
    table = re.search(r"WEBHOOKS_TABLE=(\S+)", "".join(service.lines)).group(1)
    stored, start = [], None
    while True:
        page = aws_call(service, "dynamodb", "DynamoDB_20120810.Scan",
                        {"TableName": table, **({"ExclusiveStartKey": start} if start else {})}, dynamodb=True)
        stored.append(json.dumps(page))
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert token not in "".join(stored)
    assert token.removeprefix("tok_") not in "".join(stored)


def exported(service):
    line = next(line for line in service.lines if line.strip().startswith("export "))
    return dict(part.split("=", 1) for part in line.split()[1:])


def tokens_cli(service, *args):
    import os

    done = subprocess.run([sys.executable, "-m", "chalicelib.tokens", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **exported(service)})
    return done


def test_s6_the_command_line_makes_and_revokes_tokens(api, service):
    one, two, other = new_id(), new_id(), new_id()
    done = tokens_cli(service, "create", "--event", one, "--event", two)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1].strip()
    SECRETS.append(token)
    assert re.fullmatch(r"\S+", token), done.stdout  # the token alone on the last line
    assert api.call("webhook.find", {"eventID": one}, token=token).status == 200
    assert api.call("webhook.find", {"eventID": two}, token=token).status == 200
    error_of(api.call("webhook.find", {"eventID": other}, token=token), 403)
    error_of(api.call("webhook.dispatch", {"type": ENROLL, "eventID": one, "activityID": "1", "personID": "1"},
                      token=token), 403)
    admin = tokens_cli(service, "create", "--all")
    assert admin.returncode == 0, admin.stderr
    admin_token = admin.stdout.strip().splitlines()[-1].strip()
    SECRETS.append(admin_token)
    assert api.call("webhook.dispatch", {"type": ENROLL, "eventID": other, "activityID": "1", "personID": "1"},
                    token=admin_token).status == 202
    revoked = tokens_cli(service, "revoke", token)
    assert revoked.returncode == 0, revoked.stderr
    error_of(api.call("webhook.find", {"eventID": one}, token=token), 401)
    assert tokens_cli(service, "revoke", admin_token).returncode == 0
    error_of(api.call("webhook.find", {"eventID": one}, token=admin_token), 401)
    company = new_id("co")
    done = tokens_cli(service, "create", "--company", company)
    assert done.returncode == 0, done.stderr
    company_token = done.stdout.strip().splitlines()[-1].strip()
    SECRETS.append(company_token)
    assert api.call("webhook.find", {"companyID": company}, token=company_token).status == 200
    error_of(api.call("webhook.find", {"eventID": company}, token=company_token), 403)


# ---------------------------------------------------------------------------------------------
# 7. Settings
# ---------------------------------------------------------------------------------------------

# What make run's banner and the README say to set to reach real endpoints (make run refuses every
# address outside WEBHOOK_ALLOW_NETWORKS by default, so that nothing leaves the machine: issue 19).
REAL_ENDPOINTS = {"WEBHOOK_DESTINATIONS": "public"}
# What a run started by hand gets: no setting of the contract given.
DEFAULTS_DROPPED = ("RETRY_SCHEDULE", "DELIVERY_TIMEOUT_SECONDS", "WEBHOOK_DESTINATIONS", "INEVENT_DEV_TOKEN",
                    "RATE_LIMIT_PER_SECOND", "TEST_SENDS_PER_MINUTE", "ERASURE_SETTLE_SECONDS")


@pytest.fixture(scope="module", autouse=True)
def default_runs_started(request):
    """Two more local runs, started with the module when a check needs them, so that their start
    overlaps the first checks: one with no setting of the contract given, one with
    ``WEBHOOK_ALLOW_NETWORKS`` set empty and real endpoints allowed as the banner says (public
    addresses only)."""
    if not any("default_runs" in item.fixturenames for item in request.session.items):
        yield None
        return
    from dev.local_service import NOT_INHERITED, start_local_service

    runs = [start_local_service({"LOCAL_STATE_DIR": ""}, not_inherited=NOT_INHERITED + DEFAULTS_DROPPED),
            start_local_service({"WEBHOOK_ALLOW_NETWORKS": "", **REAL_ENDPOINTS, "LOCAL_STATE_DIR": ""},
                                not_inherited=NOT_INHERITED + DEFAULTS_DROPPED)]
    try:
        yield runs
    finally:
        stop_all(runs)


@pytest.fixture(scope="module")
def default_runs(default_runs_started):
    """The two runs of ``default_runs_started``, ready: their APIs, and their output."""
    from .black_box import Api

    runs = default_runs_started
    for run in runs:
        run.wait_ready()
    admin = re.search(r"(tok_[A-Za-z0-9_\-]{8,})", "".join(runs[0].lines))
    assert admin, "".join(runs[0].lines)  # the local run prints an admin token when it starts
    return [(Api(f"http://127.0.0.1:{run.port}", admin.group(1) if run is runs[0] else
                 re.search(r"(tok_[A-Za-z0-9_\-]{8,})", "".join(run.lines)).group(1)), run) for run in runs]


def test_s7_the_local_run_prints_an_admin_token_and_takes_INEVENT_DEV_TOKEN_as_the_admin_token(api, service,
                                                                                                  default_runs):
    assert ADMIN_TOKEN in "".join(service.lines)
    assert api.call("token.create", {"eventID": "x"}).status == 201  # INEVENT_DEV_TOKEN is the admin token
    default_api, _ = default_runs[0]
    assert default_api.token != ADMIN_TOKEN
    assert default_api.call("token.create", {"eventID": "x"}).status == 201


def test_s7_the_defaults_retry_schedule_and_timeout(default_runs, receiver):
    default_api, _ = default_runs[0]
    made = default_api.create(new_id(), receiver.url)
    rules = default_api.ok("webhook.responseExample", {"webhookID": made["webhookID"]})["rules"]
    assert rules["timeoutSeconds"] == 10
    assert rules["retrySchedule"] == ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"]


def test_s7_the_local_run_lets_loopback_receivers_be_tried_unless_the_allowed_networks_are_set(default_runs,
                                                                                               receiver):
    (default_api, _), (empty_api, _) = default_runs
    for url in (receiver.url, "http://127.0.0.2:9/", "http://[::1]:9/"):
        assert default_api.call("webhook.create", {"eventID": new_id(), "url": url, "type": ENROLL}).status == 201
    event = new_id()
    default_api.create(event, receiver.url)
    default_api.dispatch(event)
    assert len(receiver.wait_for(1)) == 1
    # An empty value counts as set: nothing private is reachable.
    error_of(empty_api.call("webhook.create", {"eventID": new_id(), "url": receiver.url, "type": ENROLL}), 400, "url")


def test_s7_s8_make_run_refuses_public_urls_until_told_as_its_banner_and_the_readme_say(default_runs):
    """Deliberate (issue 19): make run lets webhooks point at the allowed networks alone, so that
    nothing leaves the machine; its banner says how to reach real endpoints, and with that setting
    a public URL is taken at create. (Created and found only: nothing is dispatched to it.)"""
    (default_api, default_run), (real_api, real_run) = default_runs
    banner = "".join(default_run.lines)
    line = re.search(r"receivers may be on:\s*(.*)", banner)
    assert line, banner
    told = re.search(r"set (\w+)=(\S+) to reach real endpoints", line.group(1))
    assert told, line.group(0)
    assert {told.group(1): told.group(2)} == REAL_ENDPOINTS, line.group(0)
    readme = (ROOT / "README.md").read_text()
    assert f"`{told.group(1)}={told.group(2)}` to reach real endpoints" in readme
    public = "https://1.1.1.1/hooks"
    event = new_id()
    error_of(default_api.call("webhook.create", {"eventID": event, "url": public, "type": ENROLL}), 400, "url")
    loopback = default_api.create(event, "http://127.0.0.1:9/here")
    error_of(default_api.call("webhook.update", {"webhookID": loopback["webhookID"], "url": public}), 400, "url")
    assert [w["url"] for w in default_api.ok("webhook.find", {"eventID": event})["data"]] == [loopback["url"]]
    # Started with the banner's setting, the local run says so, and takes a public URL.
    assert re.search(r"receivers may be on:\s*public addresses only\s*$", "".join(real_run.lines), re.M), \
        "".join(real_run.lines)
    answer = real_api.call("webhook.create", {"eventID": event, "url": public, "type": ENROLL})
    assert answer.status == 201, answer
    try:
        assert [w["url"] for w in real_api.ok("webhook.find", {"eventID": event})["data"]] == [public]
    finally:
        real_api.ok("webhook.remove", {"webhookID": answer.body["webhookID"]})


def test_s10_the_default_rate_limits(default_runs, receiver):
    default_api, _ = default_runs[0]
    event = new_id()
    token = default_api.event_token(event)
    made = default_api.create(event, receiver.url)
    for _ in range(10):
        assert default_api.call("webhook.test", {"webhookID": made["webhookID"]}).status == 200
    answer = default_api.call("webhook.test", {"webhookID": made["webhookID"]})
    error_of(answer, 429)
    assert answer.headers.get("retry-after", "").isdigit(), answer.headers
    # A burst of twice the default 50 a second is allowed to an event token; a longer run is not.
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        burst = list(pool.map(lambda _: default_api.call("webhook.find", {"eventID": event}, token=token).status,
                              range(100)))
        assert burst.count(429) == 0, burst
        more = list(pool.map(lambda _: default_api.call("webhook.find", {"eventID": event}, token=token).status,
                             range(200)))
    took = time.monotonic() - started
    # At most the burst and 50 a second after it were let through (a little slack for the clock).
    assert (burst + more).count(200) <= 100 + 50 * took + 10, ((burst + more).count(200), took)
    if 300 / took > 100:  # sent well past the rate: some were refused
        assert 429 in more, took


# ---------------------------------------------------------------------------------------------
# 9. Beyond the platform's five methods
# ---------------------------------------------------------------------------------------------

MESSAGE_KEYS = {"messageID", "webhookID", "type", "status", "date", "attempts", "nextAttemptDate"}
ATTEMPT_KEYS = {"attempt", "date", "statusCode", "durationMs", "error", "response"}


def check_message(message):
    assert MESSAGE_KEYS <= set(message), message
    assert is_unix_seconds(message["date"], near=time.time(), slack=600)
    assert message["status"] in ("pending", "delivered", "failed", "skipped")
    assert message["nextAttemptDate"] is None or is_unix_seconds(message["nextAttemptDate"])
    for number, attempt in enumerate(message["attempts"], 1):
        assert ATTEMPT_KEYS <= set(attempt), attempt
        assert attempt["attempt"] == number
        assert is_unix_seconds(attempt["date"], near=time.time(), slack=600)
        assert attempt["statusCode"] is None or type(attempt["statusCode"]) is int
        assert type(attempt["durationMs"]) is int and attempt["durationMs"] >= 0
        assert attempt["error"] is None or isinstance(attempt["error"], str)
        assert isinstance(attempt["response"], str)


def test_s9_deliveries_lists_a_webhooks_messages_newest_first_with_every_attempt(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    sent = []
    for person in ("a", "b", "c"):
        sent.append(api.dispatch(event, person_id=person)["messageID"])
        receiver.wait_for(len(sent))
    page = wait_until(lambda: (p := api.deliveries(webhook)) and all(m["status"] == "delivered" for m in p["data"])
                      and p["count"] == 3 and p, what="three delivered messages")
    assert set(page) == {"count", "data", "cursor"} and page["cursor"] is None
    assert [m["messageID"] for m in page["data"]] == sent[::-1]
    for message in page["data"]:
        check_message(message)
        assert message["webhookID"] == webhook and message["type"] == ENROLL
        assert message["nextAttemptDate"] is None
        assert [(a["statusCode"], a["error"], a["response"]) for a in message["attempts"]] == [
            (200, None, '{"received":true}')]
    assert api.deliveries(webhook, status="delivered")["count"] == 3
    assert api.deliveries(webhook, status="failed") == {"count": 0, "data": [], "cursor": None}
    error_of(api.call("webhook.deliveries", {"webhookID": webhook, "status": "nope"}), 400, "status")
    error_of(api.call("webhook.deliveries", {}), 400, "webhookID")


def test_s9_deliveries_pages_50_by_default_and_200_at_most(api):
    event = new_id()
    webhook = created(api, event, "http://127.0.0.1:9/paged")["webhookID"]
    api.ok("webhook.disable", {"webhookID": webhook})  # what is dispatched is kept as skipped
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: api.dispatch(event, person_id=f"p{i}"), range(55)))
    first = wait_until(lambda: (p := api.deliveries(webhook)) and p["count"] == 50 and p["cursor"] and p,
                       what="a first page of 50")
    assert all(m["status"] == "skipped" for m in first["data"])
    second = api.deliveries(webhook, cursor=first["cursor"])
    assert second["count"] == 5 and second["cursor"] is None
    assert not {m["messageID"] for m in first["data"]} & {m["messageID"] for m in second["data"]}
    assert api.deliveries(webhook, limit=200)["count"] == 55
    assert api.deliveries(webhook, limit=3, status="skipped")["count"] == 3
    for bad in ("201", "0", "-1"):
        error_of(api.call("webhook.deliveries", {"webhookID": webhook, "limit": bad}, verb="GET", as_="query"), 400,
                 "limit")
    error_of(api.call("webhook.deliveries", {"webhookID": webhook, "cursor": "not-a-cursor"}), 400, "cursor")


def test_s9_a_failing_message_is_retried_on_the_schedule_then_failed(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    receiver.answer((500, 0.0, b"down"))
    message_id = api.dispatch(event)["messageID"]
    pending = wait_until(lambda: (m := api.message(webhook, message_id)) and len(m["attempts"]) >= 1 and m,
                         what="a first attempt")
    if pending["status"] == "pending":
        assert is_unix_seconds(pending["nextAttemptDate"], near=time.time(), slack=30)
    failed = wait_until(lambda: (m := api.message(webhook, message_id)) and m["status"] == "failed" and m, timeout=20,
                        what="the message failed")
    check_message(failed)
    assert [(a["attempt"], a["statusCode"], a["response"]) for a in failed["attempts"]] == [
        (1, 500, "down"), (2, 500, "down"), (3, 500, "down")]
    assert failed["nextAttemptDate"] is None
    assert len(receiver.requests) == 3


def test_s9_redeliver_one_message_keeps_its_webhook_id(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url)
    receiver.answer(500)
    message_id = api.dispatch(event)["messageID"]
    wait_until(lambda: (api.message(made["webhookID"], message_id) or {}).get("status") == "failed", timeout=20,
               what="the message failed")
    receiver.answer(200)
    answer = api.call("webhook.redeliver", {"webhookID": made["webhookID"], "messageID": message_id})
    assert answer.status == 202 and answer.body == {"queued": 1}, answer
    again = receiver.wait_for(4)[3]
    assert again.headers["webhook-id"] == message_id and again.body == receiver.requests[0].body
    assert verify_hmac(made["secret"], again.headers, again.body)
    wait_until(lambda: (api.message(made["webhookID"], message_id) or {}).get("status") == "delivered", what="delivered")


def test_s9_redeliver_since_queues_every_failed_message_since_then(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    since = str(int(time.time()) - 5)
    receiver.answer(500)
    ids = [api.dispatch(event, person_id=p)["messageID"] for p in ("x", "y")]
    wait_until(lambda: api.deliveries(webhook, status="failed")["count"] == 2, timeout=25, what="two failed")
    receiver.answer(200)
    answer = api.call("webhook.redeliver", {"webhookID": webhook, "since": since})
    assert answer.status == 202 and answer.body == {"queued": 2}, answer
    wait_until(lambda: api.deliveries(webhook, status="delivered")["count"] == 2, what="both delivered")
    assert {r.headers["webhook-id"] for r in receiver.requests} == set(ids)
    error_of(api.call("webhook.redeliver", {"webhookID": webhook}), 400)
    error_of(api.call("webhook.redeliver", {"webhookID": webhook, "since": since, "messageID": ids[0]}), 400)
    error_of(api.call("webhook.redeliver", {"webhookID": webhook, "since": "soon"}), 400, "since")


def test_s9_webhook_test_sends_one_signed_delivery_and_answers_the_attempt_whatever_the_endpoint_said(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url)
    receiver.answer((500, 0.0, b"nope"))
    answer = api.call("webhook.test", {"webhookID": made["webhookID"]})
    assert answer.status == 200, answer
    assert ATTEMPT_KEYS - {"attempt", "date"} <= set(answer.body)
    assert answer.body["statusCode"] == 500 and answer.body["response"] == "nope"
    assert type(answer.body["durationMs"]) is int
    got = receiver.wait_for(1)[0]
    assert verify_hmac(made["secret"], got.headers, got.body)
    assert got.json()["type"] == "webhook.test"
    closed = created(api, event, "http://127.0.0.1:1/closed")
    refused = api.ok("webhook.test", {"webhookID": closed["webhookID"]})
    assert refused["statusCode"] is None and refused["error"]


def test_s9_a_disabled_webhook_is_sent_nothing_and_what_was_dispatched_is_skipped(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    disabled = api.ok("webhook.disable", {"webhookID": webhook})
    assert disabled["webhookID"] == webhook and disabled["status"] == "disabled"
    assert "secret" not in disabled
    skipped = api.dispatch(event, person_id="while-disabled")
    assert skipped["webhooks"] == 0
    wait_until(lambda: api.deliveries(webhook, status="skipped")["count"] == 1, what="a skipped message")
    enabled = api.ok("webhook.enable", {"webhookID": webhook})
    assert enabled["status"] == "enabled"
    sent = api.dispatch(event, person_id="after")
    got = receiver.wait_for(1)
    time.sleep(0.5)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [sent["messageID"]]
    assert got[0].json()["data"]["personID"] == "after"


def test_s9_enabling_clears_the_failure_streak(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    receiver.answer(500)
    api.dispatch(event)
    wait_until(lambda: api.deliveries(webhook, status="failed")["count"] == 1, timeout=20, what="failed")
    assert is_unix_seconds(api.ok("webhook.stats", {"webhookID": webhook})["failingSince"])
    api.ok("webhook.disable", {"webhookID": webhook})
    api.ok("webhook.enable", {"webhookID": webhook})
    assert api.ok("webhook.stats", {"webhookID": webhook})["failingSince"] is None


def test_s9_rotate_secret_signs_with_both_secrets_new_first(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url)
    rotated = api.ok("webhook.rotateSecret", {"webhookID": made["webhookID"]})
    assert set(rotated) == {"webhookID", "secret"} and rotated["webhookID"] == made["webhookID"]
    SECRETS.append(rotated["secret"])
    assert rotated["secret"] != made["secret"] and rotated["secret"].startswith("whsec_")
    api.dispatch(event)
    got = receiver.wait_for(1)[0]
    new, old = signatures(got.headers)
    assert new == "v1," + hmac_signature(rotated["secret"], got.headers["webhook-id"], got.headers["webhook-timestamp"],
                                         got.body)
    assert old == "v1," + hmac_signature(made["secret"], got.headers["webhook-id"], got.headers["webhook-timestamp"],
                                         got.body)
    example = api.ok("webhook.requestExample", {"webhookID": made["webhookID"]})
    assert len(signatures(example["headers"])) == 2


# ---------------------------------------------------------------------------------------------
# 10. Hardening
# ---------------------------------------------------------------------------------------------

TIMEOUT = int(SETTINGS["DELIVERY_TIMEOUT_SECONDS"])


class SlowServer:
    """An endpoint on loopback that answers as slowly as asked: ``"status"`` (a status line a
    byte at a time), ``"headers"`` (a header line a byte at a time), ``"body"`` (a body a byte at a
    time), or ``"silent"`` (nothing at all)."""

    def __init__(self, how):
        self.how = how
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/slow"

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _drip(self, conn, data):
        for byte in data:
            if self.stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.25)

    def _answer(self, conn):
        try:
            conn.recv(65536)
            if self.how == "status":
                self._drip(conn, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
            elif self.how == "headers":
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                self._drip(conn, b"x-slow: " + b"a" * 100 + b"\r\n\r\n")
            elif self.how == "body":
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
                self._drip(conn, b"a" * 100)
            else:
                self.stop.wait(30)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


def test_s10_every_attempt_has_one_deadline_and_a_late_attempt_is_a_failed_one(api):
    """A slow status line, slow headers, a slow body and no answer at all (each endpoint on its
    own webhook, all at once, so that the check takes one timeout, not four)."""
    servers = {how: SlowServer(how) for how in ("status", "headers", "body", "silent")}

    def check(how):
        event = new_id()
        webhook = created(api, event, servers[how].url)["webhookID"]
        message_id = api.dispatch(event)["messageID"]  # its attempt runs while the test send does
        test = api.call("webhook.test", {"webhookID": webhook})
        assert test.status == 200, (how, test)
        # The test send answers within the timeout plus a second (and what a loaded machine adds
        # to the API call itself: half a second).
        assert test.elapsed <= TIMEOUT + 1.5, (how, test.elapsed)
        assert test.body["error"] and test.body["durationMs"] <= (TIMEOUT + 1) * 1000, (how, test.body)
        message = wait_until(lambda: (m := api.message(webhook, message_id)) and m["attempts"] and m,
                             timeout=TIMEOUT + 10, what="the late attempt recorded")
        attempt = message["attempts"][0]
        assert attempt["durationMs"] <= (TIMEOUT + 1) * 1000, (how, attempt)
        assert attempt["error"] and re.search(r"time|deadline|late|slow|within", attempt["error"], re.I), (how, attempt)
        assert not (attempt["statusCode"] and 200 <= attempt["statusCode"] < 300 and attempt["error"] is None)

    try:
        with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
            for done in [pool.submit(check, how) for how in servers]:
                done.result()
    finally:
        for server in servers.values():
            server.close()


def test_s10_no_compression_is_asked_for_or_inflated(api, receiver):
    import gzip

    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    receiver.answer((200, 0.0, gzip.compress(b'{"inflated": true}'), {"content-encoding": "gzip"}))
    message_id = api.dispatch(event)["messageID"]
    got = receiver.wait_for(1)[0]
    assert got.headers.get("accept-encoding", "identity").strip().lower() == "identity", got.headers
    message = wait_until(lambda: (m := api.message(webhook, message_id)) and m["attempts"] and m, what="an attempt")
    assert "inflated" not in message["attempts"][0]["response"], message["attempts"][0]


STRICT = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999", b'"\\ud800"', b'"a\\udfffb"', b'"\\ufffe"',
          b'"\\uffff"', b'"\\ufdd0"', b'"\\ud83f\\udfff"', b'[' * 40 + b']' * 40, b'{"a":' * 40 + b'1' + b'}' * 40]


def test_s10_strict_json_is_refused_in_a_body_or_in_data_given_as_a_string_and_never_delivered(api, receiver):
    event = new_id()
    created(api, event, receiver.url)
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"}
    for value in STRICT:
        body = b'{"type": "activityEnrollment", "eventID": "%s", "activityID": "1", "personID": "1", "data": {"x": %s}}' % (
            event.encode(), value)
        error_of(api.raw("POST", "/api/webhook.dispatch", body, auth), 400)
        form = {"type": ENROLL, "eventID": event, "activityID": "1", "personID": "1",
                "data": '{"x": ' + value.decode() + "}"}
        error_of(api.call("webhook.dispatch", form, as_="form"), 400, "data")
    sentinel = api.dispatch(event, person_id="1")["messageID"]  # the same subject: it comes after any of them
    receiver.wait_for(1)
    time.sleep(0.3)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [sentinel]


def test_s10_nesting_of_32_levels_is_taken(api, receiver):
    event = new_id()
    created(api, event, receiver.url)
    nested = {}
    inner = nested
    for _ in range(25):
        inner["n"] = {}
        inner = inner["n"]
    api.dispatch(event, data={"deep": nested})
    assert receiver.wait_for(1)[0].json()["data"]["deep"] == nested


@pytest.mark.parametrize("value", ["+5", "5.0", " 5", "5 ", "\u0665", "\uff15", "0x5", "-5", "5e1", "1" * 40, "",
                                   "５"])
def test_s10_numeric_parameters_are_plain_ascii_digits_of_sane_length(api, value):
    webhook = created(api, new_id(), "http://127.0.0.1:9/n")["webhookID"]
    error_of(api.call("webhook.deliveries", {"webhookID": webhook, "limit": value}, verb="GET", as_="query"), 400,
             "limit")
    error_of(api.call("webhook.redeliver", {"webhookID": webhook, "since": value}, as_="form"), 400, "since")


def test_s10_a_token_other_than_an_admin_token_is_rate_limited_with_retry_after(api):
    event = new_id()
    token = api.event_token(event)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: api.call("webhook.find", {"eventID": event}, token=token), range(40)))
    took = time.monotonic() - started
    rate = int(SETTINGS["RATE_LIMIT_PER_SECOND"])
    # A burst of twice the rate, then the rate (and the token.create's own call of the bucket: 1).
    assert sum(a.status == 200 for a in answers) <= 2 * rate + rate * took + 2, ([a.status for a in answers], took)
    limited = [a for a in answers if a.status == 429]
    assert limited, [a.status for a in answers]
    assert all(a.status in (200, 429) for a in answers)
    for answer in limited:
        error_of(answer, 429)
        assert answer.headers.get("retry-after", "").isdigit() and int(answer.headers["retry-after"]) >= 1, \
            answer.headers
    time.sleep(int(limited[0].headers["retry-after"]))
    assert api.call("webhook.find", {"eventID": event}, token=token).status == 200
    # The admin token is not limited.
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: api.call("webhook.find", {"eventID": event}).status, range(60)))
    assert statuses.count(429) == 0


def test_s10_webhook_test_runs_at_most_test_sends_per_minute_per_webhook(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    for _ in range(int(SETTINGS["TEST_SENDS_PER_MINUTE"])):
        assert api.call("webhook.test", {"webhookID": webhook}).status == 200
    answer = api.call("webhook.test", {"webhookID": webhook})
    error_of(answer, 429)
    assert answer.headers.get("retry-after", "").isdigit(), answer.headers
    other = created(api, event, receiver.url, type="activityDismissal")["webhookID"]
    assert api.call("webhook.test", {"webhookID": other}).status == 200


def test_s10_an_event_has_at_most_200_webhooks_however_many_creations_race(default_runs):
    # On the run with default settings, whose table is small: every webhook written makes the
    # local run's later writes slower (moto copies the whole table for each transaction).
    api = default_runs[0][0]
    event = new_id()

    def create(i):
        return api.call("webhook.create", {"eventID": event, "url": f"http://127.0.0.1:9/race/{i}", "type": ENROLL})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(210)))
    assert sum(a.status == 201 for a in answers) == 200, sorted({a.status for a in answers})
    for answer in answers:
        if answer.status != 201:
            error_of(answer, 400)
    assert api.ok("webhook.find", {"eventID": event})["count"] == 200


def test_s10_dispatch_is_the_platforms_call_an_event_token_is_403(api, receiver):
    event = new_id()
    created(api, event, receiver.url)
    token = api.event_token(event)
    error_of(api.call("webhook.dispatch", {"type": ENROLL, "eventID": event, "activityID": "1", "personID": "1"},
                      token=token), 403)
    assert api.dispatch(event)["webhooks"] == 1


def test_s10_a_token_holds_at_most_100_events(api):
    events = [new_id() for _ in range(101)]
    error_of(api.call("token.create", {"eventID": events}), 400, "eventID")
    error_of(api.call("token.create", {"eventID": ",".join(events)}, as_="form"), 400, "eventID")
    assert api.call("token.create", {"eventID": events[:100]}).status == 201


SAME_ENDPOINT = [("http://127.0.0.1:9/path", ["HTTP://127.0.0.1:9/path", "http://127.0.0.1:9/path#frag",
                                              "Http://127.0.0.1:9/path#", "http://2130706433:9/path",
                                              "http://127.1:9/path", "http://0x7f000001:9/path",
                                              "http://0177.0.0.1:9/path"]),
                 ("http://127.0.0.1/p", ["http://127.0.0.1:80/p"]),
                 ("https://127.0.0.1/p", ["https://127.0.0.1:443/p", "HTTPS://127.0.0.1:443/p#x"]),
                 ("http://localhost:9/p", ["http://LOCALHOST:9/p", "http://LocalHost:9/p#top"])]


@pytest.mark.parametrize("first,same", SAME_ENDPOINT, ids=range(len(SAME_ENDPOINT)))
def test_s10_uniqueness_compares_urls_in_one_normal_form(api, first, same):
    event = new_id()
    existing = created(api, event, first)["webhookID"]
    for url in same:
        error = error_of(api.call("webhook.create", {"eventID": event, "url": url, "type": ENROLL}), 409)
        assert existing in error["message"], (url, error)
    # The path is not the host: its case counts.
    created(api, event, first.replace("/p", "/P"))


def test_s10_idempotent_dispatch(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    params = {"type": ENROLL, "eventID": event, "activityID": "1", "personID": "idem"}
    key = {"Idempotency-Key": new_id("key")}
    first = api.call("webhook.dispatch", params, headers=key)
    again = api.call("webhook.dispatch", params, headers=key)
    assert first.status == again.status == 202, (first, again)
    assert again.body == first.body
    error_of(api.call("webhook.dispatch", {**params, "personID": "other"}, headers=key), 409)
    sentinel = api.dispatch(event, person_id="idem")["messageID"]  # the same subject: it comes after
    wait_until(lambda: sentinel in {r.headers["webhook-id"] for r in receiver.requests}, what="the sentinel")
    assert [r.headers["webhook-id"] for r in receiver.requests] == [first.body["messageID"], sentinel]
    assert api.deliveries(webhook)["count"] == 2


def test_s9_s10_an_endpoints_answer_is_kept_to_2_kib_of_utf8(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    answer = ("é" * 1500 + "x" * 100).encode()
    receiver.answer((200, 0.0, answer))
    message_id = api.dispatch(event)["messageID"]
    message = wait_until(lambda: (m := api.message(webhook, message_id)) and m["status"] == "delivered" and m,
                         what="delivered")
    kept = message["attempts"][0]["response"].encode()
    assert len(kept) <= 2048 and answer.startswith(kept) and len(kept) >= 2046


# ---------------------------------------------------------------------------------------------
# 11. The platform's whole catalog, at event and at company level
# ---------------------------------------------------------------------------------------------

SUBJECTS = {**{t: "event" for t in CATALOG[:3]}, **{t: "person" for t in CATALOG[3:12]},
            **{t: "activity" for t in CATALOG[12:15]}, **{t: "speaker" for t in CATALOG[15:18]},
            "webhookDisabled": "webhook", "messageFailed": "webhook"}
NOTICE_DATA = {"webhookDisabled": {"webhookID", "url", "type", "reason", "failingSince"},
               "messageFailed": {"webhookID", "url", "messageID", "type", "attempts", "lastError", "alsoFailed"}}


def test_s11_webhook_types_lists_the_catalog_in_order_to_any_valid_token(api):
    token = api.event_token(new_id())
    types = api.ok("webhook.types", {}, verb="GET", as_="query", token=token)
    assert set(types) == {"count", "data"}
    assert [t["type"] for t in types["data"]] == CATALOG + ["webhookDisabled", "messageFailed"]
    assert types["count"] == 20
    for entry in types["data"]:
        name = entry["type"]
        assert {"type", "description", "levels", "subject", "fields", "example"} <= set(entry), entry
        assert isinstance(entry["description"], str) and entry["description"]
        assert entry["levels"] == (["company"] if name == "eventCreated" else ["event", "company"]), entry
        assert entry["subject"] == SUBJECTS[name], entry
        example = entry["example"]
        assert example["type"] == name and {"type", "timestamp", "webhookID", "data"} <= set(example)
        if name in IDS:
            assert entry["fields"] == IDS[name], entry
            assert set(IDS[name]) <= set(example["data"]) and all(isinstance(example["data"][f], str)
                                                                  for f in IDS[name])
        else:
            assert NOTICE_DATA[name] <= set(example["data"]), example
    error_of(api.call("webhook.types", {}, token=""), 401)


def test_s11_a_webhook_is_of_one_level_exactly_one_of_eventID_and_companyID(api):
    url = "http://127.0.0.1:9/level"
    error_of(api.call("webhook.create", {"eventID": new_id(), "companyID": new_id(), "url": url, "type": ENROLL}), 400)
    error_of(api.call("webhook.create", {"url": url, "type": ENROLL}), 400)
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": url, "type": "eventCreated"}), 400, "type")
    company, event = new_id("co"), new_id()
    made = created(api, url=url, company_id=company, type="eventCreated")
    assert made["companyID"] == company and "eventID" not in made and made["type"] == "eventCreated"
    created(api, event, url)
    listed = api.ok("webhook.find", {"companyID": company})
    assert [w["webhookID"] for w in listed["data"]] == [made["webhookID"]] and "eventID" not in listed["data"][0]
    assert made["webhookID"] not in {w["webhookID"] for w in api.ok("webhook.find", {"eventID": event})["data"]}
    assert api.ok("webhook.find", {"eventID": company}) == {"count": 0, "data": []}


def test_s11_uniqueness_is_per_level(api):
    same = new_id("same")
    url = "http://127.0.0.1:9/per-level"
    created(api, same, url)
    company = created(api, url=url, company_id=same)
    error = error_of(api.call("webhook.create", {"companyID": same, "url": url, "type": ENROLL}), 409)
    assert company["webhookID"] in error["message"]


def test_s11_a_platform_event_reaches_the_events_webhooks_and_when_it_names_a_company_the_companys(api, receiver):
    company, event, sister = new_id("co"), new_id(), new_id()
    created(api, url=receiver.url + "/company", company_id=company, type="eventCheckIn")
    created(api, event, receiver.url + "/event", type="eventCheckIn")
    both = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "p", "companyID": company},
                  status=202)
    assert both["webhooks"] == 2
    got = receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/company", "/event"]
    for r in got:
        assert r.json()["data"]["companyID"] == company and r.json()["data"]["eventID"] == event
    assert api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": sister, "personID": "p",
                                       "companyID": company}, status=202)["webhooks"] == 1
    assert api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "q"},
                  status=202)["webhooks"] == 1
    receiver.wait_for(4)
    later = sorted((r.path, r.json()["data"]["eventID"]) for r in receiver.requests[2:])
    assert later == [("/company", sister), ("/event", event)]
    assert "companyID" not in receiver.requests[3].json()["data"] or receiver.requests[3].path == "/company"


@pytest.mark.parametrize("type_,params,missing", [
    ("speakerCreated", {"eventID": "e"}, "speakerID"),
    ("activityCreated", {"eventID": "e"}, "activityID"),
    ("eventEnrollment", {"eventID": "e"}, "personID"),
    ("eventEdited", {}, "eventID"),
    ("eventCreated", {"eventID": "e"}, "companyID"),
    ("activityCheckOut", {"eventID": "e", "personID": "p"}, "activityID"),
])
def test_s11_a_platform_event_without_an_id_of_its_type_is_400_with_that_field(api, type_, params, missing):
    error_of(api.call("webhook.dispatch", {"type": type_, **params}), 400, missing)


@pytest.mark.parametrize("notice", ["webhookDisabled", "messageFailed"])
def test_s15_the_platform_cannot_dispatch_the_services_own_notices(api, notice):
    error_of(api.call("webhook.dispatch", {"type": notice, "eventID": new_id(), "data": {"webhookID": "wh_x"}}), 400,
             "type")


def test_s11_sequence_counts_per_webhook_and_subject(api, receiver):
    event = new_id()
    created(api, event, receiver.url + "/one", type="eventCheckIn")
    created(api, event, receiver.url + "/two", type="eventCheckIn")
    created(api, event, receiver.url + "/activity", type="activityEdited")
    for person in ("ana", "ana", "bo", "ana"):
        api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": person}, status=202)
    for activity in ("98", "98"):
        api.ok("webhook.dispatch", {"type": "activityEdited", "eventID": event, "activityID": activity}, status=202)
    receiver.wait_for(10)
    by = {}
    for r in receiver.requests:
        body = r.json()
        subject = body["data"].get("personID") or body["data"].get("activityID")
        by.setdefault((r.path, subject), []).append(body["sequence"])
    assert by == {("/one", "ana"): [1, 2, 3], ("/one", "bo"): [1], ("/two", "ana"): [1, 2, 3], ("/two", "bo"): [1],
                  ("/activity", "98"): [1, 2]}


def test_s11_token_create_takes_companies_and_a_company_grant_reaches_only_company_level_webhooks(api):
    company, event = new_id("co"), new_id()
    answer = api.call("token.create", {"companyID": company})
    assert answer.status == 201, answer
    assert set(answer.body) == {"tokenID", "events", "companies"}
    assert answer.body["companies"] == [company] and answer.body["events"] == []
    token = answer.body["tokenID"]
    SECRETS.append(token)
    assert api.call("webhook.find", {"companyID": company}, token=token).status == 200
    error_of(api.call("webhook.find", {"eventID": event}, token=token), 403)
    event_level = created(api, event, "http://127.0.0.1:9/ev")["webhookID"]
    error_of(api.call("webhook.stats", {"webhookID": event_level}, token=token), 404)
    company_level = created(api, url="http://127.0.0.1:9/co", company_id=company)["webhookID"]
    assert api.call("webhook.stats", {"webhookID": company_level}, token=token).status == 200
    event_token = api.event_token(event)
    error_of(api.call("webhook.find", {"companyID": company}, token=event_token), 403)
    error_of(api.call("webhook.stats", {"webhookID": company_level}, token=event_token), 404)


@pytest.mark.parametrize("type_", ["speakerEdited", "activityCreated", "eventEnd", "eventCheckOut"])
def test_s11_request_example_shows_a_delivery_of_the_webhooks_own_type_with_its_ids(api, type_):
    for level in ("event", "company"):
        owner = new_id()
        made = created(api, url="http://127.0.0.1:9/x", type=type_,
                       **({"event_id": owner} if level == "event" else {"company_id": owner}))
        payload = api.ok("webhook.requestExample", {"webhookID": made["webhookID"]})["payload"]
        assert payload["type"] == type_ and set(IDS[type_]) <= set(payload["data"]), payload
        assert all(isinstance(payload["data"][f], str) for f in IDS[type_])
        assert owner in payload["data"].values()


# ---------------------------------------------------------------------------------------------
# 12. What the console needs to show a delivery
# ---------------------------------------------------------------------------------------------


def test_s12_webhook_message_shows_exactly_what_the_latest_attempt_sent(api, receiver):
    event = new_id()
    value = "hv-" + new_id("v")
    SECRETS.append(value)
    NEVER_ANSWERED.append(value)
    made = created(api, event, receiver.url, headers={"X-Api-Key": value})
    receiver.answer(500, 200)
    message_id = api.dispatch(event)["messageID"]
    got = receiver.wait_for(2)
    message = wait_until(lambda: (m := api.message(made["webhookID"], message_id)) and m["status"] == "delivered" and m,
                         what="delivered")
    check_message(message)
    assert message["messageID"] == message_id and message["webhookID"] == made["webhookID"]
    request = message["request"]
    assert set(request) >= {"headers", "body"}
    assert request["body"] == got[1].body.decode()
    lowered = {k.lower(): v for k, v in request["headers"].items()}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "user-agent"):
        assert lowered[name] == got[1].headers[name], name
    assert lowered["x-api-key"] == "[redacted]"
    error_of(api.call("webhook.message", {"webhookID": made["webhookID"], "messageID": "msg_01ZZZZZZZZZZZZZZZZZZZZZZZZ"}),
             404)
    other = created(api, event, receiver.url + "/other")["webhookID"]
    error_of(api.call("webhook.message", {"webhookID": other, "messageID": message_id}), 404)


STATS_KEYS = {"webhookID", "window", "delivered", "failed", "pending", "skipped", "successRate", "p50DurationMs",
              "p95DurationMs", "lastSuccessDate", "failingSince"}


def test_s12_webhook_stats(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    empty = api.ok("webhook.stats", {"webhookID": webhook}, verb="GET", as_="query")
    assert STATS_KEYS <= set(empty), empty
    assert empty["webhookID"] == webhook and empty["successRate"] is None
    assert empty["lastSuccessDate"] is None and empty["failingSince"] is None
    assert (empty["delivered"], empty["failed"], empty["pending"], empty["skipped"]) == (0, 0, 0, 0)
    receiver.rule = lambda request, earlier: 500 if request.json()["data"]["personID"] == "bad" else 200
    for person in ("a", "b", "bad"):
        api.dispatch(event, person_id=person)
    stats = wait_until(lambda: (s := api.ok("webhook.stats", {"webhookID": webhook})) and s["delivered"] == 2
                       and s["failed"] == 1 and s, timeout=20, what="2 delivered and 1 failed")
    assert stats["window"] == 3
    assert abs(stats["successRate"] - 2 / 3) < 0.01 and 0 <= stats["successRate"] <= 1
    assert type(stats["p50DurationMs"]) is int and type(stats["p95DurationMs"]) is int
    assert is_unix_seconds(stats["lastSuccessDate"], near=time.time())
    assert stats["failingSince"] is None or is_unix_seconds(stats["failingSince"], near=time.time())


# ---------------------------------------------------------------------------------------------
# 13. Order per subject (the crash promises themselves need the worker killed: not checked here)
# ---------------------------------------------------------------------------------------------


def test_s13_a_subjects_messages_reach_a_webhook_in_order_with_sequence_1_2_3(api, receiver):
    event = new_id()
    created(api, event, receiver.url)
    receiver.answer(500, 200)  # the first one fails once: the others wait behind it
    sent = [api.dispatch(event, person_id="ordered", data={"n": n})["messageID"] for n in range(5)]
    got = receiver.wait_for(5, successes=True, timeout=20)
    firsts = []
    for r in got:
        if r.headers["webhook-id"] not in firsts:
            firsts.append(r.headers["webhook-id"])
    assert firsts == sent
    assert [r.json()["sequence"] for r in got] == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------
# 14. Receivers in control
# ---------------------------------------------------------------------------------------------


def test_s14_update_changes_what_is_given_and_keeps_the_rest(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url + "/old", headers={"X-One": "1"}, rateLimit=5,
                   filter={"activityID": ["98"]})
    api.dispatch(event, person_id="p")
    receiver.wait_for(1)
    updated = api.ok("webhook.update", {"webhookID": made["webhookID"], "url": receiver.url + "/new"})
    assert updated["url"] == receiver.url + "/new"
    for key in ("webhookID", "eventID", "type", "date", "status", "headers", "rateLimit", "filter"):
        assert updated[key] == made[key], key
    assert "secret" not in updated
    api.dispatch(event, person_id="p")
    second = receiver.wait_for(2)[1]
    assert second.path == "/new"
    assert verify_hmac(made["secret"], second.headers, second.body)  # the secret is kept
    assert second.json()["sequence"] == 2  # and so are the sequence counts
    assert second.headers["x-one"] == "1"
    # And the delivery log (the attempt is recorded once the endpoint has answered it).
    wait_until(lambda: [m["status"] for m in api.deliveries(made["webhookID"])["data"]] == ["delivered"] * 2, timeout=5,
               what="both messages delivered in the log")


def test_s14_update_checks_a_new_url_as_at_creation_and_some_fields_cannot_change(api):
    event = new_id()
    one = created(api, event, "http://127.0.0.1:9/one")["webhookID"]
    two = created(api, event, "http://127.0.0.1:9/two")["webhookID"]
    for url in ("nope", "http://10.0.0.1/", "ftp://127.0.0.1/", "http://u:p@127.0.0.1/"):
        error_of(api.call("webhook.update", {"webhookID": two, "url": url}), 400, "url")
    error = error_of(api.call("webhook.update", {"webhookID": two, "url": "HTTP://127.0.0.1:9/one#x"}), 409)
    assert one in error["message"]
    for field, value in (("type", "activityDismissal"), ("eventID", new_id()), ("companyID", new_id())):
        error_of(api.call("webhook.update", {"webhookID": two, field: value}), 400, field)
    error_of(api.call("webhook.update", {"webhookID": "wh_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "url": "http://127.0.0.1:9/"}),
             404)
    assert api.ok("webhook.find", {"eventID": event})["data"][1]["url"] == "http://127.0.0.1:9/two"


BAD_HEADERS = [
    {f"X-H{i}": "v" for i in range(11)},
    {"X-" + "a" * 63: "v"},
    {"": "v"},
    {"X Bad": "v"},
    {"X:Bad": "v"},
    {"X-Bad\u00e9": "v"},
    {"X-Long": "a" * 1025},
    {"X-Line": "a\r\nInjected: 1"},
    {"X-Tab": "a\tb"},
    {"X-Accent": "caf\u00e9"},
    {"X-Del": "a\x7f"},
    {"X-Num": 5},
    {"X-Null": None},
    ["X-List"],
    "not json",
    *[{name: "v"} for name in ("Content-Type", "content-length", "HOST", "User-Agent", "connection",
                               "Transfer-Encoding", "TE", "upgrade", "Expect", "webhook-id", "Webhook-Signature",
                               "WEBHOOK-anything")],
]


@pytest.mark.parametrize("headers", BAD_HEADERS, ids=range(len(BAD_HEADERS)))
def test_s14_headers_out_of_the_rules_are_400_on_headers(api, headers):
    params = {"eventID": new_id(), "url": "http://127.0.0.1:9/h", "type": ENROLL, "headers": headers}
    error_of(api.call("webhook.create", params), 400, "headers")


def test_s14_headers_at_their_bounds_are_taken(api):
    made = created(api, new_id(), "http://127.0.0.1:9/h", headers={
        **{f"X-H{i}": "v" for i in range(8)}, "X-" + "a" * 62: "", "X-Long": "~" * 1024})
    assert len(made["headers"]) == 10


def test_s14_headers_are_sent_with_every_delivery_and_test_and_answered_by_name_only(api, receiver):
    event = new_id()
    value = "Bearer crm-" + new_id("v")
    SECRETS.append(value)
    NEVER_ANSWERED.append(value)
    made = created(api, event, receiver.url, headers={"X-One": "1", "Authorization": value, "x-empty": ""})
    assert made["headers"] == ["X-One", "Authorization", "x-empty"]
    assert api.ok("webhook.find", {"eventID": event})["data"][0]["headers"] == ["X-One", "Authorization", "x-empty"]
    api.dispatch(event)
    api.ok("webhook.test", {"webhookID": made["webhookID"]})
    for got in receiver.wait_for(2):
        assert got.headers["x-one"] == "1" and got.headers["authorization"] == value and got.headers["x-empty"] == ""
    removed = api.ok("webhook.update", {"webhookID": made["webhookID"], "headers": {}})
    assert removed["headers"] == []
    api.dispatch(event, person_id="after")
    got = receiver.wait_for(3)[2]
    assert "x-one" not in got.headers and "authorization" not in got.headers


@pytest.mark.parametrize("value,shown", [(0, None), (1, 1), (1000, 1000), ("7", 7)])
def test_s14_rate_limit_values_taken(api, value, shown):
    made = created(api, new_id(), "http://127.0.0.1:9/rl", rateLimit=value)
    assert made["rateLimit"] == shown
    assert created(api, new_id(), "http://127.0.0.1:9/rl")["rateLimit"] is None


@pytest.mark.parametrize("value", [1001, -1, 1.5, "abc", "", True, [1], "1e3"])
def test_s14_rate_limit_out_of_1_to_1000_is_400_on_rateLimit(api, value):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "rateLimit": value}), 400, "rateLimit")


def test_s14_rate_limit_bounds_the_attempts_started_in_any_window(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url, rateLimit=2)["webhookID"]
    sent = {}
    for n in range(10):
        person = f"r{n % 4}"
        sent.setdefault(person, []).append(api.dispatch(event, person_id=person)["messageID"])
    got = receiver.wait_for(10, timeout=30)
    assert len(got) == 10
    arrived = {}
    for r in got:
        arrived.setdefault(r.json()["data"]["personID"], []).append(r.headers["webhook-id"])
    assert arrived == sent  # held back, they keep their order
    times = sorted(r.at for r in got)
    for t in (1, 2, 3):
        for i, start in enumerate(times):
            inside = sum(1 for at in times[i:] if at < start + t)
            assert inside <= (t + 1) * 2, (t, [round(x - times[0], 2) for x in times])
    # Each once, none failed (the last attempt is recorded once the endpoint has answered it).
    page = wait_until(lambda: (lambda page: page["count"] == 10 and all(m["status"] == "delivered" for m in page["data"])
                               and page)(api.deliveries(webhook)), timeout=5, what="the ten messages delivered")
    assert all(len(m["attempts"]) == 1 and m["status"] == "delivered" for m in page["data"]), page


BAD_FILTERS = [{"speakerID": ["1"]}, {"activityID": []}, {"activityID": [str(i) for i in range(101)]},
               {"activityID": "98"}, {"activityID": [98]}, {"nope": ["1"]}, ["activityID"], "text",
               {"activityID": [""]}, {"eventID": ["1"]}]


@pytest.mark.parametrize("filter_", BAD_FILTERS, ids=range(len(BAD_FILTERS)))
def test_s14_a_filter_out_of_the_rules_is_400_on_filter(api, filter_):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "filter": filter_}), 400, "filter")


def test_s14_a_company_level_filter_may_name_eventID(api):
    made = created(api, url="http://127.0.0.1:9/", company_id=new_id("co"), filter={"eventID": ["1", "2"]})
    assert made["filter"] == {"eventID": ["1", "2"]}


def test_s14_a_filter_keeps_platform_events_out_of_the_log_the_sequence_and_the_count(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url, filter={"activityID": ["98", "99"], "personID": ["p"]})
    assert made["filter"] == {"activityID": ["98", "99"], "personID": ["p"]}
    assert api.dispatch(event, activity_id="97", person_id="p")["webhooks"] == 0
    assert api.dispatch(event, activity_id="98", person_id="q")["webhooks"] == 0
    kept = api.dispatch(event, activity_id="99", person_id="p")
    assert kept["webhooks"] == 1
    got = receiver.wait_for(1)[0]
    assert got.json()["sequence"] == 1 and got.headers["webhook-id"] == kept["messageID"]
    wait_until(lambda: [m["status"] for m in api.deliveries(made["webhookID"])["data"]] == ["delivered"], timeout=5,
               what="the one message delivered in the log")
    assert api.ok("webhook.update", {"webhookID": made["webhookID"], "filter": {}})["filter"] is None
    assert api.dispatch(event, activity_id="1", person_id="z")["webhooks"] == 1


def test_s14_deliveries_filters_on_type_from_and_to_before_limit(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    ids = {date: api.dispatch(event, person_id=f"d{date}", date=str(date))["messageID"] for date in (1000, 2000, 3000)}
    test = api.ok("webhook.test", {"webhookID": webhook})
    wait_until(lambda: api.deliveries(webhook)["count"] == 4, what="four messages")
    between = api.deliveries(webhook, **{"from": "1500", "to": "2500"})
    assert [m["messageID"] for m in between["data"]] == [ids[2000]]
    inclusive = api.deliveries(webhook, **{"from": "2000", "to": "3000"})
    assert {m["messageID"] for m in inclusive["data"]} == {ids[2000], ids[3000]}
    tests = api.deliveries(webhook, type="webhook.test")
    assert [m["type"] for m in tests["data"]] == ["webhook.test"]
    if "messageID" in test:
        assert tests["data"][0]["messageID"] == test["messageID"]
    assert api.deliveries(webhook, type=ENROLL)["count"] == 3
    one = api.deliveries(webhook, type=ENROLL, limit="1")
    assert one["count"] == 1 and one["data"][0]["type"] == ENROLL and one["cursor"]
    error_of(api.call("webhook.deliveries", {"webhookID": webhook, "type": "nope"}), 400, "type")
    error_of(api.call("webhook.deliveries", {"webhookID": webhook, "from": "soon"}), 400, "from")


# ---------------------------------------------------------------------------------------------
# 15. Organizers told, people forgotten
# ---------------------------------------------------------------------------------------------


def test_s15_webhook_disabled_is_told_to_the_events_other_webhooks_of_that_type(api, receiver, service):
    event = new_id()
    receiver.rule = lambda request, earlier: 410 if request.path in ("/gone", "/notice-gone") else 200
    gone = created(api, event, receiver.url + "/gone")
    listener = created(api, event, receiver.url + "/notice", type="webhookDisabled")
    created(api, event, receiver.url + "/notice-gone", type="webhookDisabled")
    api.dispatch(event)
    notice = wait_until(lambda: [r for r in receiver.requests if r.path == "/notice"], timeout=20,
                        what="the webhookDisabled notice")[0]
    assert verify_hmac(listener["secret"], notice.headers, notice.body)
    body = notice.json()
    assert body["type"] == "webhookDisabled" and body["webhookID"] == listener["webhookID"]
    data = body["data"]
    assert data["eventID"] == event and data["webhookID"] == gone["webhookID"] and data["url"] == gone["url"]
    assert data["type"] == ENROLL and isinstance(data["reason"], str) and data["reason"]
    assert data["failingSince"] is None or is_unix_seconds(data["failingSince"], near=time.time())
    assert {w["webhookID"]: w["status"] for w in api.ok("webhook.find", {"eventID": event})["data"]}[
        gone["webhookID"]] == "disabled"
    # The notice webhook that answered 410 is disabled too, and nothing is said about it.
    time.sleep(1)
    assert len([r for r in receiver.requests if r.path == "/notice"]) == 1
    # The notice is also put on the bus (source inevent.webhooks).
    import os

    done = subprocess.run([sys.executable, "-m", "dev.service_events", "--wait", "5"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **exported(service)})
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert any(e["source"] == "inevent.webhooks" and e["detail-type"] == "webhookDisabled"
               and e["detail"].get("webhookID") == gone["webhookID"] for e in events), done.stdout


def test_s15_message_failed_is_told_at_most_once_a_minute_about_one_webhook(api, receiver):
    event = new_id()
    receiver.rule = lambda request, earlier: 500 if request.path == "/failing" else 200
    failing = created(api, event, receiver.url + "/failing")
    listener = created(api, event, receiver.url + "/notice", type="messageFailed")
    sent = [api.dispatch(event, person_id=p)["messageID"] for p in ("a", "b", "c")]
    wait_until(lambda: api.deliveries(failing["webhookID"], status="failed")["count"] == 3, timeout=25,
               what="three messages failed")
    notices = wait_until(lambda: [r for r in receiver.requests if r.path == "/notice"], timeout=10,
                         what="a messageFailed notice")
    time.sleep(1.5)
    notices = [r for r in receiver.requests if r.path == "/notice"]
    assert len(notices) == 1, [n.json() for n in notices]
    body = notices[0].json()
    assert body["type"] == "messageFailed" and body["webhookID"] == listener["webhookID"]
    data = body["data"]
    assert data["eventID"] == event and data["webhookID"] == failing["webhookID"] and data["url"] == failing["url"]
    assert data["messageID"] in sent and data["type"] == ENROLL
    assert data["attempts"] == 3
    assert data["lastStatusCode"] == "500" and isinstance(data["lastError"], str)
    assert isinstance(data["alsoFailed"], int)


def test_s15_erase_person_forgets_a_person_in_the_logs(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url)["webhookID"]
    forgotten = [api.dispatch(event, person_id="forget-me")["messageID"] for _ in range(2)]
    kept = api.dispatch(event, person_id="keep-me")["messageID"]
    wait_until(lambda: api.deliveries(webhook, status="delivered")["count"] == 3, what="three delivered")
    token = api.event_token(event)
    error_of(api.call("webhook.erasePerson", {"personID": "forget-me", "eventID": event}, token=token), 403)
    answer = api.call("webhook.erasePerson", {"personID": "forget-me", "eventID": event})
    assert answer.status == 202 and set(answer.body) == {"erasureID"}, answer
    erasure = answer.body["erasureID"]
    error_of(api.call("webhook.erasure", {"erasureID": erasure}, token=token), 403)
    state = api.ok("webhook.erasure", {"erasureID": erasure}, verb="GET", as_="query")
    assert set(state) == {"erasureID", "status", "erased"} and state["status"] in ("running", "done")
    done = wait_until(lambda: (s := api.ok("webhook.erasure", {"erasureID": erasure}))["status"] == "done" and s,
                      timeout=60, interval=0.5, what="the erasure done")
    assert done["erased"] == 2 and done["erasureID"] == erasure
    assert [m["messageID"] for m in api.deliveries(webhook)["data"]] == [kept]
    for message_id in forgotten:
        assert api.message(webhook, message_id) is None
    stats = api.ok("webhook.stats", {"webhookID": webhook})
    assert stats["window"] == 1 and stats["delivered"] == 1
    error_of(api.call("webhook.erasure", {"erasureID": "era_unknown"}), 404)


def test_s15_after_erase_person_nothing_still_queued_about_the_person_is_sent(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url, type="eventCheckIn", rateLimit=1)["webhookID"]
    for _ in range(5):  # one a second: most of them are still queued when the erasure is asked for
        api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "queued"}, status=202)
    receiver.wait_for(1)
    erasure = api.ok("webhook.erasePerson", {"personID": "queued", "eventID": event}, status=202)["erasureID"]
    asked = time.time()
    wait_until(lambda: api.ok("webhook.erasure", {"erasureID": erasure})["status"] == "done", timeout=60,
               interval=0.5, what="the erasure done")
    time.sleep(1.5)
    assert [round(r.at - asked, 2) for r in receiver.requests if r.at > asked] == []
    assert api.deliveries(webhook)["count"] == 0


# ---------------------------------------------------------------------------------------------
# 17. Several types per webhook
# ---------------------------------------------------------------------------------------------

EVENT_LEVEL = [t for t in CATALOG if t != "eventCreated"] + ["webhookDisabled", "messageFailed"]
COMPANY_LEVEL = CATALOG + ["webhookDisabled", "messageFailed"]


def made(api, params, status=201, **kwargs):
    """webhook.create with exactly these parameters (``types`` in place of ``type``, a pull
    webhook without ``url``...), asserting ``status``; its secret kept for section 8's check."""
    answer = api.call("webhook.create", params, **kwargs)
    assert answer.status == status, answer
    if answer.body.get("secret"):
        SECRETS.append(answer.body["secret"])
    return answer.body


@pytest.mark.parametrize("as_", ["json", "form", "query"])
def test_s17_create_takes_types_as_a_json_array_or_a_comma_separated_list_shown_in_catalog_order(api, as_):
    event = new_id()
    given = ["activityEnrollment", "eventCheckIn", "eventEnrollment"]
    types = given if as_ == "json" else ",".join(given)
    webhook = made(api, {"eventID": event, "url": "http://127.0.0.1:9/crm", "types": types}, as_=as_)
    assert webhook["types"] == ["eventEnrollment", "eventCheckIn", "activityEnrollment"], webhook
    assert webhook["type"] is None
    listed = api.ok("webhook.find", {"eventID": event})["data"]
    assert listed == [{k: v for k, v in webhook.items() if k != "secret"}]


def test_s17_a_webhook_made_with_type_is_a_one_type_webhook_and_every_object_shows_types_and_type(api):
    event, company = new_id(), new_id("co")
    one = created(api, event, "http://127.0.0.1:9/one", type="eventCheckIn")
    assert one["type"] == "eventCheckIn" and one["types"] == ["eventCheckIn"]
    alone = made(api, {"eventID": event, "url": "http://127.0.0.1:9/alone", "types": ["eventEnd"]})
    assert alone["type"] == "eventEnd" and alone["types"] == ["eventEnd"]
    everything = made(api, {"eventID": event, "url": "http://127.0.0.1:9/all", "types": ["*"]})
    assert everything["type"] is None and everything["types"] == ["*"]
    at_company = made(api, {"companyID": company, "url": "http://127.0.0.1:9/co", "types": ["eventCreated", "eventEnd"]})
    assert at_company["type"] is None and at_company["types"] == ["eventCreated", "eventEnd"]
    for webhook in api.ok("webhook.find", {"eventID": event})["data"] + api.ok("webhook.find",
                                                                              {"companyID": company})["data"]:
        assert "types" in webhook and "type" in webhook, webhook
    # Every method that answers the object shows them.
    for method in ("webhook.disable", "webhook.enable", "webhook.update", "webhook.remove"):
        shown = api.ok(method, {"webhookID": everything["webhookID"]})
        assert shown["types"] == ["*"] and shown["type"] is None, (method, shown)


@pytest.mark.parametrize("level, allowed", [("eventID", EVENT_LEVEL), ("companyID", COMPANY_LEVEL)])
def test_s17_a_webhook_may_take_every_type_allowed_at_its_level(api, level, allowed):
    webhook = made(api, {level: new_id(), "url": "http://127.0.0.1:9/every", "types": list(reversed(allowed))})
    # Catalog order: webhook.types's.
    order = [t["type"] for t in api.ok("webhook.types")["data"]]
    assert webhook["types"] == [t for t in order if t in allowed] and set(webhook["types"]) == set(allowed)


TYPES_REFUSED = [[], ["nope"], ["eventcheckin"], ["eventCheckIn", "eventCheckIn"], ["eventCreated"],
                 ["eventCheckIn", "eventCreated"], ["webhook.test"], ["*", "eventCheckIn"], ["eventCheckIn", "*"],
                 ["*", "*"], [""], "eventCheckIn,,eventEnd", "eventCheckIn,eventCheckIn", "*,eventEnd", [1], [None],
                 [["eventCheckIn"]]]


def test_s17_types_empty_unknown_repeated_not_allowed_at_the_level_or_star_not_alone_are_400_on_types(api):
    event = new_id()
    webhook = created(api, event, "http://127.0.0.1:9/u", type="eventCheckIn")
    for types in TYPES_REFUSED:
        as_ = "form" if isinstance(types, str) else "json"
        error_of(api.call("webhook.create", {"eventID": event, "url": "http://127.0.0.1:9/t", "types": types},
                          as_=as_), 400, "types")
        # webhook.update refuses them alike, and changes nothing.
        error_of(api.call("webhook.update", {"webhookID": webhook["webhookID"], "types": types}, as_=as_), 400,
                 "types")
    assert [w["types"] for w in api.ok("webhook.find", {"eventID": event})["data"]] == [["eventCheckIn"]]


def test_s17_the_company_level_takes_event_created_among_its_types(api):
    webhook = made(api, {"companyID": new_id("co"), "url": "http://127.0.0.1:9/c", "types": ["eventEnd", "eventCreated"]})
    assert webhook["types"] == ["eventCreated", "eventEnd"]


@pytest.mark.parametrize("as_", ["json", "form"])
def test_s17_type_and_types_together_are_400_on_types(api, as_):
    event = new_id()
    for type_, types in (("eventCheckIn", ["eventCheckIn"]), ("eventEnd", ["eventCheckIn", "eventEnrollment"])):
        error_of(api.call("webhook.create", {"eventID": event, "url": "http://127.0.0.1:9/b", "type": type_,
                                             "types": types if as_ == "json" else ",".join(types)}, as_=as_),
                 400, "types")
    assert api.ok("webhook.find", {"eventID": event})["count"] == 0


def test_s17_update_may_change_types_and_type_itself_cannot_be_given(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url, type="eventCheckIn")
    wid = webhook["webhookID"]
    changed = api.ok("webhook.update", {"webhookID": wid, "types": ["eventCheckOut", "eventCheckIn"]})
    assert changed["types"] == ["eventCheckIn", "eventCheckOut"] and changed["type"] is None
    assert changed["url"] == webhook["url"] and changed["status"] == "enabled"
    for type_ in ("eventCheckIn", "eventCheckOut", "eventEnrollment"):
        api.ok("webhook.dispatch", {"type": type_, "eventID": event, "personID": "p"}, status=202)
    got = receiver.wait_for(2)
    time.sleep(0.5)
    assert sorted(r.json()["type"] for r in receiver.requests) == ["eventCheckIn", "eventCheckOut"]
    assert all(r.verify(webhook["secret"]) for r in got)  # the secret is kept
    back = api.ok("webhook.update", {"webhookID": wid, "types": "eventEnd"}, as_="form")
    assert back["types"] == ["eventEnd"] and back["type"] == "eventEnd"
    for value in ("eventEnd", "eventCheckIn"):
        error_of(api.call("webhook.update", {"webhookID": wid, "type": value}), 400, "type")
        error_of(api.call("webhook.update", {"webhookID": wid, "type": value, "types": [value]}), 400)
    assert api.ok("webhook.find", {"eventID": event})["data"][0]["types"] == ["eventEnd"]


def test_s17_find_with_type_lists_the_webhooks_that_take_it_alone_among_others_or_through_star(api):
    event = new_id()
    alone = created(api, event, "http://127.0.0.1:9/alone", type="eventCheckIn")["webhookID"]
    other = created(api, event, "http://127.0.0.1:9/other", type="eventEnd")["webhookID"]
    among = made(api, {"eventID": event, "url": "http://127.0.0.1:9/among",
                       "types": ["eventEnrollment", "eventCheckIn"]})["webhookID"]
    star = made(api, {"eventID": event, "url": "http://127.0.0.1:9/star", "types": ["*"]})["webhookID"]
    many_without = made(api, {"eventID": event, "url": "http://127.0.0.1:9/without",
                              "types": ["eventEnrollment", "eventCheckOut"]})["webhookID"]

    def listed(type_):
        answer = api.ok("webhook.find", {"eventID": event, "type": type_}, verb="GET", as_="query")
        assert answer["count"] == len(answer["data"])
        return [w["webhookID"] for w in answer["data"]]

    assert listed("eventCheckIn") == [alone, among, star]
    assert listed("eventEnd") == [other, star]
    assert listed("eventEnrollment") == [among, star, many_without]
    assert listed("speakerRemoved") == [star]
    assert listed("messageFailed") == [star]  # the notices are types of both levels (section 15)
    assert listed("eventCreated") == []  # a company-level type: no event-level webhook takes it


def test_s17_star_takes_every_type_of_its_level(api, receiver):
    event, company = new_id(), new_id("co")
    star = made(api, {"eventID": event, "url": receiver.url + "/event", "types": ["*"]})
    company_star = made(api, {"companyID": company, "url": receiver.url + "/company", "types": ["*"]})
    sent = [api.ok("webhook.dispatch", {"type": "eventEdited", "eventID": event}, status=202),
            api.ok("webhook.dispatch", {"type": "speakerRemoved", "eventID": event, "speakerID": "s1"}, status=202),
            api.ok("webhook.dispatch", {"type": "eventCreated", "eventID": event, "companyID": company}, status=202),
            api.ok("webhook.dispatch", {"type": "activityCheckOut", "eventID": event, "activityID": "a",
                                        "personID": "p", "companyID": company}, status=202)]
    assert [s["webhooks"] for s in sent] == [1, 1, 1, 2]
    receiver.wait_for(5)
    time.sleep(0.5)
    got = {(r.path, r.json()["type"]) for r in receiver.requests}
    assert got == {("/event", "eventEdited"), ("/event", "speakerRemoved"), ("/company", "eventCreated"),
                   ("/event", "activityCheckOut"), ("/company", "activityCheckOut")}, got
    assert len(receiver.requests) == 5
    assert {r.json()["webhookID"] for r in receiver.requests} == {star["webhookID"], company_star["webhookID"]}


def test_s17_two_webhooks_of_a_level_with_one_url_may_not_share_a_type_409_naming_the_existing_one(api):
    event, company = new_id(), new_id("co")
    first = made(api, {"eventID": event, "url": "http://127.0.0.1:9/crm", "types": ["eventEnrollment", "eventCheckIn"]})
    # Section 10's normal form: the same URL however spelled.
    for url, types in (("http://127.0.0.1:9/crm", ["eventCheckIn", "eventEnd"]), ("HTTP://127.0.0.1:9/crm#x", ["*"]),
                       ("http://127.0.0.1:9/crm", "eventEnrollment")):
        given = {"type": types} if isinstance(types, str) else {"types": types}
        error = error_of(api.call("webhook.create", {"eventID": event, "url": url, **given}), 409)
        assert first["webhookID"] in error["message"], error
    # No type shared: taken. Another level, or another event: taken.
    second = made(api, {"eventID": event, "url": "http://127.0.0.1:9/crm", "types": ["eventEnd", "eventCheckOut"]})
    company_star = made(api, {"companyID": company, "url": "http://127.0.0.1:9/crm", "types": ["*"]})
    made(api, {"eventID": new_id(), "url": "http://127.0.0.1:9/crm", "types": ["*"]})
    # A star takes every type: it shares one with any webhook of the URL.
    error = error_of(api.call("webhook.create", {"companyID": company, "url": "http://127.0.0.1:9/crm",
                                                 "types": ["eventCreated"]}), 409)
    assert company_star["webhookID"] in error["message"], error
    # webhook.update keeps the rule, and changes nothing when it refuses.
    error = error_of(api.call("webhook.update", {"webhookID": second["webhookID"], "types": ["eventEnd", "eventCheckIn"]}),
                     409)
    assert first["webhookID"] in error["message"], error
    other_url = made(api, {"eventID": event, "url": "http://127.0.0.1:9/other", "types": ["eventCheckIn"]})
    error = error_of(api.call("webhook.update", {"webhookID": other_url["webhookID"], "url": "http://127.0.0.1:9/crm"}),
                     409)
    assert first["webhookID"] in error["message"], error
    shown = {w["webhookID"]: w for w in api.ok("webhook.find", {"eventID": event})["data"]}
    assert shown[second["webhookID"]]["types"] == ["eventEnd", "eventCheckOut"]
    assert shown[other_url["webhookID"]]["url"] == "http://127.0.0.1:9/other"


def test_s17_s13_a_platform_event_reaches_each_webhook_once_and_sequence_counts_across_its_types(api, receiver):
    event = new_id()
    many = made(api, {"eventID": event, "url": receiver.url + "/crm",
                      "types": ["eventEnrollment", "eventCheckIn", "activityEnrollment"]})
    one = created(api, event, receiver.url + "/one", type="eventCheckIn")
    star = made(api, {"eventID": event, "url": receiver.url + "/star", "types": ["*"]})
    counts = [api.ok("webhook.dispatch", {"type": "eventEnrollment", "eventID": event, "personID": "ana"}, status=202),
              api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "ana"}, status=202),
              api.ok("webhook.dispatch", {"type": "activityEnrollment", "eventID": event, "personID": "ana",
                                          "activityID": "98"}, status=202),
              api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "bo"}, status=202)]
    assert [c["webhooks"] for c in counts] == [2, 3, 2, 3]
    receiver.wait_for(10)
    time.sleep(0.5)
    assert len(receiver.requests) == 10
    by = {}
    for r in receiver.requests:
        body = r.json()
        by.setdefault((r.path, body["data"]["personID"]), []).append((body["type"], body["sequence"],
                                                                      r.headers["webhook-id"]))
    assert [t[:2] for t in by[("/crm", "ana")]] == [("eventEnrollment", 1), ("eventCheckIn", 2),
                                                   ("activityEnrollment", 3)]
    assert [t[:2] for t in by[("/star", "ana")]] == [("eventEnrollment", 1), ("eventCheckIn", 2),
                                                    ("activityEnrollment", 3)]
    assert [t[:2] for t in by[("/one", "ana")]] == [("eventCheckIn", 1)]
    assert [t[:2] for t in by[("/crm", "bo")]] == [("eventCheckIn", 1)]
    # Each platform event once to each webhook, under its own messageID.
    assert [m for _, _, m in by[("/crm", "ana")]] == [c["messageID"] for c in counts[:3]]
    for r in receiver.requests:
        secret = {"/crm": many, "/one": one, "/star": star}[r.path]["secret"]
        assert r.verify(secret)
    # One delivery log for all of its types; section 14's type filter picks one.
    wait_until(lambda: api.deliveries(many["webhookID"], status="delivered")["count"] == 4, what="the log")
    assert [m["type"] for m in api.deliveries(many["webhookID"])["data"]] == [
        "eventCheckIn", "activityEnrollment", "eventCheckIn", "eventEnrollment"]
    assert [m["messageID"] for m in api.deliveries(many["webhookID"], type="eventCheckIn")["data"]] == [
        counts[3]["messageID"], counts[1]["messageID"]]


def test_s17_a_filter_field_must_be_an_id_that_every_type_of_the_webhook_carries(api, receiver):
    event = new_id()
    for types, field_ in ((["eventCheckIn", "activityEnrollment"], "activityID"), (["eventEnd", "eventCheckIn"], "personID"),
                          (["*"], "personID"), (["speakerEdited", "activityEdited"], "speakerID")):
        error_of(api.call("webhook.create", {"eventID": event, "url": "http://127.0.0.1:9/f", "types": types,
                                             "filter": {field_: ["1"]}}), 400, "filter")
    webhook = made(api, {"eventID": event, "url": receiver.url, "types": ["eventCheckIn", "activityEnrollment"],
                         "filter": {"personID": ["ana"]}})
    assert webhook["filter"] == {"personID": ["ana"]}
    # Types that would leave the filter naming an ID one of them does not carry: refused, nothing changed.
    error_of(api.call("webhook.update", {"webhookID": webhook["webhookID"], "types": ["eventCheckIn", "eventEnd"]}),
             400, "filter")
    error_of(api.call("webhook.update", {"webhookID": webhook["webhookID"], "filter": {"activityID": ["98"]}}), 400,
             "filter")
    assert api.ok("webhook.find", {"eventID": event})["data"][0]["types"] == ["eventCheckIn", "activityEnrollment"]
    for person in ("bo", "ana"):
        api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": person}, status=202)
    got = receiver.wait_for(1)
    time.sleep(0.5)
    assert [r.json()["data"]["personID"] for r in receiver.requests] == ["ana"], got
    # At the company level every type carries eventID.
    made(api, {"companyID": new_id("co"), "url": "http://127.0.0.1:9/f", "types": ["eventCreated", "speakerEdited"],
               "filter": {"eventID": ["e1"]}})


def test_s17_request_example_takes_one_of_the_webhooks_types_default_the_first_in_catalog_order(api):
    event, company = new_id(), new_id("co")
    webhook = made(api, {"eventID": event, "url": "http://127.0.0.1:9/x",
                         "types": ["speakerEdited", "activityEnrollment", "eventCheckIn"]})

    def example(webhook_id, **params):
        return api.ok("webhook.requestExample", {"webhookID": webhook_id, **params}, verb="GET", as_="query")

    default = example(webhook["webhookID"])
    assert default["payload"]["type"] == "eventCheckIn" and set(IDS["eventCheckIn"]) <= set(default["payload"]["data"])
    for type_ in ("speakerEdited", "activityEnrollment"):
        shown = example(webhook["webhookID"], type=type_)
        assert shown["payload"]["type"] == type_ and set(IDS[type_]) <= set(shown["payload"]["data"])
        assert json.loads(shown["body"]) == shown["payload"]
        assert verify_hmac(webhook["secret"], shown["headers"], shown["body"].encode())
    for other in ("eventEnd", "nope", "eventCreated"):
        error_of(api.call("webhook.requestExample", {"webhookID": webhook["webhookID"], "type": other}), 400, "type")
    event_star = made(api, {"eventID": event, "url": "http://127.0.0.1:9/s", "types": ["*"]})
    assert example(event_star["webhookID"])["payload"]["type"] == "eventEdited"
    assert example(event_star["webhookID"], type="speakerRemoved")["payload"]["type"] == "speakerRemoved"
    company_star = made(api, {"companyID": company, "url": "http://127.0.0.1:9/s", "types": ["*"]})
    assert example(company_star["webhookID"])["payload"]["type"] == "eventCreated"


def test_s17_s15_notices_among_a_webhooks_types_never_about_itself_and_no_loops(api, receiver):
    event = new_id()
    receiver.rule = lambda request, earlier: 500 if request.path.startswith("/failing") else 200
    failing = made(api, {"eventID": event, "url": receiver.url + "/failing", "types": [ENROLL, "messageFailed"]})
    told = made(api, {"eventID": event, "url": receiver.url + "/told", "types": ["messageFailed", ENROLL]})
    assert told["types"] == [ENROLL, "messageFailed"]
    # It takes another type too, and fails the notice it gets: a failed notice tells no one.
    loop = made(api, {"eventID": event, "url": receiver.url + "/failing-notices", "types": ["eventEnd", "messageFailed"]})
    message = api.dispatch(event)["messageID"]
    wait_until(lambda: api.deliveries(failing["webhookID"], status="failed")["count"] == 1, timeout=25,
               what="the message failed")
    notice = wait_until(lambda: [r for r in receiver.requests if r.path == "/told" and r.json()["type"] ==
                                 "messageFailed"], timeout=10, what="the messageFailed notice")[0].json()
    assert notice["data"]["webhookID"] == failing["webhookID"] and notice["data"]["messageID"] == message
    wait_until(lambda: api.deliveries(loop["webhookID"], status="failed")["count"] == 1, timeout=25,
               what="the notice failed")
    time.sleep(1.5)
    # The failing webhook takes messageFailed, but is not told about itself.
    assert [r.json()["type"] for r in receiver.requests if r.path == "/failing"] == [ENROLL] * 3
    assert [r.json()["type"] for r in receiver.requests if r.path == "/told"] in ([ENROLL, "messageFailed"],
                                                                                ["messageFailed", ENROLL])
    assert [r.json()["data"]["webhookID"] for r in receiver.requests if r.path == "/failing-notices"] == [
        failing["webhookID"]] * 3


# ---------------------------------------------------------------------------------------------
# 18. Pull delivery, and a relay for a developer's laptop
# ---------------------------------------------------------------------------------------------

PUSH_HEADERS = {"content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"}


def pull_webhook(api, types=("eventCheckIn",), **params):
    if "companyID" not in params:
        params.setdefault("eventID", new_id())
    return made(api, {"delivery": "pull", "types": list(types), **params})


def poll(api, webhook_id, token=None, **params):
    return api.ok("webhook.poll", {"webhookID": webhook_id, **params}, token=token)


def check_entry(entry, webhook):
    """A polled entry is what a push delivery of the message would send, signed with the secret."""
    assert set(entry) == {"messageID", "headers", "body"}, entry
    headers, body = entry["headers"], entry["body"]
    assert set(headers) == PUSH_HEADERS, headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == entry["messageID"] and entry["messageID"].startswith("msg_")
    assert is_unix_seconds(headers["webhook-timestamp"], near=time.time(), slack=30)
    assert verify_hmac(webhook["secret"], headers, body.encode())
    assert Webhook(webhook["secret"]).verify(body.encode(), headers) == json.loads(body)  # any Standard Webhooks library
    payload = json.loads(body)
    assert payload["webhookID"] == webhook["webhookID"]
    return payload


def test_s18_a_pull_webhook_has_no_url_and_shows_delivery_pull_every_other_shows_push(api):
    event = new_id()
    pull = pull_webhook(api, eventID=event)
    assert pull["delivery"] == "pull" and pull["url"] is None
    assert pull["types"] == ["eventCheckIn"] and pull["type"] == "eventCheckIn"
    assert WEBHOOK_KEYS <= set(pull) and re.fullmatch(r"whsec_[A-Za-z0-9+/]+={0,2}", pull["secret"])
    # Several pull webhooks of one type on one event: section 17's uniqueness is by URL, for push webhooks.
    again = pull_webhook(api, eventID=event)
    push = created(api, event, "http://127.0.0.1:9/push", type="eventCheckIn")
    assert push["delivery"] == "push"
    also_push = made(api, {"eventID": event, "url": "http://127.0.0.1:9/p2", "type": "eventCheckIn", "delivery": "push"})
    assert also_push["delivery"] == "push"
    listed = api.ok("webhook.find", {"eventID": event})["data"]
    assert [(w["webhookID"], w["delivery"], w["url"]) for w in listed] == [
        (pull["webhookID"], "pull", None), (again["webhookID"], "pull", None),
        (push["webhookID"], "push", push["url"]), (also_push["webhookID"], "push", also_push["url"])]
    company_pull = pull_webhook(api, types=["*"], companyID=new_id("co"))
    assert company_pull["delivery"] == "pull" and company_pull["url"] is None and company_pull["types"] == ["*"]


@pytest.mark.parametrize("params, field_", [
    ({"delivery": "pull", "url": "http://127.0.0.1:9/x"}, "url"),
    ({"delivery": "pull", "url": ""}, "url"),
    ({}, "url"),
    ({"delivery": "push"}, "url"),
    ({"delivery": "carrier-pigeon", "url": "http://127.0.0.1:9/x"}, "delivery"),
    ({"delivery": "Pull"}, "delivery"),
])
def test_s18_a_url_with_pull_or_no_url_without_it_is_400_on_url(api, params, field_):
    event = new_id()
    error_of(api.call("webhook.create", {"eventID": event, "types": ["eventCheckIn"], **params}), 400, field_)
    assert api.ok("webhook.find", {"eventID": event})["count"] == 0


def test_s18_delivery_cannot_change(api):
    event = new_id()
    pull = pull_webhook(api, eventID=event)
    push = created(api, event, "http://127.0.0.1:9/push")
    for webhook, value in ((pull, "push"), (pull, "pull"), (push, "pull"), (push, "push")):
        error_of(api.call("webhook.update", {"webhookID": webhook["webhookID"], "delivery": value}), 400, "delivery")
    # Nor by giving a pull webhook a url.
    error_of(api.call("webhook.update", {"webhookID": pull["webhookID"], "url": "http://127.0.0.1:9/x"}), 400, "url")
    assert [(w["delivery"], w["url"]) for w in api.ok("webhook.find", {"eventID": event})["data"]] == [
        ("pull", None), ("push", push["url"])]


def test_s18_poll_takes_get_and_post_and_answers_data_cursor_and_more(api):
    webhook = pull_webhook(api)
    for verb, as_, style in (("GET", "query", "path"), ("POST", "json", "path"), ("POST", "form", "platform"),
                             ("GET", "query", "platform")):
        answer = api.call("webhook.poll", {"webhookID": webhook["webhookID"]}, verb=verb, as_=as_, style=style)
        assert answer.status == 200, answer
        assert set(answer.body) == {"data", "cursor", "more"}
        assert answer.body["data"] == [] and answer.body["more"] is False and isinstance(answer.body["cursor"], str)
    for style in ("path", "platform"):
        for other in ("PUT", "DELETE", "PATCH"):
            error_of(api.call("webhook.poll", {"webhookID": webhook["webhookID"]}, verb=other, style=style), 405)


def test_s18_s1_poll_of_a_push_webhook_is_400_on_webhookID_and_of_one_the_token_cannot_see_404(api):
    push = created(api, new_id(), "http://127.0.0.1:9/push")
    error_of(api.call("webhook.poll", {"webhookID": push["webhookID"]}), 400, "webhookID")
    error_of(api.call("webhook.poll", {"webhookID": "wh_unknown"}), 404)
    error_of(api.call("webhook.poll", {}), 400, "webhookID")
    pull = pull_webhook(api)
    assert api.call("webhook.poll", {"webhookID": pull["webhookID"]}, token=api.event_token(pull["eventID"])).status == 200
    error_of(api.call("webhook.poll", {"webhookID": pull["webhookID"]}, token=api.event_token(new_id())), 404)
    error_of(api.call("webhook.poll", {"webhookID": pull["webhookID"]}, token="tok_" + "x" * 43), 401)


def test_s18_s19_an_ed25519_pull_webhooks_entries_verify_with_its_public_key_alone(api):
    webhook = made(api, {"eventID": new_id(), "delivery": "pull", "types": ["eventCheckIn"], "signature": "ed25519"})
    PUBLIC_KEYS.add(webhook["publicKey"])
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": webhook["eventID"], "personID": "p"}, status=202)
    entry = wait_until(lambda: poll(api, webhook["webhookID"])["data"], what="the message")[0]
    assert set(entry["headers"]) == PUSH_HEADERS and entry["headers"]["webhook-id"] == entry["messageID"]
    assert all(verify_ed25519(webhook["publicKey"], signature, entry["headers"], entry["body"].encode())
               for signature in signatures(entry["headers"]))


def test_s18_a_cursor_the_service_did_not_make_is_400_on_cursor(api):
    first, second = pull_webhook(api), pull_webhook(api)
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": first["eventID"], "personID": "p"}, status=202)
    cursor = wait_until(lambda: (lambda answer: answer["data"] and answer["cursor"])(poll(api, first["webhookID"])),
                        what="a message to poll")
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    for bad in ("nope", "0", "A" * len(cursor), flipped, cursor + "A", cursor[:-1], "../" + cursor):
        error_of(api.call("webhook.poll", {"webhookID": first["webhookID"], "cursor": bad}), 400, "cursor")
    # One webhook's cursor is not another's.
    error_of(api.call("webhook.poll", {"webhookID": second["webhookID"], "cursor": cursor}), 400, "cursor")
    assert poll(api, first["webhookID"], cursor=cursor)["data"] == []


def test_s18_limit_out_of_1_to_500_and_wait_out_of_0_to_20_are_400_on_that_field(api):
    webhook_id = pull_webhook(api)["webhookID"]
    for name, value in (("limit", 0), ("limit", 501), ("limit", "ten"), ("limit", -1), ("limit", 1.5), ("limit", ""),
                        ("wait", 21), ("wait", -1), ("wait", "x"), ("wait", 0.5), ("wait", "")):
        error_of(api.call("webhook.poll", {"webhookID": webhook_id, name: value}), 400, name)
    for name, value in (("limit", 1), ("limit", 500), ("wait", 0)):
        assert api.call("webhook.poll", {"webhookID": webhook_id, name: value}).status == 200


def test_s18_limit_is_100_by_default_and_1_to_500_and_more_says_a_next_poll_returns_messages_at_once(api):
    webhook = pull_webhook(api)
    event = webhook["eventID"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event,
                                                            "personID": f"p{n}"}, status=202), range(101)))
    wid = webhook["webhookID"]
    wait_until(lambda: len(poll(api, wid, limit=500)["data"]) == 101, what="the 101 messages")
    first = poll(api, wid)
    assert len(first["data"]) == 100 and first["more"] is True
    rest = poll(api, wid, cursor=first["cursor"])
    assert len(rest["data"]) == 1 and rest["more"] is False
    assert poll(api, wid, limit=500)["more"] is False
    one = poll(api, wid, limit=1)
    assert len(one["data"]) == 1 and one["more"] is True
    assert poll(api, wid, limit=1)["data"][0]["messageID"] == one["data"][0]["messageID"]


def test_s18_each_polled_entry_is_what_a_push_delivery_would_send_signed_with_the_webhooks_secret(api, receiver):
    event = new_id()
    pull = pull_webhook(api, types=["eventCheckIn", "activityEnrollment"], eventID=event)
    push = made(api, {"eventID": event, "url": receiver.url, "types": ["eventCheckIn", "activityEnrollment"]})
    sent = [api.ok("webhook.dispatch", {"type": "activityEnrollment", "eventID": event, "personID": "ana",
                                        "activityID": "98", "date": "1764273600", "data": {"seat": "4B", "vip": True}},
                   status=202),
            api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "ana"}, status=202)]
    assert [s["webhooks"] for s in sent] == [2, 2]
    pushed = receiver.wait_for(2)
    entries = wait_until(lambda: (lambda d: len(d) == 2 and d)(poll(api, pull["webhookID"])["data"]),
                         what="two messages to poll")
    assert [e["messageID"] for e in entries] == [s["messageID"] for s in sent]
    for entry, delivery in zip(entries, sorted(pushed, key=lambda r: r.json()["sequence"])):
        payload = check_entry(entry, pull)
        pushed_payload = delivery.json()
        # The same headers as the push delivery (its own webhook-id), and the same body but for the webhook's ID.
        assert PUSH_HEADERS <= set(delivery.headers)
        assert entry["headers"]["user-agent"] == delivery.headers["user-agent"]
        assert entry["headers"]["webhook-id"] == delivery.headers["webhook-id"]
        assert {**payload, "webhookID": None, "timestamp": None} == {**pushed_payload, "webhookID": None,
                                                                      "timestamp": None}
        assert list(payload) == list(pushed_payload)
    assert json.loads(entries[0]["body"])["data"] == {"eventID": event, "activityID": "98", "personID": "ana",
                                                      "date": "1764273600", "seat": "4B", "vip": True}
    assert [json.loads(e["body"])["sequence"] for e in entries] == [1, 2]
    assert push["secret"] != pull["secret"]


def test_s18_polling_again_with_an_older_cursor_returns_the_same_messages_signed_afresh(api):
    webhook = pull_webhook(api)
    wid, event = webhook["webhookID"], webhook["eventID"]
    sent = [api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": p}, status=202)["messageID"]
            for p in ("a", "b", "c")]
    start = poll(api, wid, limit=1)  # no cursor: from the oldest message kept
    assert [e["messageID"] for e in start["data"]] == sent[:1]
    rest = wait_until(lambda: (lambda a: len(a["data"]) == 2 and a)(poll(api, wid, cursor=start["cursor"])),
                      what="the other two")
    assert [e["messageID"] for e in rest["data"]] == sent[1:] and rest["more"] is False
    time.sleep(1.1)  # a second later: a new webhook-timestamp
    again = poll(api, wid, cursor=start["cursor"])
    assert [e["messageID"] for e in again["data"]] == sent[1:]
    for old, new in zip(rest["data"], again["data"]):
        check_entry(new, webhook)
        assert new["body"] == old["body"] and new["headers"]["webhook-id"] == old["headers"]["webhook-id"]
        assert int(new["headers"]["webhook-timestamp"]) > int(old["headers"]["webhook-timestamp"])
        assert new["headers"]["webhook-signature"] != old["headers"]["webhook-signature"]
    assert again["cursor"] == rest["cursor"]
    whole = poll(api, wid)
    assert [e["messageID"] for e in whole["data"]] == sent and whole["cursor"] == rest["cursor"]
    assert poll(api, wid, cursor=rest["cursor"]) == {"data": [], "cursor": rest["cursor"], "more": False}


def test_s18_with_nothing_to_return_the_answer_waits_up_to_wait_seconds_for_a_message(api):
    webhook = pull_webhook(api)
    wid, event = webhook["webhookID"], webhook["eventID"]
    quick = poll(api, wid)  # wait 0 by default: at once
    started = time.monotonic()
    empty = poll(api, wid, wait=1, cursor=quick["cursor"])
    waited = time.monotonic() - started
    assert empty["data"] == [] and waited >= 0.9, waited
    later = {}

    def dispatch_later():
        time.sleep(1)
        later["at"] = time.monotonic()
        later["id"] = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "w"},
                             status=202)["messageID"]

    thread = threading.Thread(target=dispatch_later)
    started = time.monotonic()
    thread.start()
    got = poll(api, wid, wait=20, cursor=quick["cursor"])
    answered = time.monotonic()
    thread.join()
    assert [e["messageID"] for e in got["data"]] == [later["id"]]
    # It came when the message did, not at the end of the 20 seconds (a wide margin for a loaded machine).
    assert answered - later["at"] < 8, answered - later["at"]


def test_s18_polling_with_each_answers_cursor_returns_every_message_once_none_skipped_while_dispatches_run(api):
    """Writers dispatch concurrently while three readers each follow their own chain of cursors
    (limits 3, 7 and 100, waiting for more): each reader gets every message exactly once, in one
    order, which keeps each writer's order (a subject's) and its sequence 1, 2, 3..."""
    webhook = pull_webhook(api, types=["eventCheckIn", "eventCheckOut"])
    wid, event = webhook["webhookID"], webhook["eventID"]
    writers, each = 4, 15
    sent = {w: [] for w in range(writers)}
    done = threading.Event()

    def write(w):
        for n in range(each):
            type_ = "eventCheckIn" if n % 2 == 0 else "eventCheckOut"
            sent[w].append(api.ok("webhook.dispatch", {"type": type_, "eventID": event, "personID": f"p{w}"},
                                  status=202)["messageID"])

    def read(limit):
        got, cursor = [], None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if done.is_set() and len(got) >= writers * each:
                # Everything dispatched is in: one more poll finds nothing further.
                last = api.ok("webhook.poll", {"webhookID": wid, "limit": limit, "cursor": cursor, "wait": 1})
                got.extend(last["data"])
                return got
            answer = api.ok("webhook.poll", {"webhookID": wid, "limit": limit, "wait": 1,
                                             **({"cursor": cursor} if cursor else {})})
            got.extend(answer["data"])
            cursor = answer["cursor"]
        return got

    with concurrent.futures.ThreadPoolExecutor(writers + 3) as pool:
        readers = [pool.submit(read, limit) for limit in (3, 7, 100)]
        list(pool.map(write, range(writers)))
        done.set()
        results = [reader.result() for reader in readers]
    everything = [m for w in range(writers) for m in sent[w]]
    orders = []
    for got in results:
        ids = [e["messageID"] for e in got]
        missing = set(everything) - set(ids)
        assert not missing, f"{len(missing)} of {len(everything)} messages skipped"
        assert len(ids) == len(set(ids)) == len(everything), "a message returned twice"
        for w in range(writers):
            mine = set(sent[w])
            assert [i for i in ids if i in mine] == sent[w], f"writer {w}'s messages out of order"
            assert [json.loads(e["body"])["sequence"] for e in got if e["messageID"] in mine] == list(
                range(1, each + 1))
        orders.append(ids)
    assert orders[0] == orders[1] == orders[2], "the readers saw different orders"


def test_s18_in_the_log_a_pull_message_is_pending_until_first_polled_then_delivered_with_one_attempt(api):
    webhook = pull_webhook(api)
    wid, event = webhook["webhookID"], webhook["eventID"]
    message = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "p"},
                     status=202)["messageID"]
    shown = wait_until(lambda: api.message(wid, message), what="the message in the log")
    check_message(shown)
    assert shown["status"] == "pending" and shown["attempts"] == []
    assert [m["status"] for m in api.deliveries(wid)["data"]] == ["pending"]
    assert [m["messageID"] for m in api.deliveries(wid, status="pending")["data"]] == [message]
    time.sleep(1.1)
    polled_at = int(time.time())
    poll(api, wid)
    for _ in range(2):  # polled again: still one attempt, of the first poll
        poll(api, wid)
    for shown in (api.message(wid, message), api.deliveries(wid)["data"][0]):
        check_message(shown)
        assert shown["status"] == "delivered", shown
        assert len(shown["attempts"]) == 1
        attempt = shown["attempts"][0]
        assert attempt["statusCode"] is None
        assert polled_at - 1 <= int(attempt["date"]) <= polled_at + 2, (attempt, polled_at)
    stats = api.ok("webhook.stats", {"webhookID": wid})
    assert stats["delivered"] == 1 and stats["pending"] == 0 and stats["successRate"] == 1


def test_s18_s12_stats_apply_to_a_pull_webhook_as_to_any_its_last_success_the_first_poll(api, receiver):
    pull = pull_webhook(api, types=[ENROLL])
    push = created(api, pull["eventID"], receiver.url)
    api.dispatch(pull["eventID"])
    receiver.wait_for(1)
    wait_until(lambda: poll(api, pull["webhookID"])["data"], what="the message polled")
    wait_until(lambda: api.ok("webhook.stats", {"webhookID": push["webhookID"]})["delivered"] == 1,
               what="the push delivery in the log")
    polled = api.deliveries(pull["webhookID"])["data"][0]
    pushed_stats = api.ok("webhook.stats", {"webhookID": push["webhookID"]})
    pulled_stats = api.ok("webhook.stats", {"webhookID": pull["webhookID"]})
    assert is_unix_seconds(pushed_stats["lastSuccessDate"])  # a push webhook's, for comparison
    assert pulled_stats["delivered"] == 1 and pulled_stats["successRate"] == 1
    assert pulled_stats["lastSuccessDate"] == polled["attempts"][0]["date"], pulled_stats


def test_s18_a_disabled_pull_webhook_collects_nothing_its_messages_are_skipped(api):
    webhook = pull_webhook(api)
    wid, event = webhook["webhookID"], webhook["eventID"]
    api.ok("webhook.disable", {"webhookID": wid})
    skipped = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "p"},
                     status=202)["messageID"]
    wait_until(lambda: api.deliveries(wid)["count"] == 1, what="the message in the log")
    assert [(m["messageID"], m["status"], m["attempts"]) for m in api.deliveries(wid)["data"]] == [
        (skipped, "skipped", [])]
    assert poll(api, wid)["data"] == []
    api.ok("webhook.enable", {"webhookID": wid})
    kept = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "p"},
                  status=202)["messageID"]
    entries = wait_until(lambda: poll(api, wid)["data"], what="the message after enabling")
    assert [e["messageID"] for e in entries] == [kept]
    assert json.loads(entries[0]["body"])["sequence"] == 1
    assert api.message(wid, skipped)["status"] == "skipped"


def test_s18_levels_filters_sequence_and_erasure_apply_to_pull_webhooks(api):
    event, company = new_id(), new_id("co")
    at_company = pull_webhook(api, types=["*"], companyID=company)
    filtered = pull_webhook(api, types=["eventCheckIn", "eventEnrollment"], eventID=event,
                            filter={"personID": ["ana", "bo"]})
    assert filtered["filter"] == {"personID": ["ana", "bo"]}
    error_of(api.call("webhook.create", {"eventID": event, "delivery": "pull", "types": ["eventCheckIn", "eventEnd"],
                                         "filter": {"personID": ["ana"]}}), 400, "filter")
    counts = [api.ok("webhook.dispatch", {"type": type_, "eventID": event, "personID": person, "companyID": company},
                     status=202)["webhooks"]
              for type_, person in (("eventEnrollment", "ana"), ("eventCheckIn", "cy"), ("eventCheckIn", "ana"),
                                    ("eventCheckIn", "bo"))]
    assert counts == [2, 1, 2, 2]

    def bodies(wid, n):
        entries = wait_until(lambda: (lambda d: len(d) >= n and d)(poll(api, wid)["data"]), what=f"{n} messages")
        return [json.loads(e["body"]) for e in entries]

    got = bodies(filtered["webhookID"], 3)
    assert [(b["type"], b["data"]["personID"], b["sequence"]) for b in got] == [
        ("eventEnrollment", "ana", 1), ("eventCheckIn", "ana", 2), ("eventCheckIn", "bo", 1)]
    assert all(b["data"]["companyID"] == company for b in got)
    assert [b["data"]["personID"] for b in bodies(at_company["webhookID"], 4)] == ["ana", "cy", "ana", "bo"]
    # Forgetting a person empties the pull logs of what they were about.
    erasure = api.ok("webhook.erasePerson", {"personID": "ana", "eventID": event, "companyID": company},
                     status=202)["erasureID"]
    wait_until(lambda: api.ok("webhook.erasure", {"erasureID": erasure})["status"] == "done", timeout=60,
               interval=0.3, what="the erasure done")
    assert [b["data"]["personID"] for b in bodies(filtered["webhookID"], 1)] == ["bo"]
    assert [b["data"]["personID"] for b in bodies(at_company["webhookID"], 2)] == ["cy", "bo"]
    assert {m["status"] for m in api.deliveries(filtered["webhookID"])["data"]} == {"delivered"}
    assert api.deliveries(filtered["webhookID"])["count"] == 1
    assert "ana" not in json.dumps(api.ok("webhook.stats", {"webhookID": filtered["webhookID"]}))


def test_s18_a_devices_token_polls_its_pull_webhooks_and_nothing_else(api):
    event = new_id()
    door, gate, other = (pull_webhook(api, eventID=event) for _ in range(3))
    push = created(api, event, "http://127.0.0.1:9/push", type="eventCheckIn")
    tokens = []
    for _ in range(3):  # three devices' tokens for the same webhooks: each keeps within its rate limit
        answer = api.call("token.create", {"webhookID": [door["webhookID"], gate["webhookID"]]})
        assert answer.status == 201, answer
        tokens.append(answer.body["tokenID"])
        SECRETS.append(answer.body["tokenID"])
    token = tokens[0]
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "p"}, status=202)
    for webhook in (door, gate):
        entries = wait_until(lambda: poll(api, webhook["webhookID"], token=token)["data"], what="the message")
        check_entry(entries[0], webhook)
        # Both ways of giving the token, both call styles, both verbs.
        assert api.call("webhook.poll", {"webhookID": webhook["webhookID"]}, verb="GET", as_="query",
                        style="platform", query={"tokenID": token}, token="").status == 200
    for webhook_id in (other["webhookID"], push["webhookID"], "wh_unknown"):
        error_of(api.call("webhook.poll", {"webhookID": webhook_id}, token=token), 403)
    calls = {"webhook.find": {"eventID": event}, "webhook.types": {}, "webhook.create": {
        "eventID": event, "delivery": "pull", "types": ["eventCheckIn"]}, "token.create": {"eventID": event},
        "webhook.dispatch": {"type": "eventCheckIn", "eventID": event, "personID": "p"}}
    for n, method in enumerate(WRITE_METHODS + READ_METHODS):
        params = calls.get(method, params_for(method, door["webhookID"]))
        verb = "GET" if method in READ_METHODS else "POST"
        answer = api.call(method, params, verb=verb, token=tokens[1 + n % 2])
        while answer.status == 429:  # a device's token is rate-limited as any token but an admin's (section 10)
            time.sleep(float(answer.headers["retry-after"]))
            answer = api.call(method, params, verb=verb, token=tokens[1 + n % 2])
        error_of(answer, 403)
    assert api.ok("webhook.find", {"eventID": event})["count"] == 4  # nothing was made or removed
    # token.create takes pull webhooks only.
    for webhook_id in (push["webhookID"], "wh_unknown"):
        error_of(api.call("token.create", {"webhookID": webhook_id}), 400, "webhookID")


class Relay:
    """``python -m chalicelib.listen`` run as a developer runs it, against the local run, with
    the token in ``INEVENT_TOKEN``; its terminal's lines kept."""

    def __init__(self, api, *args, token):
        # Ctrl-C reaches it as in a terminal, also when the tests run where SIGINT is ignored (a
        # background job without job control hands that on to its children).
        self.process = subprocess.Popen([sys.executable, "-m", "chalicelib.listen", *args, "--api", api.base],
                                        cwd=ROOT, env={**os.environ, "INEVENT_TOKEN": token}, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()

    @property
    def text(self):
        return "".join(self.lines)

    def wait_for(self, pattern, timeout=30):
        return wait_until(lambda: re.search(pattern, self.text), timeout=timeout, what=f"{pattern!r} from the relay")

    def interrupt(self):
        """Ctrl-C: the relay ends by itself, at once."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(15)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class LoopbackReceiver(Receiver):
    """A receiver on another loopback address than 127.0.0.1 (which the local run's checks refuse)."""

    def __init__(self, host):
        super().__init__(check_schema=False)
        handler = self.server.RequestHandlerClass
        self.server.server_close()
        self.server = type(self.server)((host, 0), handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.host = host

    @property
    def url(self):
        return f"http://{self.host}:{self.server.server_address[1]}"


def test_s18_the_relays_help_says_all():
    done = subprocess.run([sys.executable, "-m", "chalicelib.listen", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for word in ("--event", "--company", "--types", "--forward", "--api", "--webhook", "INEVENT_TOKEN", "*",
                 "http://127.0.0.1:8000", "Ctrl-C"):
        assert word in done.stdout, word


def test_s18_the_relay_makes_a_pull_webhook_for_the_session_and_forwards_each_delivery_as_a_push_one(api, receiver):
    """A session on an event, with the event's token: its pull webhook made and its secret
    printed, every delivery POSTed with exactly the headers and body of a push delivery, in order,
    one line each; Ctrl-C removes the webhook."""
    event = new_id()
    token = api.event_token(event)
    SECRETS.append(token)
    with Relay(api, "--event", event, "--types", "eventCheckIn,eventEnrollment", "--forward", receiver.url + "/hook",
               token=token) as relay:
        secret = relay.wait_for(r"(whsec_[A-Za-z0-9+/=]+)").group(1)
        relay.wait_for("Ctrl-C")
        SECRETS.append(secret)
        listed = api.ok("webhook.find", {"eventID": event})["data"]
        assert len(listed) == 1 and listed[0]["delivery"] == "pull" and listed[0]["url"] is None
        assert listed[0]["types"] == ["eventEnrollment", "eventCheckIn"]
        session = listed[0]["webhookID"]
        assert session in relay.text
        sent = [(type_, api.ok("webhook.dispatch", {"type": type_, "eventID": event, "personID": person},
                               status=202)["messageID"])
                for type_, person in (("eventEnrollment", "ana"), ("eventCheckIn", "bo"), ("eventCheckIn", "ana"))]
        got = receiver.wait_for(3, successes=True, timeout=30)
        arrived = [r.headers["webhook-id"] for r in got]
        assert sorted(arrived) == sorted(m for _, m in sent) and len(receiver.requests) == 3
        assert [m for m in arrived if m != sent[1][1]] == [sent[0][1], sent[2][1]]  # Ana's, in her order
        # Exactly the headers and body of a push delivery: what a poll of the session's webhook returns.
        entries = {e["messageID"]: e for e in poll(api, session)["data"]}
        for request in got:
            entry = entries[request.headers["webhook-id"]]
            assert request.path == "/hook" and request.body == entry["body"].encode()
            kept = PUSH_HEADERS - {"webhook-timestamp", "webhook-signature"}
            assert {k: request.headers[k] for k in kept} == {k: entry["headers"][k] for k in kept}
            assert request.verify(secret)  # with the secret it printed
        # One line a delivery: time, type, messageID, the local answer's status, duration.
        wait_until(lambda: all(m in relay.text for _, m in sent), what="a line for each delivery")
        for type_, message in sent:
            lines = [line for line in relay.lines if message in line]
            assert len(lines) == 1 and re.search(rf"\d\d:\d\d:\d\d\s+{type_}\s+{message}\s+200\s+\d+ ms", lines[0]), lines
        assert relay.interrupt() == 0
    assert api.ok("webhook.find", {"eventID": event})["count"] == 0  # Ctrl-C removed the session's webhook
    error_of(api.call("webhook.poll", {"webhookID": session}), 404)


def test_s18_the_relay_retries_a_refused_delivery_holding_its_subject_and_keeps_its_cursor_in_a_file(
        api, receiver, tmp_path):
    """On an existing pull webhook: a refused delivery is tried again with a growing pause, its
    subject's later ones waiting behind it while another subject's go on; Ctrl-C keeps the webhook,
    and started again the relay goes on from the cursor in its file."""
    webhook = pull_webhook(api, types=["eventCheckIn", "eventEnrollment"])
    wid, event = webhook["webhookID"], webhook["eventID"]
    token = api.event_token(event)
    SECRETS.append(token)
    # Both of Ana's are waiting when the relay starts: its first poll gets them together.
    first = api.ok("webhook.dispatch", {"type": "eventEnrollment", "eventID": event, "personID": "ana"},
                   status=202)["messageID"]
    second = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "ana"},
                    status=202)["messageID"]
    refused = []

    def rule(request, earlier):
        # Ana's first is refused twice, and until Bo's has been taken: were Bo's held behind it,
        # neither would ever arrive.
        if json.loads(request.body)["data"]["personID"] == "ana" and (len(refused) < 2 or not any(
                json.loads(r.body)["data"]["personID"] == "bo" and r.status == 200 for r in earlier)):
            refused.append(request.headers["webhook-id"])
            return 503
        return 200

    receiver.rule = rule
    cursor_file = tmp_path / "cursor"
    args = ("--webhook", wid, "--forward", receiver.url + "/hook", "--cursor-file", str(cursor_file))
    with Relay(api, *args, token=token) as relay:
        wait_until(lambda: refused, timeout=30, what="the first refusal")
        other = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "bo"},
                       status=202)["messageID"]
        got = receiver.wait_for(3, successes=True, timeout=40)
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        assert set(refused) == {first}, ids  # Ana's second never went before her first
        assert [r.headers["webhook-id"] for r in got] == [other, first, second], ids
        assert ids.count(first) >= 3 and ids.count(second) == 1 and ids.count(other) == 1, ids
        tries = [r.at for r in receiver.requests if r.headers["webhook-id"] == first]
        gaps = [b - a for a, b in zip(tries, tries[1:])]
        assert gaps[1] > gaps[0] + 0.5, gaps  # a growing pause
        wait_until(lambda: relay.text.count(first) == ids.count(first), what="a line for each try")
        lines = [line for line in relay.lines if first in line]
        assert all(re.search(rf"eventEnrollment\s+{first}\s+503\s", line) for line in lines[:-1]), lines
        assert re.search(rf"eventEnrollment\s+{first}\s+200\s", lines[-1]), lines
        for request in got:
            assert request.verify(webhook["secret"])
        wait_until(lambda: cursor_file.exists(), what="the cursor kept")
        time.sleep(0.3)
        assert relay.interrupt() == 0
    assert api.ok("webhook.find", {"eventID": event})["data"][0]["webhookID"] == wid  # not removed
    while_stopped = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "cy"},
                           status=202)["messageID"]
    with Relay(api, *args, token=token):
        receiver.wait_for(4, successes=True, timeout=30)
        time.sleep(0.5)
    later = [r.headers["webhook-id"] for r in receiver.requests][len(ids):]
    assert later == [while_stopped], later


def test_s18_the_relay_forwards_to_any_address_on_the_machine_at_the_company_level_every_type_by_default(api):
    company = new_id("co")
    # 127.0.0.2: an address the local run's destination checks refuse; the relay's request is its own.
    error_of(api.call("webhook.create", {"companyID": company, "url": "http://127.0.0.2:9/", "type": "eventEnd"}), 400,
             "url")
    with LoopbackReceiver("127.0.0.2") as local, Relay(api, "--company", company, "--forward", local.url + "/in",
                                                        token=ADMIN_TOKEN) as relay:
        relay.wait_for("Ctrl-C")
        listed = api.ok("webhook.find", {"companyID": company})["data"]
        assert [(w["delivery"], w["types"]) for w in listed] == [("pull", ["*"])]
        sent = [api.ok("webhook.dispatch", {"type": "eventCreated", "eventID": "e1", "companyID": company},
                       status=202)["messageID"],
                api.ok("webhook.dispatch", {"type": "speakerRemoved", "eventID": "e1", "speakerID": "s",
                                            "companyID": company}, status=202)["messageID"]]
        got = local.wait_for(2, successes=True, timeout=30)
        assert [r.headers["webhook-id"] for r in got] == sent
        assert [r.json()["type"] for r in got] == ["eventCreated", "speakerRemoved"]
        assert relay.interrupt() == 0
    assert api.ok("webhook.find", {"companyID": company})["count"] == 0


# ---------------------------------------------------------------------------------------------
# 19. Signatures without a shared secret
# ---------------------------------------------------------------------------------------------


def public_key_bytes(public_key):
    assert re.fullmatch(r"whpk_[A-Za-z0-9+/]+={0,2}", public_key), public_key
    raw = base64.b64decode(public_key[5:], validate=True)
    assert len(raw) == 32
    return raw


def test_s19_an_ed25519_webhook_signs_every_delivery_v1a_verified_with_its_public_key_alone(api, receiver):
    from nacl.signing import VerifyKey

    event = new_id()
    answer = api.call("webhook.create", {"eventID": event, "url": receiver.url, "type": ENROLL,
                                         "signature": "ed25519"})
    assert answer.status == 201, answer
    made = answer.body
    assert "secret" not in made and made["signature"] == "ed25519"
    key = made["publicKey"]
    public_key_bytes(key)
    PUBLIC_KEYS.add(key)
    listed = api.ok("webhook.find", {"eventID": event})["data"][0]
    assert listed["publicKey"] == key and listed["signature"] == "ed25519"
    hmac_one = created(api, event, receiver.url + "/hmac")
    assert hmac_one["signature"] == "hmac" and "secret" in hmac_one
    api.dispatch(event)
    api.ok("webhook.test", {"webhookID": made["webhookID"]})
    got = [r for r in receiver.wait_for(3) if r.path != "/hmac"]
    assert len(got) == 2
    for r in got:
        assert len(signatures(r.headers)) == 1 and verify_ed25519(key, signatures(r.headers)[0], r.headers, r.body)
        # Any Ed25519 implementation: libsodium too.
        VerifyKey(public_key_bytes(key)).verify(
            f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body,
            base64.b64decode(signatures(r.headers)[0][4:]))
    example = api.ok("webhook.requestExample", {"webhookID": made["webhookID"]})
    assert verify_ed25519(key, example["headers"]["webhook-signature"], example["headers"], example["body"].encode())


@pytest.mark.parametrize("value", ["HMAC", "Ed25519", "rsa", "", "ed448", "v1a"])
def test_s19_a_signature_other_than_hmac_or_ed25519_is_400_on_signature(api, value):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "signature": value}), 400, "signature")


def test_s19_signature_hmac_is_the_default_and_can_be_asked_for(api):
    made = created(api, new_id(), "http://127.0.0.1:9/", signature="hmac")
    assert made["signature"] == "hmac" and made["secret"].startswith("whsec_")


@pytest.mark.parametrize("value", ["hmac", "ed25519"])
def test_s19_signature_cannot_change(api, value):
    made = created(api, new_id(), "http://127.0.0.1:9/", signature="ed25519")
    error_of(api.call("webhook.update", {"webhookID": made["webhookID"], "signature": value}), 400, "signature")


def test_s19_rotating_an_ed25519_webhook_makes_a_new_key_pair_and_signs_with_both_for_a_day(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url, signature="ed25519")
    old = made["publicKey"]
    rotated = api.ok("webhook.rotateSecret", {"webhookID": made["webhookID"]})
    assert set(rotated) == {"webhookID", "publicKey"} and rotated["webhookID"] == made["webhookID"]
    new = rotated["publicKey"]
    PUBLIC_KEYS.update({old, new})
    assert new != old
    public_key_bytes(new)
    listed = api.ok("webhook.find", {"eventID": event})["data"][0]
    assert listed["publicKey"] == new and listed["previousPublicKey"] == old
    api.dispatch(event)
    got = receiver.wait_for(1)[0]
    first, second = signatures(got.headers)
    assert verify_ed25519(new, first, got.headers, got.body)
    assert verify_ed25519(old, second, got.headers, got.body)


# ---------------------------------------------------------------------------------------------
# 20. Endpoints that ask for credentials
# ---------------------------------------------------------------------------------------------


def test_s20_deliveries_carry_an_access_token_got_with_the_client_credentials_grant(api, receiver, token_endpoint):
    event = new_id()
    auth = {**token_endpoint.auth(), "scope": "webhooks read"}
    made = created(api, event, receiver.url, auth=auth)
    shown = {"type": "oauth2", "tokenUrl": token_endpoint.url, "clientID": token_endpoint.client_id,
             "scope": "webhooks read"}
    assert made["auth"] == shown
    assert api.ok("webhook.find", {"eventID": event})["data"][0]["auth"] == shown
    for person in ("a", "b"):
        api.dispatch(event, person_id=person)
        receiver.wait_for(1 if person == "a" else 2)
    api.ok("webhook.test", {"webhookID": made["webhookID"]})
    got = receiver.wait_for(3)
    assert [r.headers.get("authorization") for r in got] == ["Bearer tok-1"] * 3
    assert len(token_endpoint.requests) == 1
    request = token_endpoint.requests[0]
    assert request.method == "POST" and request.path == "/oauth/token"
    assert request.headers["content-type"].split(";")[0] == "application/x-www-form-urlencoded"
    assert request.form == {"grant_type": "client_credentials", "scope": "webhooks read"}
    assert request.client == (token_endpoint.client_id, token_endpoint.client_secret)
    message_id = got[0].headers["webhook-id"]
    message = wait_until(lambda: api.message(made["webhookID"], message_id), what="the message")
    assert {k.lower(): v for k, v in message["request"]["headers"].items()}["authorization"] == "[redacted]"


def test_s20_the_client_is_authenticated_with_http_basic_form_urlencoded_as_rfc_6749_2_3_1_has_it(api, receiver):
    secret = "s e+c/r%t:" + new_id("x")
    SECRETS.append(secret)
    NEVER_ANSWERED.append(secret)
    with TokenEndpoint(client_id="in:event +1", client_secret=secret) as endpoint:
        event = new_id()
        created(api, event, receiver.url, auth=endpoint.auth())
        api.dispatch(event)
        got = receiver.wait_for(1)[0]
        assert endpoint.requests[0].client == ("in:event +1", secret)
        assert got.headers["authorization"] == "Bearer tok-1"


def test_s20_without_a_scope_none_is_sent_and_the_object_shows_a_null_scope(api, receiver, token_endpoint):
    event = new_id()
    made = created(api, event, receiver.url, auth=token_endpoint.auth())
    assert made["auth"] == {"type": "oauth2", "tokenUrl": token_endpoint.url, "clientID": token_endpoint.client_id,
                            "scope": None}
    api.dispatch(event)
    receiver.wait_for(1)
    assert token_endpoint.requests[0].form == {"grant_type": "client_credentials"}


def test_s20_concurrent_attempts_to_one_webhook_share_one_token_request(api, receiver, token_endpoint):
    event = new_id()
    access_token = "at-" + new_id("shared")
    SECRETS.append(access_token)
    NEVER_ANSWERED.append(access_token)
    token_endpoint.answer((200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}, 1.0))
    created(api, event, receiver.url, auth=token_endpoint.auth())
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda p: api.dispatch(event, person_id=f"c{p}"), range(6)))
    got = receiver.wait_for(6, timeout=20)
    assert [r.headers["authorization"] for r in got] == [f"Bearer {access_token}"] * 6
    assert len(token_endpoint.requests) == 1


def test_s20_the_token_is_reused_until_its_expires_in_less_60_seconds(api, receiver):
    with TokenEndpoint(expires_in=63) as endpoint:
        event = new_id()
        created(api, event, receiver.url, auth=endpoint.auth())
        api.dispatch(event, person_id="1")
        receiver.wait_for(1)
        api.dispatch(event, person_id="2")
        receiver.wait_for(2)
        first_request = endpoint.requests[0].at
        assert len(endpoint.requests) == 1 or receiver.requests[1].at - first_request >= 3
        time.sleep(max(0.0, first_request + 3.5 - time.time()))
        api.dispatch(event, person_id="3")
        third = receiver.wait_for(3)[2]
        assert third.headers["authorization"] == f"Bearer tok-{len(endpoint.requests)}" and len(endpoint.requests) >= 2


def test_s20_a_401_from_the_endpoint_drops_the_token_and_the_next_attempt_gets_a_new_one(api, receiver,
                                                                                         token_endpoint):
    event = new_id()
    webhook = created(api, event, receiver.url, auth=token_endpoint.auth())["webhookID"]
    receiver.rule = lambda request, earlier: 401 if request.headers.get("authorization") == "Bearer tok-1" else 200
    message_id = api.dispatch(event)["messageID"]
    got = receiver.wait_for(2, timeout=15)
    assert [r.headers["authorization"] for r in got] == ["Bearer tok-1", "Bearer tok-2"]
    message = wait_until(lambda: (m := api.message(webhook, message_id)) and m["status"] == "delivered" and m,
                         what="delivered")
    assert [a["statusCode"] for a in message["attempts"]] == [401, 200]


def test_s20_a_failing_token_request_fails_the_attempt_with_an_auth_error_at_most_once_a_minute(api):
    """A token endpoint that answers 500, no access_token, a redirect, or not JSON (each for its
    own webhook, all at once)."""
    answers = {"500": (500, {"error": "server_error"}), "no-token": {"token_type": "Bearer"}, "redirect": (302, {}),
               "not-json": (200, b"not json")}

    def check(name):
        with Receiver(check_schema=False) as receiver, TokenEndpoint() as endpoint:
            event = new_id()
            endpoint.answer(answers[name])
            webhook = created(api, event, receiver.url, auth=endpoint.auth())["webhookID"]
            message_id = api.dispatch(event)["messageID"]
            failed = wait_until(lambda: (m := api.message(webhook, message_id)) and m["status"] == "failed" and m,
                                timeout=20, what="the message failed")
            assert len(failed["attempts"]) == 3, (name, failed)
            assert all(a["error"] and a["error"].startswith("auth:") for a in failed["attempts"]), (name, failed)
            assert receiver.requests == [], name
            assert len(endpoint.requests) == 1, (name, len(endpoint.requests))

    with concurrent.futures.ThreadPoolExecutor(len(answers)) as pool:
        for done in [pool.submit(check, name) for name in answers]:
            done.result()


def test_s20_the_token_request_counts_against_the_attempts_one_deadline(api, receiver, token_endpoint):
    event = new_id()
    token_endpoint.answer((200, {"access_token": "late", "expires_in": 3600}, TIMEOUT + 5))
    webhook = created(api, event, receiver.url, auth=token_endpoint.auth())["webhookID"]
    message_id = api.dispatch(event)["messageID"]
    message = wait_until(lambda: (m := api.message(webhook, message_id)) and m["attempts"] and m, timeout=TIMEOUT + 10,
                         what="the first attempt")
    attempt = message["attempts"][0]
    assert attempt["durationMs"] <= (TIMEOUT + 1) * 1000 and attempt["error"].startswith("auth:"), attempt
    assert receiver.requests == []


BAD_AUTH = [
    lambda e: {**e.auth(), "type": "basic"},
    lambda e: {k: v for k, v in e.auth().items() if k != "tokenUrl"},
    lambda e: {k: v for k, v in e.auth().items() if k != "clientID"},
    lambda e: {k: v for k, v in e.auth().items() if k != "clientSecret"},
    lambda e: {k: v for k, v in e.auth().items() if k != "type"},
    lambda e: {**e.auth(), "tokenUrl": "http://10.0.0.1/token"},
    lambda e: {**e.auth(), "tokenUrl": "http://169.254.169.254/token"},
    lambda e: {**e.auth(), "tokenUrl": "http://[::1]/token"},
    lambda e: {**e.auth(), "tokenUrl": "ftp://127.0.0.1/token"},
    lambda e: {**e.auth(), "tokenUrl": "not a url"},
    lambda e: "not json",
    lambda e: ["oauth2"],
]


@pytest.fixture(scope="module")
def idle_token_endpoint():
    """A token endpoint that the checks of auth's shape name, and no delivery asks."""
    with TokenEndpoint() as endpoint:
        yield endpoint


@pytest.mark.parametrize("bad", BAD_AUTH, ids=range(len(BAD_AUTH)))
def test_s20_an_invalid_auth_is_400_on_auth(api, idle_token_endpoint, bad):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "auth": bad(idle_token_endpoint)}), 400, "auth")


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_s20_auth_with_a_custom_authorization_header_is_400_on_auth(api, idle_token_endpoint, name):
    token_endpoint = idle_token_endpoint
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "auth": token_endpoint.auth(), "headers": {name: "Bearer x"}}), 400, "auth")
    made = created(api, new_id(), "http://127.0.0.1:9/", headers={name: "Bearer mine"})
    error_of(api.call("webhook.update", {"webhookID": made["webhookID"], "auth": token_endpoint.auth()}), 400, "auth")


def test_s20_update_sets_auth_and_an_empty_object_removes_it(api, receiver, token_endpoint):
    event = new_id()
    made = created(api, event, receiver.url)
    assert made["auth"] is None
    updated = api.ok("webhook.update", {"webhookID": made["webhookID"], "auth": token_endpoint.auth()})
    assert updated["auth"]["tokenUrl"] == token_endpoint.url and "clientSecret" not in updated["auth"]
    api.dispatch(event, person_id="1")
    assert receiver.wait_for(1)[0].headers["authorization"] == "Bearer tok-1"
    assert api.ok("webhook.update", {"webhookID": made["webhookID"], "auth": {}})["auth"] is None
    api.dispatch(event, person_id="2")
    assert "authorization" not in receiver.wait_for(2)[1].headers


# ---------------------------------------------------------------------------------------------
# 21. Messages shaped for chat tools and no-code receivers
# ---------------------------------------------------------------------------------------------

NAME = 'Ana "Zé" \\ Souza <b>&'


def test_s21_a_json_template_is_rendered_over_the_body_escaped_and_signed_over_the_rendered_bytes(api, receiver):
    event = new_id()
    template = {"body": '{"text": "{{data.name}} did {{type}} for {{data.personID}}", "n": {{sequence}}, '
                        '"hook": "{{webhookID}}"}', "contentType": "application/json"}
    made = created(api, event, receiver.url, template=template)
    message_id = api.dispatch(event, data={"name": NAME})["messageID"]
    got = receiver.wait_for(1)[0]
    assert got.headers["content-type"].split(";")[0] == "application/json"
    assert json.loads(got.body) == {"text": f"{NAME} did {ENROLL} for 5521", "n": 1, "hook": made["webhookID"]}
    assert verify_hmac(made["secret"], got.headers, got.body)
    assert got.headers["webhook-id"] == message_id
    message = wait_until(lambda: api.message(made["webhookID"], message_id), what="the message")
    assert message["request"]["body"] == got.body.decode()
    example = api.ok("webhook.requestExample", {"webhookID": made["webhookID"]})
    assert set(json.loads(example["body"])) == {"text", "n", "hook"}
    assert verify_hmac(made["secret"], example["headers"], example["body"].encode())


def test_s21_a_text_template(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url, type="eventCheckIn",
                   template={"body": "{{data.name}} checked in ({{type}})", "contentType": "text/plain"})
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "5521",
                                "data": {"name": "Ana Souza"}}, status=202)
    got = receiver.wait_for(1)[0]
    assert got.headers["content-type"].split(";")[0] == "text/plain"
    assert got.body == b"Ana Souza checked in (eventCheckIn)"
    assert verify_hmac(made["secret"], got.headers, got.body)


def test_s21_the_slack_preset_sends_one_readable_line_naming_the_person(api, receiver):
    event = new_id()
    created(api, event, receiver.url, type="eventCheckIn", template={"preset": "slack"})
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "5521",
                                "data": {"name": "Ana Souza"}}, status=202)
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "7788"}, status=202)
    named, unnamed = sorted(receiver.wait_for(2), key=lambda r: b"Ana" not in r.body)
    assert set(named.json()) == {"text"} and "\n" not in named.json()["text"]
    assert "Ana Souza" in named.json()["text"] and "5521" not in named.json()["text"]
    assert "7788" in unnamed.json()["text"]


@pytest.mark.parametrize("type_,ids", [("activityEdited", {"activityID": "4411"}),
                                       ("speakerCreated", {"speakerID": "4411"}), ("eventEnd", {})])
def test_s21_the_slack_preset_names_the_activity_speaker_or_event_by_name_else_by_id(api, receiver, type_, ids):
    event = new_id()
    created(api, event, receiver.url, type=type_, template={"preset": "slack"})
    api.ok("webhook.dispatch", {"type": type_, "eventID": event, **ids, "data": {"name": "Grand Hall"}}, status=202)
    api.ok("webhook.dispatch", {"type": type_, "eventID": event, **ids}, status=202)
    named, unnamed = receiver.wait_for(2)
    assert "Grand Hall" in named.json()["text"]
    assert (ids.get("activityID") or ids.get("speakerID") or event) in unnamed.json()["text"]


def test_s21_the_teams_preset_sends_a_message_with_one_adaptive_card_whose_text_is_the_line(api, receiver):
    event = new_id()
    created(api, event, receiver.url, type="eventCheckIn", template={"preset": "teams"})
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "5521",
                                "data": {"name": "Ana Souza"}}, status=202)
    body = receiver.wait_for(1)[0].json()
    assert body["type"] == "message" and len(body["attachments"]) == 1
    card = body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    texts = [block.get("text", "") for block in card["content"]["body"]]
    assert any("Ana Souza" in text for text in texts), card


BAD_TEMPLATES = [
    {"body": "{{#data}}unclosed", "contentType": "text/plain"},
    {"body": "{{type}}", "contentType": "application/json"},
    {"body": '{"a": "{{type}}"', "contentType": "application/json"},
    {"body": "x" * 4097, "contentType": "text/plain"},
    {"body": "x", "contentType": "text/html"},
    {"preset": "discord"},
    {"body": 5, "contentType": "text/plain"},
    {"body": "{{> partial}}", "contentType": "text/plain"},
    "not json",
    ["slack"],
]


@pytest.mark.parametrize("template", BAD_TEMPLATES, ids=range(len(BAD_TEMPLATES)))
def test_s21_a_template_that_does_not_parse_render_valid_json_or_keep_its_bounds_is_400_on_template(api, template):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "template": template}), 400, "template")


def test_s21_a_template_of_4_kib_is_taken(api):
    created(api, new_id(), "http://127.0.0.1:9/", template={"body": "y" * 4096, "contentType": "text/plain"})


def test_s21_a_template_that_renders_more_than_64_kib_for_the_example_is_400_on_template(api):
    body = "{{{.}}}" * 585  # 4,095 bytes; each {{{.}}} writes the whole body, some 220 bytes: 128 KB in all
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "template": {"body": body, "contentType": "text/plain"}}), 400, "template")


def test_s21_a_body_that_would_pass_64_kib_at_delivery_fails_the_attempt_with_an_error_that_says_so(api, receiver):
    event = new_id()
    webhook = created(api, event, receiver.url,
                      template={"body": "{{data.big}}{{data.big}}", "contentType": "text/plain"})["webhookID"]
    message_id = api.dispatch(event, data={"big": "b" * 40000})["messageID"]
    message = wait_until(lambda: (m := api.message(webhook, message_id)) and m["attempts"] and m, what="an attempt")
    assert re.search(r"64 ?KiB|65536|64 ?KB", message["attempts"][0]["error"] or ""), message["attempts"][0]
    assert receiver.requests == []


def test_s21_update_sets_a_template_and_an_empty_object_removes_it(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url)
    api.ok("webhook.update", {"webhookID": made["webhookID"], "template": {"preset": "slack"}})
    example = api.ok("webhook.requestExample", {"webhookID": made["webhookID"]})
    assert set(json.loads(example["body"])) == {"text"}
    api.dispatch(event, person_id="1")
    assert set(receiver.wait_for(1)[0].json()) == {"text"}
    api.ok("webhook.update", {"webhookID": made["webhookID"], "template": {}})
    api.dispatch(event, person_id="2")
    assert receiver.wait_for(2)[1].json()["type"] == ENROLL


# ---------------------------------------------------------------------------------------------
# 22. What the console needs next
# ---------------------------------------------------------------------------------------------


def test_s22_description_is_shown_in_the_webhook_object_empty_when_none(api):
    event = new_id()
    plain = created(api, event, "http://127.0.0.1:9/plain")
    assert plain["description"] == ""
    text = "CRM sync, sales team: São Paulo 🚀 (v2) — ok"
    described = created(api, event, "http://127.0.0.1:9/described", description=text)
    assert described["description"] == text
    assert [w["description"] for w in api.ok("webhook.find", {"eventID": event})["data"]] == ["", text]
    full = created(api, event, "http://127.0.0.1:9/full", description="d" * 199 + "🚀")
    assert len(full["description"]) == 200
    assert api.ok("webhook.update", {"webhookID": described["webhookID"], "description": "new"})["description"] == "new"
    assert api.ok("webhook.update", {"webhookID": described["webhookID"], "description": ""})["description"] == ""
    assert api.ok("webhook.update", {"webhookID": plain["webhookID"], "url": "http://127.0.0.1:9/p2"})[
        "description"] == ""


@pytest.mark.parametrize("value", ["d" * 201, "line\nbreak", "tab\there", "nul\x00", "del\x7f", "c1\x85",
                                   "esc\x1b[31m", "cr\r"], ids=range(8))
def test_s22_a_description_out_of_0_to_200_printable_characters_is_400_on_description(api, value):
    error_of(api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "description": value}), 400, "description")
    made = created(api, new_id(), "http://127.0.0.1:9/")
    error_of(api.call("webhook.update", {"webhookID": made["webhookID"], "description": value}), 400, "description")


def test_s22_webhook_test_with_type_and_data_sends_that_types_example_with_those_fields(api, receiver):
    event = new_id()
    made = created(api, event, receiver.url, type="eventCheckIn")
    answer = api.call("webhook.test", {"webhookID": made["webhookID"], "type": "eventCheckIn",
                                       "data": {"seat": "A4", "name": "Ana"}})
    assert answer.status == 200 and answer.body["statusCode"] == 200, answer
    got = receiver.wait_for(1)[0]
    assert verify_hmac(made["secret"], got.headers, got.body)
    body = got.json()
    assert body["type"] == "eventCheckIn" and body["webhookID"] == made["webhookID"]
    assert body["data"]["eventID"] == event and body["data"]["seat"] == "A4" and body["data"]["name"] == "Ana"
    assert isinstance(body["data"]["personID"], str)
    # Without them it is as before.
    api.ok("webhook.test", {"webhookID": made["webhookID"]})
    assert receiver.wait_for(2)[1].json()["type"] == "webhook.test"
    # Either way it takes no number in sequence and is recorded as a test send.
    api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": body["data"]["personID"]},
           status=202)
    assert receiver.wait_for(3)[2].json()["sequence"] == 1
    tests = wait_until(lambda: (p := api.deliveries(made["webhookID"], type="webhook.test")) and p["count"] == 2 and p,
                       what="two test sends in the log")
    assert [m["type"] for m in tests["data"]] == ["webhook.test", "webhook.test"]
    wait_until(lambda: api.deliveries(made["webhookID"], type="eventCheckIn")["count"] == 1, timeout=5,
               what="the platform event's message in the log")


def test_s22_webhook_test_refuses_a_type_not_of_the_webhook_and_data_not_an_object(api, receiver):
    made = created(api, new_id(), receiver.url, type="eventCheckIn")
    error_of(api.call("webhook.test", {"webhookID": made["webhookID"], "type": "eventCheckOut"}), 400, "type")
    error_of(api.call("webhook.test", {"webhookID": made["webhookID"], "type": "nope"}), 400, "type")
    error_of(api.call("webhook.test", {"webhookID": made["webhookID"], "type": "eventCheckIn", "data": [1]}), 400,
             "data")
    error_of(api.call("webhook.test", {"webhookID": made["webhookID"], "type": "eventCheckIn",
                                       "data": {"x": "y" * 70000}}), 413, "data")
    assert receiver.requests == []


TRACE_ENTRY = {"webhookID", "url", "delivery", "status", "attempts", "lastStatusCode"}


def test_s22_webhook_trace_shows_every_webhook_of_the_level_a_message_was_queued_for(api, receiver):
    event = new_id()
    receiver.rule = lambda request, earlier: 500 if request.path == "/b" else 200
    a = created(api, event, receiver.url + "/a")
    b = created(api, event, receiver.url + "/b")
    created(api, event, receiver.url + "/c", type="activityDismissal")
    message_id = api.dispatch(event)["messageID"]
    wait_until(lambda: api.deliveries(b["webhookID"], status="failed")["count"] == 1, timeout=20, what="b failed")
    for style in ("path", "platform"):
        trace = api.ok("webhook.trace", {"messageID": message_id, "eventID": event}, verb="GET", as_="query",
                       style=style)
        assert set(trace) == {"messageID", "type", "date", "data"}
        assert trace["messageID"] == message_id and trace["type"] == ENROLL
        assert is_unix_seconds(trace["date"], near=time.time())
        entries = {e["webhookID"]: e for e in trace["data"]}
        assert set(entries) == {a["webhookID"], b["webhookID"]}
        for entry in trace["data"]:
            assert set(entry) == TRACE_ENTRY, entry
            assert entry["delivery"] == "push"
        assert entries[a["webhookID"]] == {"webhookID": a["webhookID"], "url": a["url"], "delivery": "push",
                                           "status": "delivered", "attempts": 1, "lastStatusCode": 200}
        assert entries[b["webhookID"]] == {"webhookID": b["webhookID"], "url": b["url"], "delivery": "push",
                                           "status": "failed", "attempts": 3, "lastStatusCode": 500}


def test_s22_webhook_trace_of_an_unknown_message_or_one_the_token_cannot_see_is_404(api, receiver):
    event, other, company = new_id(), new_id(), new_id("co")
    created(api, event, receiver.url)
    message_id = api.ok("webhook.dispatch", {"type": ENROLL, "eventID": event, "activityID": "1", "personID": "1",
                                             "companyID": company}, status=202)["messageID"]
    mine = api.event_token(event)
    assert api.ok("webhook.trace", {"messageID": message_id, "eventID": event}, token=mine)["messageID"] == message_id
    error_of(api.call("webhook.trace", {"messageID": "msg_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "eventID": event}), 404)
    error_of(api.call("webhook.trace", {"messageID": message_id, "eventID": other}), 404)
    theirs = api.event_token(other)
    error_of(api.call("webhook.trace", {"messageID": message_id, "eventID": other}, token=theirs), 404)
    error_of(api.call("webhook.trace", {"messageID": message_id, "eventID": event}, token=theirs), 404)
    error_of(api.call("webhook.trace", {"eventID": event}), 400, "messageID")


def test_s22_webhook_trace_at_the_company_level(api, receiver):
    company, event = new_id("co"), new_id()
    hook = created(api, url=receiver.url + "/co", company_id=company, type="eventCheckIn")
    created(api, event, receiver.url + "/ev", type="eventCheckIn")
    message_id = api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": "1",
                                             "companyID": company}, status=202)["messageID"]
    receiver.wait_for(2)
    token = api.event_token(companies=[company])
    trace = wait_until(lambda: (t := api.ok("webhook.trace", {"messageID": message_id, "companyID": company},
                                            token=token)) and t["data"] and t["data"][0]["status"] == "delivered" and t,
                       what="the company's webhook delivered")
    assert [e["webhookID"] for e in trace["data"]] == [hook["webhookID"]]


# ---------------------------------------------------------------------------------------------
# Further sentences: strict JSON in JSON text, IPv6 spellings, updates, templates, notices
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field,text", [("headers", '{"X-A": NaN}'), ("filter", '{"activityID": ["\\ud800"]}'),
                                        ("template", '{"body": "x", "contentType": "text/plain", "n": Infinity}'),
                                        ("auth", '{"type": "oauth2", "tokenUrl": 1e999}'),
                                        ("headers", '{"X-A": "\\ufffe"}')])
def test_s10_strict_json_is_refused_in_every_parameter_given_as_json_text(api, field, text):
    params = {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL, field: text}
    error_of(api.call("webhook.create", params, as_="form"), 400, field)


def test_s10_ipv6_addresses_are_compared_in_their_standard_spelling(api):
    event = new_id()
    made = api.create(event, "http://[2606:4700:4700::1111]/x")  # public: never dispatched to
    try:
        for url in ("http://[2606:4700:4700:0:0:0:0:1111]/x", "http://[2606:4700:4700:0000::1111]:80/x",
                    "HTTP://[2606:4700:4700::1111]/x#f"):
            error = error_of(api.call("webhook.create", {"eventID": event, "url": url, "type": ENROLL}), 409)
            assert made["webhookID"] in error["message"]
    finally:
        api.ok("webhook.remove", {"webhookID": made["webhookID"]})


def test_s14_update_keeps_the_status(api):
    made = created(api, new_id(), "http://127.0.0.1:9/kept")
    api.ok("webhook.disable", {"webhookID": made["webhookID"]})
    assert api.ok("webhook.update", {"webhookID": made["webhookID"], "rateLimit": 3})["status"] == "disabled"


def test_s20_a_custom_authorization_header_given_to_a_webhook_with_auth_is_400_on_auth(api, idle_token_endpoint):
    made = created(api, new_id(), "http://127.0.0.1:9/", auth=idle_token_endpoint.auth())
    error_of(api.call("webhook.update", {"webhookID": made["webhookID"], "headers": {"Authorization": "Bearer x"}}),
             400, "auth")
    assert api.ok("webhook.update", {"webhookID": made["webhookID"], "headers": {"Authorization": "Bearer x"},
                                     "auth": {}})["auth"] is None


@pytest.mark.parametrize("body,taken", [("\u00e9" * 2048, True), ("\u00e9" * 2049, False), ("\u20ac" * 1366, False)])
def test_s21_a_templates_4_kib_are_bytes_of_utf8(api, body, taken):
    answer = api.call("webhook.create", {"eventID": new_id(), "url": "http://127.0.0.1:9/", "type": ENROLL,
                                         "template": {"body": body, "contentType": "text/plain"}})
    if taken:
        assert answer.status == 201, answer
    else:
        error_of(answer, 400, "template")


def test_s21_a_template_that_would_take_too_much_work_sends_nothing_and_holds_up_no_one(api, receiver):
    event = new_id()
    hostile = created(api, event, receiver.url + "/hostile", template={
        "body": "{{#data.l}}{{#data.l}}{{#data.l}}x{{/data.l}}{{/data.l}}{{/data.l}}", "contentType": "text/plain"})
    created(api, event, receiver.url + "/plain")
    started = time.monotonic()
    message_id = api.dispatch(event, data={"l": list(range(2000))})["messageID"]  # 8e9 steps if rendered whole
    plain = receiver.wait_for(1)[0]
    assert plain.path == "/plain" and time.monotonic() - started < 5
    message = wait_until(lambda: (m := api.message(hostile["webhookID"], message_id)) and m["attempts"] and m,
                         what="the hostile template's attempt")
    assert message["attempts"][0]["error"], message
    assert [r.path for r in receiver.requests] == ["/plain"]


def test_s11_an_event_created_reaches_the_companys_webhooks(api, receiver):
    company = new_id("co")
    created(api, url=receiver.url, company_id=company, type="eventCreated")
    event = new_id()
    answer = api.ok("webhook.dispatch", {"type": "eventCreated", "eventID": event, "companyID": company}, status=202)
    assert answer["webhooks"] == 1
    body = receiver.wait_for(1)[0].json()
    assert body["type"] == "eventCreated" and body["data"]["eventID"] == event and body["data"]["companyID"] == company


def test_s15_a_company_level_notice_webhook_hears_about_the_companys_webhooks_only(api, receiver):
    company, event = new_id("co"), new_id()
    receiver.rule = lambda request, earlier: 410 if request.path == "/gone" else 200
    gone = created(api, url=receiver.url + "/gone", company_id=company)
    created(api, url=receiver.url + "/company-notice", company_id=company, type="webhookDisabled")
    created(api, event, receiver.url + "/event-notice", type="webhookDisabled")
    api.ok("webhook.dispatch", {"type": ENROLL, "eventID": event, "activityID": "1", "personID": "1",
                                "companyID": company}, status=202)
    notice = wait_until(lambda: [r for r in receiver.requests if r.path == "/company-notice"], timeout=20,
                        what="the company's notice")[0].json()
    assert notice["data"]["companyID"] == company and "eventID" not in notice["data"]
    assert notice["data"]["webhookID"] == gone["webhookID"]
    time.sleep(1)
    assert not [r for r in receiver.requests if r.path == "/event-notice"]


def test_s9_s12_a_message_queued_and_not_yet_tried_is_pending_in_webhook_message_and_trace(api):
    # The delivery log writes a message's record at its first attempt: webhook.deliveries lists it
    # from then on (docs/api.md); before, webhook.message and webhook.trace show it pending.
    event = new_id()
    webhook = created(api, event, "http://127.0.0.1:9/held", type="eventCheckIn", rateLimit=1)["webhookID"]
    sent = [api.ok("webhook.dispatch", {"type": "eventCheckIn", "eventID": event, "personID": f"h{n}"},
                   status=202)["messageID"] for n in range(4)]
    trace = api.ok("webhook.trace", {"messageID": sent[-1], "eventID": event})
    assert trace["data"][0]["status"] == "pending"
    shown = api.message(webhook, sent[-1])
    assert shown is not None, "webhook.message: 404 for a message the service queued"
    assert shown["status"] in ("pending", "failed") and shown["type"] == "eventCheckIn"
    if not shown["attempts"]:
        assert shown["request"] is None and shown["nextAttemptDate"] == shown["date"]
    wait_until(lambda: {m["messageID"] for m in api.deliveries(webhook)["data"]} == set(sent), timeout=20,
               what="every message in webhook.deliveries once tried")


# ---------------------------------------------------------------------------------------------
# Last: what every answer of this module showed (section 1), and what the local run logged (8).
# ---------------------------------------------------------------------------------------------


def test_s1_every_answer_was_json_in_one_error_shape_and_none_was_a_5xx():
    assert SEEN
    for verb, path, answer in SEEN:
        where = f"{verb} {path[:120]}: {answer!r}"
        assert answer.status < 500, where
        assert answer.headers.get("content-type", "").split(";")[0].strip() == "application/json", where
        body = json.loads(answer.raw)
        if answer.status >= 400:
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, where
            assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str), where
            assert body["error"]["field"] is None or isinstance(body["error"]["field"], str), where


def test_s8_secrets_and_tokens_are_never_logged_nor_answered_after_creation(runs):
    logged = "".join(line for run in runs if run is not None for line in run.lines)
    assert SECRETS
    answers = b"\n".join(answer.raw for _, _, answer in SEEN)
    for secret in SECRETS:
        assert secret not in logged, f"{secret[:12]}... is in the local run's output"
        answered = answers.count(secret.encode())
        assert answered <= 1, f"{secret[:12]}... was answered {answered} times"
    for secret in NEVER_ANSWERED:
        assert secret.encode() not in answers, f"{secret[:12]}... was answered"
    # Section 19: an ed25519 webhook's private key is never answered or logged. Any 32 bytes in
    # base64 or hex whose Ed25519 public key is a webhook's would be it.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    assert PUBLIC_KEYS
    published = {base64.b64decode(key[5:]) for key in PUBLIC_KEYS}
    text = answers.decode("utf-8", "replace") + logged
    candidates = set()
    for match in re.findall(r"[A-Za-z0-9+/_-]{42,}", text):
        try:
            raw = base64.b64decode(match.replace("-", "+").replace("_", "/") + "=" * (-len(match) % 4))
        except ValueError:
            continue
        if len(raw) in (32, 64):
            candidates.add(raw[:32])
    candidates.update(bytes.fromhex(h) for h in re.findall(r"\b[0-9a-fA-F]{64}\b", text))
    for seed in candidates:
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert public not in published, "an ed25519 webhook's private key was answered or logged"

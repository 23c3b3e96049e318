"""What several modules of tests/service share: a resolver whose answers the test chooses, a TLS
certificate for a name, a Webhook record to send to, the queued messages as Lambda's event source
hands them over, a platform event as EventBridge delivers it, AWS calls failing through botocore's
own event hooks, and the delivery queue's count."""

import datetime
import json
import socket

import boto3
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.store.webhook_record import Webhook
from dev.worker import sqs_event



class FakeDNS:
    """Answers for names the test chooses; the delivery must connect to exactly what it returned."""

    def __init__(self, **answers):
        self.answers = answers
        self.asked = []

    def __call__(self, host, port, family=0, type=0):
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in self.answers[host]]


def certificate_for(name, directory):
    """A self-signed certificate for ``name`` and its key, written to ``directory``: their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def webhook(url):
    """A webhook record of one type at ``url``, to hand the sender directly."""
    return Webhook("wh_TEST", "event", "1", ("activityEnrollment",), url, url, "0", "enabled", ("whsec_" + "A" * 43 + "=",))


def receive(aws):
    """The queued messages, received as Lambda's event source receives them: a Lambda SQS event's records."""
    sqs = boto3.client("sqs")
    url = aws["DeliveryQueue"]["url"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                   VisibilityTimeout=0)["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return sqs_event(messages, arn, "us-east-1")["Records"]


def eventbridge(type, detail, event_id="e-1"):
    """A platform event as EventBridge hands it to the dispatch function."""
    return {"version": "0", "id": event_id, "detail-type": type, "source": "inevent.platform",
            "account": "123456789012", "time": "2026-11-27T20:00:00Z", "region": "us-east-1", "resources": [],
            "detail": detail}


def queued_count(aws):
    """Messages on the delivery queue, visible or hidden until a retry is due."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["DeliveryQueue"]["url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(value) for value in attributes.values())


def fail_aws_calls(client, operation, error, times=1, after=0):
    """Make the next ``times`` calls of ``operation`` (after ``after`` good ones) fail with ``error``,
    through botocore's own event hooks; returns the calls seen."""
    seen = []

    def hook(**kwargs):
        seen.append(operation)
        if after < len(seen) <= after + times:
            raise error

    client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.{operation}", hook)
    return seen


THROTTLED = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "X")


def error_of(answer):
    status, body = answer
    return status, body["error"]["code"], body["error"]["field"]


def raw_call(api, name, body, content_type="application/json", headers=None):
    response = api.client.http.post(f"/api/{name}", body=body, headers={
        "authorization": f"Bearer {api.token}", "content-type": content_type, **(headers or {})})
    return response.status_code, json.loads(response.body), response.headers

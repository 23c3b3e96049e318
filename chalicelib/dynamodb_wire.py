"""The delivery worker's two DynamoDB requests a batch, sent as JSON without botocore's model walk.

Each batch reads what it needs in one BatchGetItem and writes its records in one BatchWriteItem
(chalicelib.delivery_log). Through a botocore client, each of those costs more CPU than the HTTP
exchange itself: the serializer and the parser walk every attribute against the service model,
and the request goes through a dozen layers of objects around urllib3. Measured with
``make bench`` (figure 2), that was a fifth of the worker's CPU per delivery.

:class:`DynamoDBWire` sends those two operations itself, and leaves everything else to the
client's own botocore parts, reached through the events botocore emits for its own requests:
- the body is the parameters as JSON, which is what botocore's serializer makes of attribute
  values (binary values are base64, as botocore sends them);
- the client's signer signs it (``request-created``), the client's retry handler decides on
  retries and their backoff (``needs-retry``: its mode, its retry quota, DynamoDB's CRC32
  check), and errors are parsed by botocore's parser and raised as the client's own exceptions;
- the hooks that tools use to watch or answer a request are emitted as botocore emits them
  (``before-parameter-build``, ``before-call``, ``before-send``, ``after-call``): moto's
  in-process mock answers these requests in the tests, and the tests' faults and the bench's
  counters see them.

A successful answer is read with ``json.loads``; one that holds a binary value, or that is not
JSON, goes through botocore's parser. The HTTP exchange is urllib3's, with the client's
timeouts and pool size and botocore's CA bundle (``AWS_CA_BUNDLE`` or the ``ca_bundle``
setting, else botocore's own); a client behind a proxy, or with a client certificate, sends
these requests itself (:func:`batch_client`). Tracers that patch botocore's client methods
(X-Ray, OpenTelemetry) do not see these two requests.
"""

import base64
import json
import socket
import time
import uuid

import botocore.session
import urllib3
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ConnectionError as AWSConnectionError
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)
from botocore.hooks import first_non_none_response
from botocore.httpsession import get_cert_path
from botocore.parsers import create_parser
from botocore.utils import get_environ_proxies
from urllib3.exceptions import ConnectTimeoutError as _Urllib3ConnectTimeout
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import ReadTimeoutError as _Urllib3ReadTimeout
from urllib3.exceptions import SSLError as _Urllib3SSLError

_BINARY_MARKS = (b'"B":', b'"BS":')  # a key can only be a key: quotes inside JSON strings are escaped


def batch_client(client):
    """What the delivery log sends its batch requests with: a :class:`DynamoDBWire` over
    ``client``, or ``client`` itself where a proxy or a client certificate stands in the way."""
    config = client.meta.config
    if get_environ_proxies(client.meta.endpoint_url) or config.proxies or getattr(config, "client_cert", None):
        return client
    return DynamoDBWire(client)


class DynamoDBWire:
    """``batch_get_item`` and ``batch_write_item`` as a botocore DynamoDB client answers them,
    for a fraction of its CPU; see the module docstring."""

    def __init__(self, client, sleep=time.sleep):
        meta = client.meta
        config = meta.config
        self._client = client
        self._events = meta.events
        self._url = meta.endpoint_url.rstrip("/") + "/"
        self._user_agent = config.user_agent
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=config.max_pool_connections,
            timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
            retries=False,
            ca_certs=get_cert_path(botocore.session.get_session().get_config_variable("ca_bundle") or True),
        )
        self._parser = create_parser("json")
        self._models = {}
        self._sleep = sleep

    def batch_get_item(self, **params):
        return self._call("BatchGetItem", params)

    def batch_write_item(self, **params):
        return self._call("BatchWriteItem", params)

    def _model(self, operation):
        model = self._models.get(operation)
        if model is None:
            model = self._models[operation] = self._client.meta.service_model.operation_model(operation)
        return model

    def _call(self, operation, params):
        model, events, meta = self._model(operation), self._events, self._client.meta
        context = {  # what botocore's client puts in a request's context
            "client_region": meta.region_name, "client_config": meta.config, "has_streaming_input": False,
            "auth_type": getattr(model, "resolved_auth_type", model.auth_type),
            "unsigned_payload": getattr(model, "unsigned_payload", None),
            "auth_options": meta.service_model.metadata.get("auth"),
        }
        events.emit(f"before-parameter-build.dynamodb.{operation}", params=params, model=model, context=context)
        request = {
            "url_path": "/", "query_string": "", "method": "POST", "url": self._url, "context": context,
            "headers": {"X-Amz-Target": f"DynamoDB_20120810.{operation}",
                        "Content-Type": "application/x-amz-json-1.0", "User-Agent": self._user_agent},
            "body": json.dumps(params, default=_binary).encode("utf-8"),
        }
        signer = getattr(self._client, "_request_signer", None)  # handed to hooks, as botocore does
        _, answered = events.emit_until_response(f"before-call.dynamodb.{operation}", model=model, params=request,
                                                 request_signer=signer, context=context)
        http, parsed = answered if answered is not None else self._send(operation, model, request)
        events.emit(f"after-call.dynamodb.{operation}", http_response=http, parsed=parsed, model=model, context=context)
        if http.status_code >= 300:
            raise self._client.exceptions.from_code(parsed.get("Error", {}).get("Code"))(parsed, operation)
        return parsed

    def _send(self, operation, model, request):
        """(the HTTP answer, its parsed form), sent again for as long as the client's retry
        handler says, after the delay it says."""
        context = request["context"]
        context["retries"] = {"invocation-id": str(uuid.uuid4())}
        attempt = 0
        while True:
            attempt += 1
            context["retries"]["attempt"] = attempt
            http = parsed = caught = None
            try:
                http = self._exchange(operation, request)
                parsed = self._parse(http, model)
            except (AWSConnectionError, HTTPClientError) as exc:  # what botocore hands its retry handler
                caught = exc
            delay = first_non_none_response(self._events.emit(
                f"needs-retry.dynamodb.{operation}", response=None if http is None else (http, parsed), endpoint=self,
                operation=model, attempts=attempt, caught_exception=caught, request_dict=request))
            if delay is None or delay is False:
                if caught is not None:
                    raise caught
                parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = attempt - 1
                return http, parsed
            self._sleep(delay)

    def _exchange(self, operation, request):
        """Sign and send the request once; answered by a ``before-send`` hook if one answers."""
        signed = AWSRequest(method="POST", url=self._url, data=request["body"], headers=request["headers"])
        signed.context = request["context"]
        self._events.emit(f"request-created.dynamodb.{operation}", request=signed, operation_name=operation)
        prepared = signed.prepare()
        answer = first_non_none_response(self._events.emit(f"before-send.dynamodb.{operation}", request=prepared))
        if answer is not None:
            return _Answer(self._url, answer.status_code, answer.headers, answer.content)
        try:
            response = self._pool.urlopen("POST", self._url, body=prepared.body, headers=dict(prepared.headers.items()),
                                          retries=False, redirect=False, assert_same_host=False)
        except _Urllib3SSLError as exc:
            raise SSLError(endpoint_url=self._url, error=exc) from exc
        except (NewConnectionError, socket.gaierror) as exc:
            raise EndpointConnectionError(endpoint_url=self._url, error=exc) from exc
        except _Urllib3ConnectTimeout as exc:
            raise ConnectTimeoutError(endpoint_url=self._url, error=exc) from exc
        except _Urllib3ReadTimeout as exc:
            raise ReadTimeoutError(endpoint_url=self._url, error=exc) from exc
        except ProtocolError as exc:
            raise ConnectionClosedError(error=exc, request=prepared, endpoint_url=self._url) from exc
        except Exception as exc:  # noqa: BLE001 - botocore's own catch-all: any other failure of the exchange
            raise HTTPClientError(error=exc) from exc
        return _Answer(self._url, response.status, response.headers, response.data)

    def _parse(self, http, model):
        body = http.content
        if 200 <= http.status_code < 300 and not any(mark in body for mark in _BINARY_MARKS):
            try:
                parsed = json.loads(body) if body else {}
            except ValueError:
                parsed = None  # botocore's parser makes what it can of it; the CRC32 check retries it
            if isinstance(parsed, dict):
                headers = {key.lower(): value for key, value in http.headers.items()}
                parsed["ResponseMetadata"] = {"HTTPStatusCode": http.status_code, "HTTPHeaders": headers}
                if "x-amzn-requestid" in headers:
                    parsed["ResponseMetadata"]["RequestId"] = headers["x-amzn-requestid"]
                return parsed
        answer = {"status_code": http.status_code, "headers": http.headers, "body": body}
        parsed = self._parser.parse(answer, model.output_shape)
        if http.status_code >= 300:  # the error's own fields too, as botocore's endpoint adds them
            shape = model.service_model.shape_for_error_code(parsed.get("Error", {}).get("Code"))
            if shape is not None:
                parsed.update(self._parser.parse(answer, shape))
        return parsed


class _Answer:
    """An HTTP answer, with what botocore's handlers read of one."""

    __slots__ = ("url", "status_code", "headers", "content")

    def __init__(self, url, status_code, headers, content):
        self.url, self.status_code, self.headers, self.content = url, status_code, headers, content

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")


def _binary(value):
    """A binary attribute value as botocore sends it: base64 text."""
    raw = getattr(value, "value", value)  # boto3's Binary wraps bytes
    if isinstance(raw, (bytes, bytearray)):
        return base64.b64encode(raw).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not a value DynamoDB takes")

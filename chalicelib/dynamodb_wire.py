"""The delivery worker's two DynamoDB requests a batch, sent as JSON without botocore's model walk.

Each batch reads what it needs in one BatchGetItem and writes its records in one BatchWriteItem
(chalicelib.delivery_log). Through a botocore client, each of those costs more CPU than the HTTP
exchange itself: the serializer and the parser walk every attribute against the service model,
and the request goes through a dozen layers of objects around urllib3. Measured with
``make bench`` (figure 2), that was a fifth of the worker's CPU per delivery.

:class:`DynamoDBWire` sends those two operations itself, with botocore's parts where they do the
real work:
- the body is the parameters as JSON, which is what botocore's serializer makes of the
  attribute values these stores write (binary values are base64, as botocore sends them);
- the request is signed by the client's own signer, which botocore reaches through the
  ``request-created`` event; errors are parsed by botocore's JSON parser and raised as the
  client's own exception classes; retries follow botocore's standard mode (its retry
  conditions, the DynamoDB CRC32 check among them, and its backoff);
- the hooks that tools use to watch or answer a request are emitted as botocore emits them
  (``before-parameter-build``, ``before-call``, ``before-send``, ``after-call``): moto's
  in-process mock answers these requests in the tests, and the tests' faults and the bench's
  counters see them.

A successful answer is read with ``json.loads``; one that holds a binary value goes through
botocore's parser, so binary values come back as bytes either way. Behind a proxy the client
itself is used (:func:`batch_client`).
"""

import base64
import json
import socket
import time

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
from botocore.httpsession import get_cert_path
from botocore.parsers import create_parser
from botocore.retries.standard import ExponentialBackoff, RetryContext, RetryPolicy, StandardRetryConditions
from botocore.utils import get_environ_proxies
from urllib3.exceptions import ConnectTimeoutError as _Urllib3ConnectTimeout
from urllib3.exceptions import NewConnectionError, ProtocolError
from urllib3.exceptions import ReadTimeoutError as _Urllib3ReadTimeout
from urllib3.exceptions import SSLError as _Urllib3SSLError

_BINARY_MARKS = (b'"B":', b'"BS":')  # a key can only be a key: quotes inside JSON strings are escaped


def batch_client(client):
    """What the delivery log sends its batch requests with: a :class:`DynamoDBWire` over
    ``client``, or ``client`` itself where a proxy stands in the way."""
    if get_environ_proxies(client.meta.endpoint_url):
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
            ca_certs=get_cert_path(True),
        )
        attempts = (config.retries or {}).get("total_max_attempts") or (config.retries or {}).get("max_attempts", 2) + 1
        self._retries = RetryPolicy(StandardRetryConditions(max_attempts=attempts),
                                    ExponentialBackoff(service_name="dynamodb"))
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
        model, events = self._model(operation), self._events
        context = {"client_region": self._client.meta.region_name, "client_config": self._client.meta.config}
        events.emit(f"before-parameter-build.dynamodb.{operation}", params=params, model=model, context=context)
        request = {
            "url_path": "/", "query_string": "", "method": "POST", "url": self._url, "context": context,
            "headers": {"X-Amz-Target": f"DynamoDB_20120810.{operation}",
                        "Content-Type": "application/x-amz-json-1.0", "User-Agent": self._user_agent},
            "body": json.dumps(params, default=_binary).encode("utf-8"),
        }
        _, answered = events.emit_until_response(f"before-call.dynamodb.{operation}", model=model, params=request,
                                                 request_signer=None, context=context)
        http, parsed = answered if answered is not None else self._send(operation, model, request)
        events.emit(f"after-call.dynamodb.{operation}", http_response=http, parsed=parsed, model=model, context=context)
        if http.status_code >= 300:
            raise self._client.exceptions.from_code(parsed.get("Error", {}).get("Code"))(parsed, operation)
        return parsed

    def _send(self, operation, model, request):
        """(the HTTP answer, its parsed form), after botocore's standard retries."""
        attempt = 0
        while True:
            attempt += 1
            http = parsed = caught = None
            try:
                http = self._exchange(operation, request)
                parsed = self._parse(http, model, attempt)
            except (AWSConnectionError, HTTPClientError) as exc:  # what botocore's standard mode retries
                caught = exc
            retry = RetryContext(attempt, model, parsed, http, caught, request["context"])
            if not self._retries.should_retry(retry):
                if caught is not None:
                    raise caught
                return http, parsed
            self._sleep(self._retries.compute_retry_delay(retry))

    def _exchange(self, operation, request):
        """Sign and send the request once; answered by a ``before-send`` hook if one answers."""
        signed = AWSRequest(method="POST", url=self._url, data=request["body"], headers=request["headers"])
        signed.context = request["context"]
        self._events.emit(f"request-created.dynamodb.{operation}", request=signed, operation_name=operation)
        prepared = signed.prepare()
        _, answer = self._events.emit_until_response(f"before-send.dynamodb.{operation}", request=prepared)
        if answer is not None:
            return _Answer(answer.status_code, answer.headers, answer.content)
        try:
            response = self._pool.urlopen("POST", self._url, body=prepared.body, headers=dict(prepared.headers.items()),
                                          retries=False, assert_same_host=False)
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
        return _Answer(response.status, response.headers, response.data)

    def _parse(self, http, model, attempt):
        body = http.content
        if http.status_code >= 300 or any(mark in body for mark in _BINARY_MARKS):
            parsed = self._parser.parse({"status_code": http.status_code, "headers": http.headers, "body": body},
                                        model.output_shape)
        else:
            parsed = json.loads(body) if body else {}
            parsed["ResponseMetadata"] = {"RequestId": http.headers.get("x-amzn-requestid"),
                                          "HTTPStatusCode": http.status_code}
        parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = attempt - 1
        return parsed


class _Answer:
    """An HTTP answer as botocore's retry conditions read it."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code, headers, content):
        self.status_code, self.headers, self.content = status_code, headers, content


def _binary(value):
    """A binary attribute value as botocore sends it: base64 text."""
    raw = getattr(value, "value", value)  # boto3's Binary wraps bytes
    if isinstance(raw, (bytes, bytearray)):
        return base64.b64encode(raw).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not a value DynamoDB takes")

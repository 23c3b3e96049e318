"""The webhook service's entry points: the HTTP API, the platform event trigger, the worker.

Each handler hands its input to one chalicelib function; the logic lives there.
"""

import json
import threading

from chalice import Chalice, Response

from chalicelib import console, tracing
from chalicelib.api import edge
from chalicelib.api.http_headers import with_security_headers
from chalicelib.catalog import PLATFORM_TYPES
from chalicelib.dispatch.fanout import PLATFORM_SOURCE, handle_platform_event
from chalicelib.errors import NotFound
from chalicelib.services import get_services
from chalicelib.settings import delivery_queue_name, erasure_queue_name


class WebhooksApp(Chalice):
    """Chalice, with the current request kept per thread.

    ``chalice local`` serves requests on threads, and Chalice keeps the request in one
    attribute: two requests at once would read each other's. On Lambda nothing changes.
    """

    _requests = threading.local()

    @property
    def current_request(self):
        return getattr(self._requests, "request", None)

    @current_request.setter
    def current_request(self, request):
        self._requests.request = request

    def __call__(self, event, context):
        with tracing.invocation("api_handler"):
            return super().__call__(event, context)


app = WebhooksApp(app_name="inevent-webhooks")
app.debug = False

@app.middleware("http")
def security_headers(event, get_response):
    response = get_response(event)
    response.headers = with_security_headers(response.headers)
    return response


# Every verb reaches the API routes, so that a wrong one gets the contract's 405, not API Gateway's.
ALL_VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


@app.route("/", methods=["GET"])
def index():
    return Response(body=console.page(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/console/{name}", methods=["GET"])
def console_asset(name):
    found = console.asset(name)
    if found is None:
        missing = NotFound("no such file")
        return Response(body=missing.to_body(), status_code=missing.status)
    text, content_type = found
    return Response(body=text, status_code=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})


@app.route("/openapi.yaml", methods=["GET"])
def openapi():
    return Response(body=console.openapi(), status_code=200, headers={"Content-Type": "application/yaml"})


@app.route("/openapi.json", methods=["GET"])
def openapi_json():
    return Response(body=console.openapi_json(), status_code=200, headers={"Content-Type": "application/json"})


@app.route("/favicon.ico", methods=["GET"])
def favicon():
    # The console's icon is inline in its page; browsers still ask for this one.
    return Response(body="", status_code=204, headers={"Cache-Control": "max-age=86400"})


@app.route("/api", methods=ALL_VERBS, content_types=["*/*"])
def call_platform_style():
    return edge.handle(app.current_request, get_services)


@app.route("/api/{method}", methods=ALL_VERBS, content_types=["*/*"])
def call_path_style(method):
    return edge.handle(app.current_request, get_services, path_method=method)


@app.on_cw_event({"source": [PLATFORM_SOURCE], "detail-type": list(PLATFORM_TYPES)})
def platform_event(event):
    services = get_services()
    with tracing.invocation("platform_event"):
        handle_platform_event(event.to_dict(), services.webhooks, services.queue, services.log, services.clock(),
                              dispatches=services.dispatches, pull_log=services.pull_log)


@app.on_sqs_message(queue=delivery_queue_name(), batch_size=10)  # each stage's own (settings.py)
def deliver(event):
    context = event.context
    remaining = context.get_remaining_time_in_millis() if hasattr(context, "get_remaining_time_in_millis") else None
    records = [record.to_dict() for record in event]
    services = get_services()
    with tracing.invocation("deliver"):
        tracing.note_linked_traces(records)
        outcome = services.worker.handle(records, remaining_ms=remaining)
        services.notices.tell(outcome.events)  # messages given up, webhooks disabled: organizers told
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in outcome.retry]}


@app.on_sqs_message(queue=erasure_queue_name(), batch_size=1)  # each stage's own (settings.py)
def erase_person(event):
    context = event.context
    remaining = context.get_remaining_time_in_millis() if hasattr(context, "get_remaining_time_in_millis") else None
    for record in event:  # one a batch: a failure brings back only its own erasure, which resumes
        get_services().erasure_job.run(json.loads(record.body)["erasureID"], remaining_ms=remaining)


@app.lambda_function(name="test_send")
def test_send(event, context):
    """webhook.test's POST, made in the fixed egress addresses' VPC when the stack has them
    (chalicelib/delivery/test_sends.py); the API function invokes it."""
    from chalicelib.delivery.test_sends import handle

    services = get_services()
    return handle(event, services.policy, services.sender)

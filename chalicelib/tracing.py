"""X-Ray tracing of the three functions, with Powertools' Tracer.

On Lambda, with active tracing (the stack turns it on), each invocation is traced: the handler as
``## <function>`` with its cold start, and each AWS call (DynamoDB, SQS) inside it. The messages a
dispatch queues carry its trace header (the SQS system attribute ``AWSTraceHeader``), and Lambda
links each delivery's trace to the dispatch that queued it. Webhook POSTs are not patched: a
receiver gets no X-Ray header from us.

Off outside Lambda (the local run, the tests) unless ``WEBHOOKS_TRACE=1`` asks for it (then
each invocation is a segment of its own, sent to the X-Ray daemon at ``AWS_XRAY_DAEMON_ADDRESS``);
``POWERTOOLS_TRACE_DISABLED=true`` turns it off everywhere. Powertools and the X-Ray SDK are imported only when tracing is on: a
cold start without tracing does not pay for them.
"""

import contextlib
import functools
import os

SERVICE = "inevent.webhooks"
_TRACED_MODULES = ("boto3", "botocore")  # not http.client: it would add X-Ray's header to webhook POSTs


def _truthy(value):
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def on_lambda(environ=None):
    env = os.environ if environ is None else environ
    return bool(env.get("LAMBDA_TASK_ROOT")) and not (env.get("AWS_SAM_LOCAL") or env.get("AWS_CHALICE_CLI_MODE"))


def enabled(environ=None):
    """Whether invocations are traced: on Lambda, or wherever ``WEBHOOKS_TRACE`` asks for it
    (the local run, with an X-Ray daemon to send to); never when ``POWERTOOLS_TRACE_DISABLED``."""
    env = os.environ if environ is None else environ
    if _truthy(env.get("POWERTOOLS_TRACE_DISABLED")):
        return False
    return _truthy(env.get("WEBHOOKS_TRACE")) or on_lambda(env)


@functools.lru_cache(maxsize=1)
def tracer():
    """Powertools' Tracer, made the first time a traced invocation asks for it."""
    from aws_lambda_powertools import Tracer
    from aws_xray_sdk.core import xray_recorder

    # The fan-out's SendMessageBatch threads are outside the invocation's trace: their calls are
    # not recorded, and need not be logged as errors (the messages carry the header all the same).
    xray_recorder.configure(context_missing="IGNORE_ERROR")
    # enabled() has decided: Powertools' own test would turn it off outside Lambda.
    return Tracer(service=SERVICE, disabled=False, patch_modules=list(_TRACED_MODULES))


_cold = [True]


@contextlib.contextmanager
def invocation(name):
    """Trace one invocation of the function ``name`` as ``## name`` (with its cold start), when
    tracing is on; otherwise do nothing."""
    if not enabled():
        yield
        return
    cold, _cold[0] = _cold[0], False
    provider = tracer().provider
    # On Lambda, Lambda opens the invocation's segment; elsewhere this is the segment.
    opened = provider.in_subsegment(name=f"## {name}") if on_lambda() else provider.in_segment(name=name)
    with opened as entity:
        entity.put_annotation(key="ColdStart", value=cold)
        entity.put_annotation(key="Service", value=SERVICE)
        yield


def trace_header():
    """The X-Ray header of the current trace (``Root=...;Parent=...;Sampled=1``), to put on the
    messages queued now; None when nothing is traced."""
    if not enabled():
        return None
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.models.trace_header import TraceHeader

    tracer()  # the recorder is configured by the Tracer
    entity = xray_recorder.get_trace_entity()
    if entity is None or not getattr(entity, "trace_id", None):
        return None
    return TraceHeader(root=entity.trace_id, parent=entity.id, sampled=1 if entity.sampled else 0).to_header_str()


def note_linked_traces(records):
    """Record, on the delivery function's trace, the dispatch traces its messages came from."""
    if not enabled():
        return
    roots = sorted({header.split(";")[0].removeprefix("Root=") for record in records
                    if (header := (record.get("attributes") or {}).get("AWSTraceHeader"))})
    if roots:
        tracer().put_metadata(key="dispatchTraces", value=roots)

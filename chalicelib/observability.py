"""Structured logs and CloudWatch metrics, with Powertools for AWS Lambda.

Logs are JSON lines that name the webhook, message, attempt and outcome; they never carry
secrets, tokens or payload bodies. Metrics go out in Embedded Metric Format: CloudWatch
reads them from the logs, so recording one costs no API call.
"""

import logging
import re

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

# Not "inevent-webhooks": Chalice names its own app logger so, and sets it to ERROR.
SERVICE = "inevent.webhooks"
NAMESPACE = "InEventWebhooks"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


# A query string, or a fragment, in a logged URL or path: some receivers carry a key in it.
_QUERY = re.compile(r"[?#][^\s'\"<>()]*")
URLLIB3_LOGGERS = ("urllib3", "urllib3.connectionpool", "urllib3.connection", "urllib3.response",
                   "urllib3.poolmanager", "urllib3.util.retry")


def without_queries(text):
    """``text`` with the query string (and fragment) of every URL in it left out: what is
    logged of a URL is its scheme, host and path."""
    return _QUERY.sub("", text)


class QueriesLeftOut(logging.Filter):
    """Rewrites a log record so that no URL in it (message or traceback) keeps its query."""

    def filter(self, record):
        message = without_queries(record.getMessage())
        if record.exc_info:
            message += "\n" + without_queries(logging.Formatter().formatException(record.exc_info))
            record.exc_info = record.exc_text = None
        record.msg, record.args = message, ()
        return True


_QUERIES_LEFT_OUT = QueriesLeftOut()


def leave_queries_out_of_http_logs():
    """Put :class:`QueriesLeftOut` on urllib3's loggers (a filter acts only on its own logger's
    records, so each is named). Calling it again changes nothing."""
    for name in URLLIB3_LOGGERS:
        logging.getLogger(name).addFilter(_QUERIES_LEFT_OUT)  # a filter is added once


def count(name, value=1):
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def latency(milliseconds):
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=milliseconds)


def flush():
    """Write the metrics gathered in this invocation (one EMF line), if there are any."""
    if metrics.metric_set:
        metrics.flush_metrics()
        if is_metrics_disabled():
            metrics.clear_metrics()  # flush_metrics keeps them then, and prints them itself at 100 values


def report_attempt(message, number, attempt, status, sent_ms, finished_ms):
    """The log line and the metrics of one delivery attempt (an ``Attempt`` of ``message``,
    a ``QueuedMessage``, which came to ``status``)."""
    logger.info("delivery attempt", extra={
        "webhookID": message.webhook_id,
        "messageID": message.message_id,
        "type": message.type,
        "attempt": number,
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "error": attempt.error,
        "outcome": status,
    })
    latency(attempt.duration_ms)
    if status == "delivered":
        count("Delivered")
        metrics.add_metric(name="DeliveryLatency", unit=MetricUnit.Milliseconds, value=max(0, finished_ms - sent_ms))
    elif status == "failed":
        count("Failed")
    else:
        count("Retried")

"""Structured logs and CloudWatch metrics, with Powertools for AWS Lambda.

Logs are JSON lines that name the webhook, message, attempt and outcome; they never carry
secrets, tokens or payload bodies. Metrics go out in Embedded Metric Format: CloudWatch
reads them from the logs, so recording one costs no API call.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

# Not "inevent-webhooks": Chalice names its own app logger so, and sets it to ERROR.
SERVICE = "inevent.webhooks"
NAMESPACE = "InEventWebhooks"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


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

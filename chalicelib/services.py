"""The service's parts, wired together on first use from the settings in the environment.

Nothing here runs at import time: AWS clients are made when first needed, reading the
environment then, so moto's mocks and ``chalice local``'s variables are in place first.
"""

import functools
import time

import boto3
import botocore
from botocore.config import Config

from chalicelib import tracing
from chalicelib.api.idempotency import DispatchIdempotency
from chalicelib.api.rate_limits import RateLimiter
from chalicelib.delivery.destinations import DestinationPolicy
from chalicelib.delivery.log import DeliveryLog
from chalicelib.delivery.queue import DeliveryQueue
from chalicelib.delivery.sender import USER_AGENT, HttpSender
from chalicelib.settings import Settings
from chalicelib.store.dispatches import Dispatches
from chalicelib.store.erasure import Erasures
from chalicelib.store.tokens import TokenStore
from chalicelib.store.webhooks import WebhookStore

# Requests are built by this code, never from a caller's input as it came, and every shape is
# exercised by the tests against moto, which validates them too: botocore's own validation of
# each request (a fifth of the delivery worker's CPU) is left to the service. A user agent of
# our own is one string; botocore's is built again, twice, for every request (a tenth of it).
_AWS_CONFIG = Config(
    user_agent=f"{USER_AGENT} botocore/{botocore.__version__}",
    parameter_validation=False,
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=20,
)


class Services:
    """Everything a handler needs, each part made once, when first asked for."""

    def __init__(self, settings, dynamodb=None, sqs=None, clock=time.time, events=None, lambda_client=None):
        self.settings = settings
        self.clock = clock
        self._dynamodb = dynamodb
        self._sqs = sqs
        self._events = events
        self._lambda = lambda_client

    @functools.cached_property
    def dynamodb(self):
        return self._dynamodb or boto3.client("dynamodb", config=_AWS_CONFIG)

    @functools.cached_property
    def sqs(self):
        return self._sqs or boto3.client("sqs", config=_AWS_CONFIG)

    @functools.cached_property
    def events(self):
        return self._events or boto3.client("events", config=_AWS_CONFIG)

    @functools.cached_property
    def webhooks(self):
        s = self.settings
        return WebhookStore(self.dynamodb, s.table_name, s.max_webhooks_per_owner)

    @functools.cached_property
    def tokens(self):
        return TokenStore(self.dynamodb, self.settings.table_name)

    @functools.cached_property
    def limits(self):
        return RateLimiter(self.dynamodb, self.settings.table_name)

    @functools.cached_property
    def idempotency(self):
        return DispatchIdempotency(self.dynamodb, self.settings.table_name)

    @functools.cached_property
    def log(self):
        return DeliveryLog(self.dynamodb, self.settings.table_name, self.settings.delivery_retention_days)

    @functools.cached_property
    def dispatches(self):
        return Dispatches(self.dynamodb, self.settings.table_name, self.settings.delivery_retention_days)

    @functools.cached_property
    def pull_log(self):
        """Pull webhooks' messages, in dispatch order (section 18)."""
        from chalicelib.pull.log import PullLog

        return PullLog(self.dynamodb, self.settings.table_name, self.settings.delivery_retention_days, self.clock)

    @functools.cached_property
    def queue(self):
        return DeliveryQueue(self.sqs, self.settings.queue_url, trace_header=tracing.trace_header)

    @functools.cached_property
    def policy(self):
        return DestinationPolicy(self.settings.allow_networks, deny_ports=self.settings.deny_ports,
                                 allowed_only=self.settings.allowed_destinations_only,
                                 lookup_timeout=self.settings.delivery_timeout_seconds)

    @functools.cached_property
    def sender(self):
        return HttpSender(self.settings.delivery_timeout_seconds, credentials=self.access_tokens)

    @functools.cached_property
    def access_tokens(self):
        """The access tokens of endpoints that ask for credentials (section 20), shared by every
        instance through the webhooks' TOKEN items."""
        from chalicelib.delivery.credentials import AccessTokens
        from chalicelib.delivery.token_item import TokenItems

        return AccessTokens(TokenItems(self.dynamodb, self.settings.table_name), clock=self.clock)

    @functools.cached_property
    def lambda_client(self):
        # An invocation waits for the test send's POST: the delivery timeout, and time to start.
        config = _AWS_CONFIG.merge(Config(read_timeout=self.settings.delivery_timeout_seconds + 5,
                                          retries={"mode": "standard", "max_attempts": 1}))
        return self._lambda or boto3.client("lambda", config=config)

    @functools.cached_property
    def test_sends(self):
        """Where webhook.test's POST leaves from: this function, or the test-send function in
        the fixed egress addresses' VPC (chalicelib/delivery/test_sends.py)."""
        from chalicelib.delivery.test_sends import FunctionTestSends, LocalTestSends

        if self.settings.test_send_function:
            return FunctionTestSends(self.lambda_client, self.settings.test_send_function)
        return LocalTestSends(self.policy, self.sender)

    @functools.cached_property
    def admission(self):
        """Asked before each delivery attempt: a webhook's rate limit (section 14) and its
        organizer's share of the delivery capacity (section 16), chalicelib/delivery/admission.py."""
        # What only the delivery and erasure functions use is imported on first use, here and
        # below: the API's cold start does not pay for it.
        from chalicelib.delivery.admission import Admission

        s = self.settings
        return Admission(self.dynamodb, s.table_name, self.webhooks, share=s.held_webhook_batches,
                         timeout_seconds=s.delivery_timeout_seconds, clock=self.clock)

    @functools.cached_property
    def notices(self):
        """Tells the owner's other webhooks and the bus of messages given up and webhooks disabled."""
        from chalicelib.dispatch.notices import Notices

        s = self.settings
        return Notices(self.webhooks, self.queue, self.log, self.dynamodb, s.table_name, self.events, s.event_bus_name,
                       s.delivery_retention_days, self.clock, pull_log=self.pull_log)

    @functools.cached_property
    def worker(self):
        from chalicelib.delivery.worker import DeliveryWorker

        return DeliveryWorker(self.webhooks, self.log, self.queue, self.policy, self.sender, self.settings,
                              self.admission, self.clock)

    @functools.cached_property
    def erasures(self):
        s = self.settings
        return Erasures(self.dynamodb, s.table_name, self.sqs, s.erasure_queue_url, s.delivery_retention_days)

    @functools.cached_property
    def erasure_job(self):
        from chalicelib.store.erasure import ErasureJob

        s = self.settings
        return ErasureJob(self.erasures, self.webhooks, self.dynamodb, s.table_name, s.erasure_settle_seconds,
                          self.clock)


@functools.lru_cache(maxsize=1)
def get_services():
    """The process's services, built from the environment the first time they are asked for."""
    return Services(Settings.from_env())


def reset_services():
    """Forget the built services, so the next call reads the environment again (tests, tools)."""
    get_services.cache_clear()

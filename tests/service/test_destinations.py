"""Where a webhook may send (contract, section 10): every spelling of a non-public address refused,
names checked at creation and at every delivery, the connection made to the checked address, the
local run's own ports closed though loopback is allowed."""

import ipaddress
import socket
import time

import pytest

from chalicelib.delivery.destinations import NOT_PUBLIC, DestinationPolicy, InvalidURL, UnsafeDestination
from chalicelib.services import get_services
from tests.helpers import stored_message
from tests.service.helpers import FakeDNS


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.1", "0x7f000001", "0177.0.0.1", "2130706433", "0x7f.0.0.1", "[::1]", "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "[fe80::1]", "[fc00::1]",
    "224.0.0.1", "0.0.0.0", "[::]", "100.64.0.1", "240.0.0.1", "255.255.255.255", "[64:ff9b::a00:1]",
    "[2002:7f00:1::]", "0", "017700000001",
])
def test_every_spelling_of_a_non_public_address_is_refused(host):
    with pytest.raises(UnsafeDestination):
        DestinationPolicy().check(f"http://{host}/hook")


@pytest.mark.parametrize("url", ["http://999.1.1.1/", "http://[::g]/", "http://exa_mple.com/", "http://-a.com/",
                                 "javascript:alert(1)", "http:///path", "http://a..b/", "http://" + "a" * 64 + ".com/"])
def test_malformed_hosts_are_refused(url):
    with pytest.raises(InvalidURL):
        DestinationPolicy(resolver=FakeDNS()).check(url)


def test_a_name_that_resolves_to_a_private_address_is_refused():
    dns = FakeDNS(**{"hooks.example.com": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(UnsafeDestination):
        DestinationPolicy(resolver=dns).check("https://hooks.example.com/x")


def test_a_public_name_is_allowed_and_the_checked_address_is_where_it_connects():
    dns = FakeDNS(**{"hooks.example.com": ["93.184.216.34"]})
    target = DestinationPolicy(resolver=dns).check("https://hooks.example.com:8443/in?a=1")
    assert (target.address, target.host, target.port, target.path) == ("93.184.216.34", "hooks.example.com", 8443, "/in?a=1")
    assert target.host_header == "hooks.example.com:8443"


def test_only_the_allowed_networks_are_exempt():
    policy = DestinationPolicy([ipaddress.ip_network("10.1.0.0/16")])
    assert policy.check("http://10.1.2.3/").address == "10.1.2.3"
    with pytest.raises(UnsafeDestination):
        policy.check("http://10.2.0.1/")


def test_creating_a_webhook_on_a_name_resolving_privately_is_400_on_url(api, settings):
    settings(WEBHOOK_ALLOW_NETWORKS="")
    status, body = api.call("webhook.create", eventID="1", type="activityEnrollment", url="http://localhost:8080/x")
    assert (status, body["error"]["field"], body["error"]["code"]) == (400, "url", "unsafe_url")


def test_a_name_that_turns_private_after_creation_is_not_sent_and_the_attempt_says_why(api, receiver, worker, settings):
    settings(RETRY_SCHEDULE="0s", WEBHOOK_ALLOW_NETWORKS="")
    services = get_services()
    port = receiver.server.server_address[1]
    dns = FakeDNS(**{"hooks.example.test": ["93.184.216.34"]})
    services.__dict__["policy"] = DestinationPolicy((), resolver=dns)
    hook = api.create(f"http://hooks.example.test:{port}/in")
    dns.answers["hooks.example.test"] = ["127.0.0.1"]  # DNS rebinding after the check at creation
    message_id = api.dispatch()["messageID"]
    worker.run()
    assert receiver.requests == []
    attempt = stored_message(hook["webhookID"], message_id)["attempts"][0]
    assert attempt["statusCode"] is None and attempt["error"].startswith("not sent:")


def test_a_delivery_connects_to_the_address_it_checked_with_the_name_in_host(api, receiver, worker, settings):
    settings(WEBHOOK_ALLOW_NETWORKS="127.0.0.0/8")
    services = get_services()
    port = receiver.server.server_address[1]
    dns = FakeDNS(**{"hooks.example.test": ["127.0.0.1"]})
    services.__dict__["policy"] = DestinationPolicy(services.settings.allow_networks, resolver=dns)
    api.create(f"http://hooks.example.test:{port}/in")
    api.dispatch()
    worker.run()
    (request,) = receiver.requests  # the system's resolver does not know this name: ours was used
    assert request.headers["host"] == f"hooks.example.test:{port}"
    assert dns.asked.count("hooks.example.test") == 2  # at creation, and again at delivery


# Tests never leave the machine (issue 19): WEBHOOK_DESTINATIONS=allowed-only, as every fixture sets it.
PUBLIC_LITERAL = "http://93.184.216.34/hook"


def test_under_allowed_only_a_public_address_is_refused_at_creation(api):
    status, body = api.call("webhook.create", eventID="1234", url=PUBLIC_LITERAL, type="activityEnrollment")
    assert status == 400 and body["error"]["code"] == "unsafe_url"
    assert "WEBHOOK_DESTINATIONS=allowed-only" in body["error"]["message"]


def test_under_allowed_only_a_public_address_is_refused_at_delivery(api, settings, worker):
    settings(WEBHOOK_DESTINATIONS="public")  # a literal address: created without a lookup, nothing sent
    webhook = api.create(PUBLIC_LITERAL)
    settings(WEBHOOK_DESTINATIONS="allowed-only")
    api.dispatch()
    worker.run()
    status, body = api.call("webhook.deliveries", http="GET", webhookID=webhook["webhookID"])
    (attempt,) = body["data"][0]["attempts"]
    assert attempt["statusCode"] is None and "WEBHOOK_DESTINATIONS=allowed-only" in attempt["error"]


def test_the_service_reaches_public_addresses_by_default():
    from chalicelib.delivery.destinations import DestinationPolicy
    from chalicelib.settings import Settings

    assert Settings.from_env({}).allowed_destinations_only is False
    assert Settings.from_env({"WEBHOOK_DESTINATIONS": "allowed-only"}).allowed_destinations_only is True
    assert DestinationPolicy().check(PUBLIC_LITERAL).address == "93.184.216.34"  # checked, not sent


def test_make_run_says_that_it_reaches_only_loopback_and_how_to_reach_real_endpoints():
    from dev.run import receivers

    line = receivers({"WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8,::1/128", "WEBHOOK_DESTINATIONS": "allowed-only"})
    assert "127.0.0.0/8,::1/128 only" in line and "WEBHOOK_DESTINATIONS=public" in line


# Name lookups at creation (issue 19): the delivery deadline, and one answer whatever the reason.
class SlowDNS:
    def __init__(self, seconds):
        self.seconds = seconds

    def __call__(self, host, port, *args):
        time.sleep(self.seconds)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]


def test_a_slow_name_lookup_at_creation_ends_at_the_delivery_deadline(api, settings):
    settings(DELIVERY_TIMEOUT_SECONDS="0.5", WEBHOOK_ALLOW_NETWORKS="")
    services = get_services()
    services.__dict__["policy"] = DestinationPolicy((), resolver=SlowDNS(5), lookup_timeout=0.5)
    started = time.monotonic()
    status, body = api.call("webhook.create", eventID="1", type="activityEnrollment", url="http://slow.example.test/x")
    assert time.monotonic() - started < 3
    assert (status, body["error"]["code"], body["error"]["message"]) == (400, "unsafe_url", NOT_PUBLIC)


def test_the_service_gives_its_policy_the_delivery_deadline(settings):
    settings(DELIVERY_TIMEOUT_SECONDS="0.5")
    policy = get_services().policy
    slow = DestinationPolicy((), resolver=SlowDNS(5), lookup_timeout=policy.lookup_timeout)
    assert policy.lookup_timeout == 0.5
    with pytest.raises(UnsafeDestination):
        slow.check("http://slow.example.test/")


@pytest.mark.parametrize("answers", [["10.0.0.7"], [], ["93.184.216.34", "169.254.169.254"]],
                         ids=["private", "unresolved", "one private among public"])
def test_a_name_that_is_not_public_gets_one_message_whatever_the_reason(answers):
    dns = FakeDNS(**({"internal.example.test": answers} if answers else {}))
    with pytest.raises(UnsafeDestination) as refused:
        DestinationPolicy(resolver=dns).check("http://internal.example.test/")
    assert refused.value.message == NOT_PUBLIC
    with pytest.raises(UnsafeDestination) as timed_out:
        DestinationPolicy(resolver=SlowDNS(2), lookup_timeout=0.05).check("http://internal.example.test/")
    assert timed_out.value.message == NOT_PUBLIC


def test_ipv6_site_local_is_refused():
    with pytest.raises(UnsafeDestination):
        DestinationPolicy().check("http://[fec0::1]/hook")


def test_the_local_runs_own_ports_stay_closed_to_webhooks_though_loopback_is_allowed():
    import ipaddress

    policy = DestinationPolicy([ipaddress.ip_network("127.0.0.0/8")], deny_ports=(4566,))
    assert policy.check("http://127.0.0.1:9000/hook")
    with pytest.raises(UnsafeDestination, match="own backend"):
        policy.check("http://127.0.0.1:4566/")


def test_the_metadata_address_is_refused_as_link_local_not_loopback(api):
    status, body = api.call("webhook.create", eventID="1234", type="activityEnrollment",
                            url="http://169.254.169.254/latest")
    assert status == 400 and "link-local" in body["error"]["message"] and "loopback" not in body["error"]["message"]

"""The console on contract section 14 (issue 22) and the notices of section 15 (issue 23), in a
real browser: the webhook view's headers, rate limit and filter, the Edit form with the
service's own field errors, the log filtered by the service, and the types of the catalog."""

import json
import re

from playwright.sync_api import expect

from dev.receiver import Receiver
from tests.conftest import ADMIN
from tests.console.pages import button, create, dispatch, open_log, open_method, sign_in

SECRET_VALUE = "Bearer s3cret-header-value"




def create_with(service, event, url="http://127.0.0.1:9/hook", **fields):
    status, body = service.call("webhook.create", ADMIN, eventID=event, type="activityEnrollment", url=url, **fields)
    assert status == 201, body
    return body["webhookID"]


def test_the_log_is_filtered_by_the_service_by_type_and_dates(console, service, event):
    webhook_id = create(service, event)  # unreachable: the test send fails, and waits a minute
    service.call("webhook.test", ADMIN, webhookID=webhook_id)
    service.call("webhook.disable", ADMIN, webhookID=webhook_id)
    for n in range(21):  # skipped: a first page holds none but these
        dispatch(service, event, person=str(7100 + n))
    sign_in(console, event)
    open_log(console, webhook_id, count=20)
    messages = console.locator("#detail article.message")
    with console.expect_request(lambda r: asks_for(r, "type") == "webhook.test"):
        console.get_by_label("Type", exact=True).select_option("webhook.test")
    expect(messages).to_have_count(1)
    expect(messages).to_contain_text("webhook.test")
    expect(console.locator("#log-count")).to_have_text("1 message(s) match the filters.")
    console.get_by_label("Type", exact=True).select_option("")
    expect(messages).to_have_count(20)
    with console.expect_request(lambda r: asks_for(r, "from")):
        console.get_by_label("From date", exact=True).fill("2999-01-01")
    expect(messages).to_have_count(0)
    expect(console.locator("#log-count")).to_have_text("No message matches the filters.")
    console.get_by_label("From date", exact=True).fill("")
    with console.expect_request(lambda r: asks_for(r, "to")):
        console.get_by_label("To date", exact=True).fill("2000-01-01")
    expect(messages).to_have_count(0)


def asks_for(request, field):
    """The value of ``field`` that a read of the delivery log sends to the service (None if none)."""
    if not request.url.endswith("/api/webhook.deliveries"):
        return None
    return json.loads(request.post_data or "{}").get(field)


def test_the_webhook_view_shows_header_names_the_rate_limit_and_the_filter_never_a_value(console, service, event):
    webhook_id = create_with(service, event, headers={"Authorization": SECRET_VALUE}, rateLimit=5,
                             filter={"activityID": ["98", "99"]})
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    settings = console.get_by_label("Settings", exact=True)
    expect(settings).to_contain_text("HeadersAuthorization (values are never shown)")
    expect(settings).to_contain_text("Rate limit5 attempts a second")
    expect(settings).to_contain_text("FilteractivityID: 98, 99")
    button(console, f"Edit {webhook_id}").click()
    expect(console.locator("#edit-headers")).to_contain_text("Sent now: Authorization")
    assert SECRET_VALUE not in console.content()
    assert console.evaluate("() => [...document.querySelectorAll('input')].every(i => !i.value.includes('s3cret'))")


def test_edit_changes_the_url_headers_rate_and_filter_with_the_keyboard(console, service, event):
    with Receiver() as receiver:
        webhook_id = create_with(service, event, headers={"Authorization": SECRET_VALUE})
        sign_in(console, event)
        button(console, f"Log {webhook_id}").click()
        button(console, f"Edit {webhook_id}").focus()
        console.keyboard.press("Enter")
        url = console.get_by_label("URL", exact=True)
        expect(url).to_be_focused()
        url.fill(receiver.url + "/moved")
        console.get_by_label("Change the headers").check()
        console.get_by_label("Header 1 name", exact=False).first.fill("X-Api-Key")
        console.locator(".header-row .header-value").first.fill("k-123")
        console.get_by_label("Rate limit", exact=True).fill("10")
        console.locator("#edit-form").get_by_label("activityID", exact=True).fill("98\n100")
        button(console, "Save changes").click()
        outcome = console.locator('#detail [data-outcome="edit"]')
        expect(outcome).to_contain_text("Saved: url, rateLimit, headers, filter changed.")
        expect(button(console, f"Edit {webhook_id}")).to_be_focused()
        settings = console.get_by_label("Settings", exact=True)
        expect(settings).to_contain_text("HeadersX-Api-Key (values are never shown)")
        expect(settings).to_contain_text("activityID: 98, 100")
        expect(console.locator("#detail h3")).to_contain_text(receiver.url + "/moved")
        hook = service.call("webhook.find", ADMIN, eventID=event)[1]["data"][0]
        assert (hook["url"], hook["headers"], hook["rateLimit"], hook["filter"]) == (
            receiver.url + "/moved", ["X-Api-Key"], 10, {"activityID": ["98", "100"]})
        assert "k-123" not in console.content()
        dispatch(service, event)  # activity 98: through the filter
        got = receiver.wait_for(1)[0]
        assert got.path == "/moved" and got.headers["x-api-key"] == "k-123"


def test_edit_shows_the_services_field_errors_at_the_field(console, service, event):
    webhook_id = create(service, event)
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    button(console, f"Edit {webhook_id}").click()
    url = console.get_by_label("URL", exact=True)
    url.fill("http://10.0.0.1/internal")
    button(console, "Save changes").click()
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(console.locator("#edit-url-error")).to_contain_text("private network")
    expect(url).to_be_focused()

    url.fill("http://127.0.0.1:9/hook")
    console.get_by_label("Change the headers").check()
    button(console, "Add a header").click()
    console.locator(".header-row .header-name").first.fill("Content-Type")
    console.locator(".header-row .header-value").first.fill("text/plain")
    button(console, "Save changes").click()
    expect(console.locator("#edit-headers-error")).not_to_have_text("")
    expect(console.locator(".header-row .header-name").first).to_have_attribute("aria-invalid", "true")
    expect(console.locator(".header-row .header-name").first).to_be_focused()

    console.get_by_label("Change the headers").uncheck()
    rate = console.get_by_label("Rate limit", exact=True)
    rate.fill("5000")
    button(console, "Save changes").click()
    expect(rate).to_have_attribute("aria-invalid", "true")
    expect(console.locator("#edit-rateLimit-error")).not_to_have_text("")

    rate.fill("0")
    console.locator("#edit-form").get_by_label("personID", exact=True).fill("\n".join(str(n) for n in range(101)))
    button(console, "Save changes").click()
    expect(console.locator("#edit-filter-error")).not_to_have_text("")
    expect(console.locator("#edit-form").get_by_label("personID", exact=True)).to_have_attribute("aria-invalid", "true")
    hook = service.call("webhook.find", ADMIN, eventID=event)[1]["data"][0]
    assert (hook["headers"], hook["rateLimit"], hook["filter"]) == ([], None, None)


def test_the_type_picker_offers_every_type_of_the_catalog_with_its_description(console, service, event):
    catalog = service.call("webhook.types", ADMIN)[1]["data"]
    sign_in(console, event)
    picker = open_method(console, "webhook.create").get_by_label("type", exact=True)
    for entry in catalog:
        expect(picker.locator(f"option[value={entry['type']}]")).to_contain_text(f"{entry['type']} — {entry['description']}")
    assert picker.locator("option").count() == len(catalog) + 1  # and "choose a type"


def test_a_webhook_the_service_disabled_says_that_its_subscribers_were_told(console, service, event):
    with Receiver() as receiver:
        receiver.answer(410)  # gone: the service disables the webhook
        gone = create(service, event, receiver.url + "/gone")
        listener = create(service, event, "http://127.0.0.1:9/notices", type="webhookDisabled")
        dispatch(service, event)
        receiver.wait_for(1)
        for _ in range(50):
            if service.call("webhook.stats", ADMIN, webhookID=gone)[1]["status"] == "disabled":
                break
            console.wait_for_timeout(100)
        sign_in(console, event)
        button(console, f"Log {gone}").click()
        told = console.locator("#detail .health-list")
        expect(told).to_contain_text("Its subscribers were told: a webhookDisabled notice went to this event's "
                                     f"webhookDisabled subscribers ({listener} · http://127.0.0.1:9/notices).")
        service.call("webhook.remove", ADMIN, webhookID=listener)
        console.get_by_role("button", name="Load webhooks").click()
        button(console, f"Log {gone}").click()
        expect(told).to_contain_text(re.compile("No webhook of this event subscribes to webhookDisabled, so no one was told"))

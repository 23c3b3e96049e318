"""What a support desk needs that Svix's app portal and Stripe's webhook dashboard have (issue 33,
contract section 22), in a real browser: rotating the secret from the webhook's view, a test send
of a chosen type with fields of one's own, a description per webhook and a list that can be
searched and filtered with 200 webhooks, and finding a message from its ID alone."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect
from standardwebhooks.webhooks import Webhook

from dev.receiver import Receiver
from tests.conftest import ADMIN
from tests.console.pages import (PHONE, SMALL_CONTROLS, UNREACHABLE, button, create, dispatch, open_log, open_page, row,
                                 sign_in, tab_to)


# ---- Rotating the secret from the webhook's view ---------------------------------------------

def test_the_secret_is_rotated_from_the_webhooks_view_with_the_overlap_said_and_the_new_one_shown_once(console, service,
                                                                                                      event):
    with Receiver() as receiver:
        status, made = service.call("webhook.create", ADMIN, eventID=event, type="activityEnrollment", url=receiver.url)
        sign_in(console, event)
        open_log(console, made["webhookID"], count=0)
        button(console, f"Rotate the signing secret of {made['webhookID']}").click()
        question = console.get_by_role("group", name="Rotate the signing secret?")
        expect(question).to_contain_text("For 24 hours every delivery also carries a signature made with the current secret")
        expect(question.get_by_role("button", name="Cancel")).to_be_focused()  # nothing happens by accident
        question.get_by_role("button", name="Rotate now").click()
        secret = console.locator("#detail #secret-value")
        expect(secret).to_have_text(re.compile("^whsec_"))
        expect(console.locator("#detail #secret")).to_contain_text("It will not be shown again")
        expect(console.locator("#detail .rotated")).to_contain_text("every delivery carries two signatures, the new secret's first")
        expect(button(console, "Copy secret")).to_be_focused()
        new_secret = secret.text_content()

        dispatch(service, event)
        (delivery,) = receiver.wait_for(1)
        assert Webhook(new_secret).verify(delivery.body, delivery.headers)
        assert Webhook(made["secret"]).verify(delivery.body, delivery.headers)  # the 24 h overlap
        assert new_secret not in json.dumps(service.call("webhook.find", ADMIN, eventID=event)[1])


# ---- A test send of a chosen type, with fields of one's own -----------------------------------

def test_a_test_of_the_webhooks_type_is_sent_with_the_fields_typed_and_found_in_the_log(console, service, event):
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url)
        sign_in(console, event)
        open_log(console, webhook_id, count=0)
        button(console, f"Send a test to {webhook_id}").click()
        picker = console.get_by_label("Test type", exact=True)
        expect(picker).to_be_focused()
        expect(picker).to_have_value("activityEnrollment")
        preview = console.get_by_label("Body to be sent", exact=True)
        expect(preview).to_contain_text('"type": "activityEnrollment"')
        fields = console.get_by_label("Further fields", exact=True)
        fields.fill("{not json")
        button(console, "Send test").click()
        expect(fields).to_have_attribute("aria-invalid", "true")
        expect(fields).to_have_accessible_description(re.compile("not valid JSON"))
        assert receiver.requests == []
        fields.fill('{"seat": "A4", "vip": true}')
        expect(preview).to_contain_text('"seat": "A4"')
        button(console, "Send test").click()
        outcome = console.locator('#detail [data-outcome="test-send"]')
        expect(outcome).to_contain_text("Test sent: the endpoint answered 200")
        (got,) = receiver.requests
        body = got.json()
        assert (body["type"], body["sequence"], body["data"]["seat"], body["data"]["vip"]) == (
            "activityEnrollment", 0, "A4", True)
        assert body["data"]["eventID"] == event
        console.get_by_role("button", name=re.compile("^View the test msg_")).click()
        expect(console.get_by_label("Body sent")).to_have_text(got.body.decode())  # exactly what was sent

        button(console, "Back to the log").click()
        button(console, f"Send a test to {webhook_id}").click()
        console.get_by_label("Test type", exact=True).select_option("")
        expect(console.get_by_label("Body to be sent", exact=True)).to_contain_text('"type": "webhook.test"')
        button(console, "Send test").click()
        expect(console.locator('#detail [data-outcome="test-send"]')).to_contain_text("Test sent")
        assert receiver.requests[1].json()["type"] == "webhook.test"


def test_a_test_send_the_service_refuses_is_said_at_its_field(console, service, event):
    webhook_id = create(service, event)
    sign_in(console, event)
    open_log(console, webhook_id, count=0)
    button(console, f"Send a test to {webhook_id}").click()
    fields = console.get_by_label("Further fields", exact=True)
    fields.fill('{"personID": "6000"}')  # the example gives it already
    button(console, "Send test").click()
    expect(fields).to_have_attribute("aria-invalid", "true")
    expect(fields).to_have_accessible_description(re.compile("must not repeat personID"))
    fields.press("Escape")  # closes the test form, back to its button; the view stays
    expect(button(console, f"Send a test to {webhook_id}")).to_be_focused()
    expect(console.locator("#detail")).to_be_visible()


# ---- A description per webhook, and a list that can be searched ------------------------------

def test_a_description_is_shown_searched_and_edited(console, service, event):
    crm = create(service, event, "http://127.0.0.1:9/crm", description="CRM sync · sales team")
    doors = create(service, event, "http://127.0.0.1:9/doors", type="eventCheckIn", description="Door scanners, hall B")
    sign_in(console, event)
    expect(row(console, crm).locator(".description")).to_have_text("CRM sync · sales team")
    search = console.get_by_label("Search webhooks", exact=True)
    search.fill("hall b")
    expect(console.locator("#hooks tbody tr:visible")).to_have_count(1)
    expect(row(console, doors)).to_be_visible()
    expect(console.locator("#hooks-count")).to_have_text("Showing 1 of 2 webhooks.")
    search.fill("")
    console.get_by_label("Webhook type", exact=True).select_option("eventCheckIn")
    expect(console.locator("#hooks tbody tr:visible")).to_have_count(1)
    console.get_by_label("Webhook type", exact=True).select_option("")

    button(console, f"Log {crm}").click()
    expect(console.get_by_label("Settings", exact=True)).to_contain_text("DescriptionCRM sync · sales team")
    button(console, f"Edit {crm}").click()
    description = console.get_by_label("Description", exact=True)
    description.fill("x" * 201)
    button(console, "Save changes").click()
    expect(description).to_have_attribute("aria-invalid", "true")
    description.fill("CRM sync · owned by Ana")
    button(console, "Save changes").click()
    expect(console.locator('#detail [data-outcome="edit"]')).to_contain_text("Saved: description changed.")
    expect(console.get_by_label("Settings", exact=True)).to_contain_text("DescriptionCRM sync · owned by Ana")
    expect(row(console, crm).locator(".description")).to_have_text("CRM sync · owned by Ana")
    assert service.call("webhook.find", ADMIN, eventID=event)[1]["data"][0]["description"] == "CRM sync · owned by Ana"


def test_two_hundred_webhooks_are_listed_one_keyboard_stop_a_row_and_found_by_search_status_and_health(browser, service,
                                                                                                   event):
    def make(n):
        return create(service, event, f"http://127.0.0.1:9/team/{n}", description=f"Team {n:03d} CRM")

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(make, range(200)))
    for webhook_id in ids[:3]:
        service.call("webhook.disable", ADMIN, webhookID=webhook_id)
    token = service.call("token.create", ADMIN, eventID=event)[1]["tokenID"]  # rate limited, as an organizer's is
    page = open_page(browser, service)
    stats_reads = []
    page.on("request", lambda r: stats_reads.append(r) if r.url.endswith("/api/webhook.stats") else None)
    sign_in(page, event, token=token)
    expect(page.locator("#hooks tbody tr")).to_have_count(200)
    expect(page.locator("#hooks-count")).to_have_text("200 webhooks.")
    stops = page.evaluate("""() => [...document.querySelectorAll('#hooks tbody tr')].map(tr =>
        [...tr.querySelectorAll('button, a[href], input, select')].filter(e => e.tabIndex >= 0).length)""")
    assert set(stops) == {1}  # 200 stops in all, not 1,400

    page.get_by_label("Search webhooks", exact=True).fill("team 137")
    expect(page.locator("#hooks tbody tr:visible")).to_have_count(1)
    expect(row(page, ids[137])).to_be_visible()
    page.get_by_label("Search webhooks", exact=True).fill("")
    page.get_by_label("Webhook status", exact=True).select_option("disabled")
    expect(page.locator("#hooks-count")).to_have_text("Showing 3 of 200 webhooks.")
    page.get_by_label("Webhook status", exact=True).select_option("")
    page.get_by_label("Health", exact=True).select_option("failing")  # disabled ones, once every health is read
    expect(page.locator("#hooks-count")).to_have_text("Showing 3 of 200 webhooks.", timeout=20000)
    assert len(stats_reads) == 200  # each row's health read once, a few at a time
    page.context.close()


def test_a_health_read_the_rate_limit_refuses_waits_as_asked_and_is_read_again(console, service, event):
    webhook_id = create(service, event)
    refused = []

    def once_too_many(route):
        if not refused:
            refused.append(route.request)
            route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                          body='{"error": {"code": "rate_limited", "message": "slow down", "field": null}}')
        else:
            route.continue_()

    console.route("**/api/webhook.stats", once_too_many)
    sign_in(console, event)
    expect(row(console, webhook_id).locator(".health")).to_contain_text("no messages yet")
    assert len(refused) == 1


# ---- Finding a message from its ID ------------------------------------------------------------

def test_a_message_is_found_by_its_id_with_every_webhook_it_went_to_one_click_from_each_message(browser, service,
                                                                                                event):
    with Receiver() as receiver:
        delivered = create(service, event, receiver.url, description="CRM")
        failing = create(service, event, UNREACHABLE)
        skipped = create(service, event, receiver.url + "/off")
        service.call("webhook.disable", ADMIN, webhookID=skipped)
        message_id = dispatch(service, event)
        receiver.wait_for(1, successes=True)
        page = open_page(browser, service)
        sign_in(page, event)
        finder = page.get_by_label("Find a message", exact=True)
        finder.fill("msg_not-one-of-ours")
        finder.press("Enter")
        expect(finder).to_have_attribute("aria-invalid", "true")
        expect(finder).to_have_accessible_description(re.compile(f"No message msg_not-one-of-ours was dispatched to event {event}"))
        expect(finder).to_be_focused()

        finder.fill(message_id)
        finder.press("Enter")
        expect(page.locator("#detail h3")).to_have_text(f"Message {message_id} in event {event}")
        expect(page.locator("#detail h3")).to_be_focused()
        entries = page.locator("#detail .trace-entry")
        expect(entries).to_have_count(3)
        expect(entries.nth(0)).to_have_attribute("data-webhook", delivered)
        expect(entries.nth(0)).to_contain_text("CRM")
        expect(entries.nth(0).locator(".badge")).to_have_text("delivered")
        expect(entries.nth(0)).to_contain_text("1 attempt(s) · last answer 200")
        expect(entries.nth(1).locator(".badge")).to_have_text("pending")
        expect(entries.nth(2).locator(".badge")).to_have_text("skipped")
        expect(entries.nth(2)).to_contain_text("0 attempt(s) · not attempted yet")
        assert page.evaluate("location.hash") == f"#event={event}&trace={message_id}"
        link = page.url

        button(page, f"View {message_id} at {failing}").click()
        expect(page.locator("#detail h3")).to_contain_text(f"Message {message_id} · {failing}")
        button(page, f"Where {message_id} went").click()
        expect(entries).to_have_count(3)
        page.keyboard.press("Escape")
        expect(finder).to_be_focused()  # back where a message is found
        page.context.close()

        reader = browser.new_context(viewport=PHONE, is_mobile=True).new_page()  # a colleague with the link
        reader.goto(link)
        expect(reader.locator("#hooks-empty")).to_contain_text(f"Enter your token to open {message_id}")
        reader.get_by_label("Token", exact=True).fill(ADMIN)
        reader.get_by_label("Token", exact=True).press("Enter")
        expect(reader.locator("#detail .trace-entry")).to_have_count(3)
        assert reader.evaluate("document.documentElement.scrollWidth") <= 375
        reader.context.close()


def test_a_message_found_and_a_test_sent_with_the_keyboard_alone_on_a_phone(browser, service, event):
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url)
        message_id = dispatch(service, event)
        receiver.wait_for(1, successes=True)
        page = open_page(browser, service, viewport=PHONE, is_mobile=True)
        sign_in(page, event)
        page.get_by_label("Token", exact=True).focus()
        tab_to(page, "Find a message")
        page.keyboard.type(message_id)
        page.keyboard.press("Enter")
        expect(page.locator("#detail h3")).to_be_focused()
        tab_to(page, f"View {message_id} at {webhook_id}")
        page.keyboard.press("Enter")
        expect(page.get_by_label("Body sent")).to_contain_text('"type":"activityEnrollment"')
        tab_to(page, "Back to the log")
        page.keyboard.press("Enter")
        tab_to(page, f"Send a test to {webhook_id}")
        page.keyboard.press("Enter")
        expect(page.get_by_label("Test type", exact=True)).to_be_focused()
        tab_to(page, "Send test")
        page.keyboard.press("Enter")
        expect(page.locator('#detail [data-outcome="test-send"]')).to_contain_text("Test sent")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert page.evaluate(SMALL_CONTROLS) == []
        page.context.close()


def test_at_375_pixels_the_new_views_fit_and_their_controls_are_24_by_24(browser, service, event):
    webhook_id = create(service, event, description="A long description " * 10)
    message_id = dispatch(service, event)
    page = open_page(browser, service, viewport=PHONE, is_mobile=True)
    sign_in(page, event)
    page.get_by_label("Search webhooks", exact=True).fill("long")
    assert page.evaluate(SMALL_CONTROLS) == []
    open_log(page, webhook_id)
    for name in (f"Rotate the signing secret of {webhook_id}", f"Send a test to {webhook_id}", f"Edit {webhook_id}"):
        button(page, name).click()
    page.get_by_label("Change the headers").check()
    assert page.evaluate(SMALL_CONTROLS) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.get_by_label("Find a message", exact=True).fill(message_id)
    page.get_by_label("Find a message", exact=True).press("Enter")
    expect(page.locator("#detail .trace-entry")).to_have_count(1)
    assert page.evaluate(SMALL_CONTROLS) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.context.close()

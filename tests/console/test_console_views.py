"""The console's views in a real browser (issue 14): the message view with the exact request,
the log's filters and refresh, endpoint health, the catalog of types and the level switch, and
an axe-core accessibility check of every view at desktop and phone sizes."""

import json
import re

import pytest
from playwright.sync_api import expect

from dev.receiver import Receiver
from tests.conftest import ADMIN
from tests.console.pages import (DESKTOP, PHONE, ROOT, button, create, create_pull, dispatch, open_log, open_method,
                                 open_page, row, serious_violations, sign_in, tab_to)




def test_the_message_view_shows_exactly_what_was_sent_and_every_attempt(console, service, event):
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url + "/hook")
        message_id = dispatch(service, event)
        got = receiver.wait_for(1, successes=True)[0]
        sign_in(console, event)
        open_log(console, webhook_id)
        expect(console.locator("#detail article.message")).to_contain_text("delivered")
        button(console, f"View {message_id}").click()
        expect(console.locator("#detail h3")).to_contain_text(f"Message {message_id} · ")
        expect(console.locator("#detail h3")).to_be_focused()
        assert console.get_by_label("Body sent").text_content() == got.body.decode()
        headers = console.get_by_label("Headers sent").text_content()
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            assert f"{name}: {got.headers[name]}" in headers
        attempt = console.locator("#detail .attempts li")
        expect(attempt).to_have_count(1)
        expect(attempt).to_contain_text(re.compile(r"Attempt 1 · .* · 200 · \d+ ms"))
        expect(console.get_by_label("Answer to attempt 1")).to_have_text('{"received":true}')

        button(console, f"Replay {message_id}").click()
        expect(console.locator("#answer")).to_contain_text('"queued": 1')
        receiver.wait_for(2, successes=True)
        expect(attempt).to_have_count(2, timeout=10000)  # the open message refreshes itself
        assert receiver.requests[1].headers["webhook-id"] == got.headers["webhook-id"]
        button(console, "Back to the log").click()
        expect(console.locator("#detail article.message")).to_have_count(1)


def test_the_log_filters_by_status_type_and_date_and_finds_a_message_by_id(console, service, event):
    webhook_id = create(service, event)  # unreachable: its messages fail, then wait a minute
    message_id = dispatch(service, event)
    service.call("webhook.test", ADMIN, webhookID=webhook_id)
    sign_in(console, event)
    open_log(console, webhook_id, count=2)
    messages = console.locator("#detail article.message:visible")

    console.get_by_label("Type", exact=True).select_option("webhook.test")
    expect(messages).to_have_count(1)
    expect(messages).to_contain_text("webhook.test")
    console.get_by_label("Type", exact=True).select_option("")
    console.get_by_label("Status", exact=True).select_option("pending")
    expect(messages).to_have_count(1)
    expect(messages).to_contain_text("activityEnrollment")
    console.get_by_label("Status", exact=True).select_option("")
    expect(messages).to_have_count(2)
    console.get_by_label("From date", exact=True).fill("2999-01-01")
    expect(messages).to_have_count(0)
    expect(console.locator("#log-count")).to_have_text("No message matches the filters.")
    console.get_by_label("From date", exact=True).fill("")
    expect(messages).to_have_count(2)

    search = console.get_by_label("Message ID", exact=True)
    search.fill("msg_nothing-like-it")
    search.press("Enter")
    expect(search).to_have_attribute("aria-invalid", "true")
    expect(search).to_be_focused()
    search.fill(message_id)
    search.press("Enter")
    expect(console.locator("#detail h3")).to_contain_text(f"Message {message_id} · ")


def test_an_open_log_refreshes_itself_without_taking_focus_or_scroll(console, service, event):
    webhook_id = create(service, event)
    dispatch(service, event)
    sign_in(console, event)
    open_log(console, webhook_id)
    type_filter = console.get_by_label("Type", exact=True)
    type_filter.focus()
    scroll = console.evaluate("window.scrollY")
    dispatch(service, event, person="6000")  # another person: not queued behind the first, which waits to be retried
    expect(console.locator("#detail article.message")).to_have_count(2, timeout=10000)
    expect(type_filter).to_be_focused()
    assert console.evaluate("window.scrollY") == scroll


def test_an_open_log_still_refreshes_when_each_read_takes_longer_than_the_refresh_period(browser, service, event):
    """A slow link or a loaded service: each read of the log takes 4.5 s, the refresh period is 3 s.
    (The console once started a read at every tick and dropped each one that a newer read had
    overtaken: none ever landed, and the log stayed as first shown.)"""
    page = open_page(browser, service)
    page.add_init_script("""{
      const fetchNow = window.fetch;
      window.fetch = async (url, options) => {
        if (String(url).endsWith("/api/webhook.deliveries")) await new Promise((done) => setTimeout(done, 4500));
        return fetchNow(url, options);
      };
    }""")
    page.reload()
    webhook_id = create(service, event)
    dispatch(service, event)
    sign_in(page, event)
    button(page, f"Log {webhook_id}").click()
    expect(page.locator("#detail article.message")).to_have_count(1, timeout=20000)
    dispatch(service, event, person="6000")
    expect(page.locator("#detail article.message")).to_have_count(2, timeout=20000)
    page.context.close()


def test_health_shows_in_the_table_and_the_webhook_view(console, service, event):
    with Receiver() as receiver:
        healthy = create(service, event, receiver.url)
        dispatch(service, event)
        receiver.wait_for(1, successes=True)
        failing = create(service, event, "http://127.0.0.1:9/failing", type="activityDismissal")
        dispatch(service, event, type="activityDismissal")
        for _ in range(100):  # the health is read when the table loads: after the first failed attempt
            stats = service.call("webhook.stats", ADMIN, webhookID=failing)[1]
            if stats.get("failingSince") and stats.get("heldToShare"):
                break
            console.wait_for_timeout(100)
        sign_in(console, event)
        health = row(console, healthy).locator(".health")
        expect(health).to_contain_text("100% delivered (1 of 1)")
        expect(health).to_contain_text(re.compile(r"latency p50 \d+ ms · p95 \d+ ms"))
        expect(health).to_contain_text("last success 2")
        expect(row(console, failing).locator(".health")).to_contain_text("failing since")
        expect(row(console, failing).locator(".health")).to_contain_text("no success yet")
        # A failing endpoint is held to its share of the delivery capacity (section 16), and says why.
        expect(row(console, failing).locator(".health")).to_contain_text(re.compile(r"held to its share since .* \(failing"))
        expect(row(console, healthy).locator(".health")).not_to_contain_text("held to its share")
        open_log(console, healthy)
        view = console.get_by_role("definition")
        expect(console.locator("#detail .health-list")).to_contain_text("Success rate100%")
        expect(view.filter(has_text="p50")).to_have_count(1)
        expect(console.locator("#detail .health-list")).not_to_contain_text("held to its share")


def test_a_webhook_the_service_disabled_says_why(console, service, event):
    with Receiver() as receiver:
        receiver.answer(410)  # gone: the service disables the webhook
        webhook_id = create(service, event, receiver.url)
        dispatch(service, event)
        receiver.wait_for(1)
        for _ in range(50):
            if service.call("webhook.find", ADMIN, eventID=event)[1]["data"][0]["status"] == "disabled":
                break
            console.wait_for_timeout(100)
        sign_in(console, event)
        expect(row(console, webhook_id).locator(".badge")).to_have_text("disabled")
        expect(row(console, webhook_id).locator(".health")).to_contain_text("Disabled by the service: ")
        open_log(console, webhook_id)
        expect(console.locator("#detail .health-list")).to_contain_text("disabled: ")


def test_the_type_picker_and_the_types_view_show_the_catalog(console, service, event):
    catalog = service.call("webhook.types", ADMIN)[1]["data"]
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    picker = form.get_by_label("type", exact=True)
    expect(picker.locator("option[value=activityEnrollment]")).to_have_text(
        "activityEnrollment — a person enrolled in an activity")
    expect(picker.locator("option[value=eventCreated]")).to_contain_text("(company level only)")

    button(console, "Webhook types").click()
    expect(console.locator("#detail h3")).to_have_text("Webhook types at the event level")
    types = console.locator("#detail details.type")
    expect(types).to_have_count(sum("event" in t["levels"] for t in catalog))
    speaker = types.filter(has=console.locator("summary code", has_text=re.compile("^speakerCreated$")))
    speaker.locator("summary").click()
    example = console.get_by_label("Example body of speakerCreated")
    expect(example).to_be_visible()
    shown, expected = json.loads(example.text_content()), next(t["example"] for t in catalog if t["type"] == "speakerCreated")
    for body in (shown, expected):  # examples are dated now
        body.pop("timestamp"), body["data"].pop("date")
    assert shown == expected

    console.get_by_label("Level", exact=True).select_option("company")
    expect(console.locator("#detail h3")).to_have_text("Webhook types at the company level")
    expect(types).to_have_count(len(catalog))
    types.filter(has=console.locator("summary code", has_text=re.compile("^eventCreated$"))).locator("summary").click()
    button(console, "Use eventCreated in webhook.create").click()
    expect(picker).to_have_value("eventCreated")
    expect(form.get_by_label("url", exact=True)).to_be_focused()


def test_a_company_level_webhook_is_made_and_listed_with_the_level_switch(console, event):
    company = "co" + event
    console.get_by_label("Token", exact=True).fill(ADMIN)
    console.get_by_label("Level", exact=True).select_option("company")
    console.get_by_label("Company", exact=True).fill(company)
    console.get_by_label("Level", exact=True).press("Enter")  # Enter on the level picker loads them too
    expect(console.locator("#status")).to_have_text("webhook.find → 200")
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of company {company}")
    form = open_method(console, "webhook.create")
    expect(form.get_by_label("companyID", exact=True)).to_have_value(company)
    expect(form.get_by_label("eventID", exact=True)).to_have_value("")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/company")
    form.get_by_label("type", exact=True).select_option("eventCreated")
    form.get_by_label("type", exact=True).press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    expect(console.locator("#hooks tbody tr")).to_have_count(1)
    expect(console.locator("#hooks tbody tr")).to_contain_text(f"company {company}")


# ---- Accessibility, measured by axe-core on every view ---------------------------------------





def views(page, service, event):
    """Open every view in turn; yields each one's name once it shows."""
    yield "signed out"
    sign_in(page, event)
    expect(page.locator("#hooks tbody tr")).to_have_count(1)
    yield "webhooks"
    webhook_id = page.locator("#hooks tbody tr").get_attribute("data-webhook")
    page.get_by_label("Search webhooks", exact=True).fill("nothing like it")
    expect(page.locator("#hooks-count")).to_have_text("Showing 0 of 1 webhooks.")
    yield "the list, searched"
    page.get_by_label("Search webhooks", exact=True).fill("")
    open_method(page, "webhook.create")
    yield "a method's form"
    button(page, f"Remove {webhook_id}").click()
    yield "remove, asking first"
    button(page, f"Keep {webhook_id}").click()
    open_log(page, webhook_id)
    expect(page.locator("#detail svg.picture rect.bar")).to_have_count(1)
    yield "webhook view, its health picture and log"
    button(page, f"Edit {webhook_id}").click()
    page.get_by_label("Change the headers").check()
    button(page, "Add a header").click()
    page.get_by_label("Rate limit", exact=True).fill("5000")
    button(page, "Save changes").click()
    expect(page.get_by_label("Rate limit", exact=True)).to_have_attribute("aria-invalid", "true")
    yield "edit form, with a field refused"
    button(page, f"Edit {webhook_id}").click()
    expect(button(page, "Keep editing")).to_be_focused()
    yield "edit form, asking before it discards a change"
    button(page, "Discard them").click()
    button(page, f"Rotate the signing secret of {webhook_id}").click()
    yield "rotation, asking first"
    button(page, "Rotate now").click()
    expect(page.locator("#detail #secret-value")).to_have_text(re.compile("^whsec_"))
    yield "rotation, the new secret shown once"
    button(page, f"Send a test to {webhook_id}").click()
    page.get_by_label("Further fields", exact=True).fill('{"seat": "A4"}')
    button(page, "Send test").click()
    expect(page.locator('#detail [data-outcome="test-send"]')).to_contain_text("Test sent")
    yield "a test of a chosen type, sent"
    message_id = page.locator("#detail article.message").last.get_attribute("data-message")
    page.locator(f"#detail article[data-message='{message_id}'] button.link").click()
    expect(page.locator("#detail .attempts li")).to_have_count(1)
    yield "message view"
    button(page, f"Where {message_id} went").click()
    expect(page.locator("#detail .trace-entry")).to_have_count(1)
    yield "where a message went"
    button(page, f"Examples {webhook_id}").click()
    expect(page.locator("#detail")).to_contain_text("What it should answer")
    yield "examples"
    button(page, "Webhook types").click()
    page.locator("#detail details.type summary").first.click()
    yield "types"
    page.get_by_label("Token", exact=True).fill("tok_wrong")
    page.get_by_label("Token", exact=True).press("Enter")
    expect(page.get_by_label("Token", exact=True)).to_have_attribute("aria-invalid", "true")
    yield "a refused token"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_finds_no_serious_or_critical_violation_in_any_view(browser, service, event, size):
    with Receiver() as receiver:
        create(service, event, receiver.url)
        dispatch(service, event)
        receiver.wait_for(1, successes=True)
        page = open_page(browser, service, viewport=DESKTOP if size == "desktop" else PHONE, is_mobile=size == "phone")
        found = {view: serious_violations(page) for view in views(page, service, event)}
        page.context.close()
    assert len(found) == 16
    assert {view: v for view, v in found.items() if v} == {}


def test_screenshots_for_the_readme(browser, service):
    """docs/console.png, docs/console-message.png, docs/console-trace.png, docs/console-template.png,
    docs/console-pull.png and docs/console-phone.png: the console at work, as a new user sees it (the
    only test of the console on event 1234)."""
    event = "1234"
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url + "/hooks/inevent", description="CRM sync · sales team",
                            types=["eventEnrollment", "eventCheckIn", "activityEnrollment", "activityCheckIn"])
        create(service, event, "http://127.0.0.1:9/hooks/inevent", type="activityDismissal", description="Badge printer")
        scanners = create_pull(service, event, description="Door scanners, hall B")
        create(service, event, "http://127.0.0.1:9/hooks/seats", description="Seat planner (staging)")
        slack = create(service, event, "http://127.0.0.1:9/services/T000/B000", type="eventCheckIn",
                       description="Check-ins in the team's Slack channel", signature="ed25519")
        message_id = dispatch(service, event)
        dispatch(service, event, person="6120")
        for person in ("6120", "6121", "6122"):
            dispatch(service, event, type="eventCheckIn", person=person)
        receiver.wait_for(5, successes=True)
        assert service.call("webhook.poll", ADMIN, webhookID=scanners, limit="2")[0] == 200
        page = open_page(browser, service)
        sign_in(page, event)
        open_log(page, webhook_id, count=5)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ROOT / "docs" / "console.png"), full_page=False)
        button(page, f"View {message_id}").click()
        expect(page.locator("#detail .attempts li")).to_have_count(1)
        page.locator("#detail").evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 8)")
        page.screenshot(path=str(ROOT / "docs" / "console-message.png"), full_page=False)
        page.get_by_label("Find a message", exact=True).fill(message_id)
        page.get_by_label("Find a message", exact=True).press("Enter")
        expect(page.locator("#detail .trace-entry")).to_have_count(2)
        page.locator("#detail").evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 8)")
        page.screenshot(path=str(ROOT / "docs" / "console-trace.png"), full_page=False)
        button(page, f"Log {slack}").click()
        button(page, f"Edit the template of {slack}").click()
        page.get_by_label("Slack", exact=True).check()
        expect(page.get_by_label("Rendered example", exact=True)).to_have_text(
            '{"text":"Person 5521 checked in to event 1234"}')
        page.locator("#detail").evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 8)")
        page.screenshot(path=str(ROOT / "docs" / "console-template.png"), full_page=False)
        open_log(page, scanners, count=3)
        expect(page.locator("#detail .health-list")).to_contain_text("1 newer message waits for the next poll")
        button(page, f"Make a device token for {scanners}").click()
        button(page, "Make the token").click()
        expect(page.locator("#detail #secret-value")).to_have_text(re.compile("."))
        page.locator("#detail").evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 8)")
        page.screenshot(path=str(ROOT / "docs" / "console-pull.png"), full_page=False)
        page.context.close()
        phone = open_page(browser, service, viewport=PHONE, is_mobile=True)
        sign_in(phone, event)
        open_method(phone, "webhook.create")
        phone.evaluate("window.scrollTo(0, 0)")
        phone.screenshot(path=str(ROOT / "docs" / "console-phone.png"))
        phone.context.close()


def test_a_new_user_on_a_phone_with_the_keyboard_alone(browser, service, event):
    with Receiver() as receiver:
        page = open_page(browser, service, viewport=PHONE, is_mobile=True)
        fits = lambda: page.evaluate("document.documentElement.scrollWidth") <= 375  # noqa: E731
        tab_to(page, "Token")
        page.keyboard.type(ADMIN)
        tab_to(page, "Event")
        page.keyboard.type(event)
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text("webhook.find → 200")
        tab_to(page, "Open webhook.create")
        page.keyboard.press("Enter")
        tab_to(page, "url")
        page.keyboard.type(receiver.url + "/hook")
        tab_to(page, "type")
        page.keyboard.type("activityE")  # a closed select picks the option typed
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text("webhook.create → 201")
        assert fits()
        webhook_id = page.locator("#hooks tbody tr").get_attribute("data-webhook")
        message_id = dispatch(service, event)
        receiver.wait_for(1, successes=True)
        page.keyboard.press("Shift+Tab")  # back up past the methods, to the table
        tab_to(page, f"Log {webhook_id}")
        page.keyboard.press("Enter")
        expect(page.locator("#detail article.message")).to_have_count(1)
        tab_to(page, f"View {message_id}")
        page.keyboard.press("Enter")
        expect(page.locator("#detail h3")).to_be_focused()
        expect(page.get_by_label("Body sent")).to_contain_text('"type":"activityEnrollment"')
        assert fits()
        tab_to(page, f"Replay {message_id}")
        page.keyboard.press("Enter")
        expect(page.locator("#answer")).to_contain_text('"queued": 1')
        receiver.wait_for(2, successes=True)
        page.get_by_label("Token", exact=True).focus()
        tab_to(page, f"Log {webhook_id}")  # a row's buttons are one stop: the arrow keys move among them
        page.keyboard.press("End")
        expect(button(page, f"Remove {webhook_id}")).to_be_focused()
        page.keyboard.press("Enter")
        page.keyboard.press("Shift+Tab")  # from Keep to Confirm
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text("webhook.remove → 200")
        expect(page.locator("#hooks-empty")).to_be_focused()
        expect(page.locator("#detail")).to_be_hidden()
        assert fits()
        page.context.close()

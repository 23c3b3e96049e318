"""The console a support desk can live in (issue 33), in a real browser: each defect an integrator
found at 1280 px and 375 px, shown fixed. The new views (rotation, test sends of a type, the
searchable list, finding a message) are in test_console_desk.py."""

import re

from playwright.sync_api import expect

from dev.receiver import Receiver
from tests.conftest import ADMIN
from tests.console.pages import (DESKTOP, PHONE, button, create, dispatch, health_filled, in_view, open_log,
                                 open_method, open_page, row, sign_in, skipped_messages)


# ---- Medium ---------------------------------------------------------------------------------

def test_a_message_link_opened_in_a_new_tab_shows_the_message_in_view_once_the_health_fills_in(browser, service,
                                                                                              event):
    for n in range(8):  # a table taller than the screen: the message view starts below it
        create(service, event, f"http://127.0.0.1:9/earlier{n}")
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url)
        message_id = dispatch(service, event)
        receiver.wait_for(1, successes=True)
    for viewport, options in ((DESKTOP, {}), (PHONE, {"is_mobile": True})):
        reader = browser.new_context(viewport=viewport, **options).new_page()
        reader.goto(f"http://127.0.0.1:{service.port}/#event={event}&webhook={webhook_id}&message={message_id}")
        reader.get_by_label("Token", exact=True).fill(ADMIN)
        reader.get_by_label("Token", exact=True).press("Enter")
        heading = reader.locator("#detail h3")
        expect(heading).to_contain_text(f"Message {message_id}")
        expect(heading).to_be_focused()
        health_filled(reader)
        expect(reader.locator("#detail .attempts li")).to_have_count(1)
        assert reader.evaluate("window.scrollY") > 0 and in_view(reader, heading), (
            viewport, heading.bounding_box(), reader.evaluate("window.scrollY"))
        reader.context.close()


def test_switching_the_level_does_not_carry_the_events_id_over_to_the_company(console, service, event):
    sign_in(console, event)
    console.get_by_label("Level", exact=True).select_option("company")
    owner = console.get_by_label("Company", exact=True)
    expect(owner).to_have_value("")  # the company's own ID, none yet: not the event's
    with NoFind(console):
        button(console, "Load webhooks").click()
        expect(owner).to_have_attribute("aria-invalid", "true")
    expect(console.locator("#event-error")).to_contain_text("Enter the company")
    form = open_method(console, "webhook.create")
    expect(form.get_by_label("companyID", exact=True)).to_have_value("")
    owner.fill("co" + event)
    owner.press("Enter")
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of company co{event}")
    console.get_by_label("Level", exact=True).select_option("event")
    expect(console.get_by_label("Event", exact=True)).to_have_value(event)  # each level keeps its own ID


class NoFind:
    """Within the block, the page asks webhook.find nothing."""

    def __init__(self, page):
        self.page, self.asked = page, []

    def __enter__(self):
        self.listener = lambda request: self.asked.append(request.post_data) if request.url.endswith(
            "/api/webhook.find") else None
        self.page.on("request", self.listener)

    def __exit__(self, *exc):
        self.page.remove_listener("request", self.listener)
        assert self.asked == [], self.asked


def test_an_event_typed_in_webhook_create_gives_way_to_the_company_then_loaded(console, service, event):
    company = "co" + event
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    form.get_by_label("eventID", exact=True).fill("5150" + event)  # typed by hand
    console.get_by_label("Level", exact=True).select_option("company")
    console.get_by_label("Company", exact=True).fill(company)
    console.get_by_label("Company", exact=True).press("Enter")
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of company {company}")
    expect(form.get_by_label("companyID", exact=True)).to_have_value(company)
    expect(form.get_by_label("eventID", exact=True)).to_have_value("")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/company")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    form.get_by_label("url", exact=True).press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of company {company}")
    expect(console.locator("#hooks tbody tr")).to_contain_text(f"company {company}")
    assert service.call("webhook.find", ADMIN, companyID=company)[1]["count"] == 1
    assert service.call("webhook.find", ADMIN, eventID="5150" + event)[1]["count"] == 0


def test_a_webhook_made_for_another_owner_than_the_one_listed_is_said_not_switched_to_quietly(console, event):
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    form.get_by_label("eventID", exact=True).fill("other" + event)  # typed after the list was loaded
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/elsewhere")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    form.get_by_label("url", exact=True).press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of event {event}")  # the list stays
    note = form.locator("[data-outcome='elsewhere']")
    expect(note).to_contain_text(f"for event other{event}, not the event {event} listed")
    note.get_by_role("button", name=f"Show event other{event}").click()
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of event other{event}")


def test_escape_in_the_edit_form_keeps_the_view_and_the_unsaved_edit(browser, service, event):
    webhook_id = create(service, event)
    page = open_page(browser, service)
    page.goto(f"http://127.0.0.1:{service.port}/#event={event}&webhook={webhook_id}")  # from a link
    page.get_by_label("Token", exact=True).fill(ADMIN)
    page.get_by_label("Token", exact=True).press("Enter")
    expect(page.locator("#detail h3")).to_contain_text(f"Webhook {webhook_id}")
    button(page, f"Edit {webhook_id}").click()
    url = page.get_by_label("URL", exact=True)
    url.fill("http://127.0.0.1:9/half-typed")
    page.keyboard.press("Escape")
    expect(page.locator("#detail h3")).to_be_visible()  # the view stays
    expect(url).to_have_value("http://127.0.0.1:9/half-typed")  # and so does the edit
    expect(page.locator("#edit-form")).to_contain_text("Discard the changes?")
    expect(button(page, "Keep editing")).to_be_focused()
    page.keyboard.press("Enter")
    expect(url).to_be_focused()
    button(page, "Cancel").click()  # the form's own Cancel: asked too, with a change made
    button(page, "Discard them").click()
    expect(page.locator("#edit-form")).to_have_count(0)
    expect(button(page, f"Edit {webhook_id}")).to_be_focused()
    button(page, f"Edit {webhook_id}").press("Enter")
    page.keyboard.press("Escape")  # nothing changed: the form closes at once
    expect(page.locator("#edit-form")).to_have_count(0)
    expect(button(page, f"Edit {webhook_id}")).to_be_focused()
    page.keyboard.press("Escape")  # now the view closes, and the focus goes to its webhook's row
    expect(page.locator("#detail")).to_be_hidden()
    expect(button(page, f"Log {webhook_id}")).to_be_focused()
    page.context.close()


def test_new_messages_are_said_where_the_reader_is_and_announced(console, service, event):
    webhook_id = skipped_messages(service, event, 10)
    sign_in(console, event)
    open_log(console, webhook_id, count=10)
    sixth_id = console.locator("#detail article.message").nth(5).get_attribute("data-message")
    sixth = button(console, f"View {sixth_id}")
    sixth.focus()
    sixth.evaluate("e => e.scrollIntoView({block: 'center'})")
    for n in range(3):
        dispatch(service, event, person=str(7100 + n))
    notice = console.locator("#detail .new-messages")
    expect(notice).to_have_text("3 new messages", timeout=10000)
    assert in_view(console, notice), notice.bounding_box()
    assert notice.evaluate("e => Boolean(e.closest('[aria-live=\"polite\"], [role=\"status\"]'))")
    expect(sixth).to_be_focused()


# ---- Low --------------------------------------------------------------------------------------

def test_copy_link_without_the_clipboard_selects_the_link_itself(console, service, event):
    webhook_id = create(service, event)
    console.add_init_script("navigator.clipboard.writeText = () => Promise.reject(new Error('denied'))")
    console.reload()
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    button(console, "Copy a link to this view").click()
    expect(button(console, "Copy a link to this view")).to_have_text("Selected: press Ctrl+C")
    selected = console.evaluate("""() => { const e = document.activeElement;
        return e.value !== undefined ? e.value.slice(e.selectionStart, e.selectionEnd) : String(getSelection()); }""")
    assert selected == console.evaluate("location.href") and f"webhook={webhook_id}" in selected


def test_after_an_edit_is_saved_escape_closes_the_view_to_its_webhooks_row(console, service, event):
    webhook_id = create(service, event)
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    button(console, f"Edit {webhook_id}").click()
    console.get_by_label("Rate limit", exact=True).fill("7")
    button(console, "Save changes").click()
    expect(console.locator('#detail [data-outcome="edit"]')).to_contain_text("Saved")
    expect(button(console, f"Edit {webhook_id}")).to_be_focused()
    console.keyboard.press("Escape")
    expect(console.locator("#detail")).to_be_hidden()
    expect(button(console, f"Log {webhook_id}")).to_be_focused()


def test_webhook_remove_in_the_methods_panel_asks_first(console, service, event):
    webhook_id = create(service, event)
    sign_in(console, event)
    form = open_method(console, "webhook.remove")
    form.get_by_label("webhookID", exact=True).fill(webhook_id)
    form.get_by_label("webhookID", exact=True).press("Enter")
    expect(form).to_contain_text(f"Remove {webhook_id}? Nothing more will be sent to it.")
    expect(form.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    console.keyboard.press("Enter")
    assert service.call("webhook.find", ADMIN, eventID=event)[1]["count"] == 1
    expect(form.get_by_label("webhookID", exact=True)).to_be_focused()
    form.get_by_label("webhookID", exact=True).press("Enter")
    form.get_by_role("button", name="Yes, remove it", exact=True).click()
    expect(console.locator("#status")).to_have_text("webhook.remove → 200")
    assert service.call("webhook.find", ADMIN, eventID=event)[1]["count"] == 0


def test_the_new_secrets_copy_is_beside_the_form_that_made_it_and_skip_links_lead_to_each_panel(console, event):
    console.keyboard.press("Tab")
    expect(console.locator(":focus")).to_have_text("Skip to the webhooks")
    expect(console.locator(":focus")).to_be_in_viewport()
    console.keyboard.press("Tab")
    expect(console.locator(":focus")).to_have_text("Skip to the methods")
    console.keyboard.press("Enter")
    console.keyboard.press("Tab")
    expect(console.locator(":focus")).to_have_attribute("aria-label", re.compile("^Open webhook"))
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/new")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    form.get_by_role("button", name="Run webhook.create").focus()
    console.keyboard.press("Enter")
    expect(console.locator("#secret-value")).to_have_text(re.compile("^whsec_"))
    console.keyboard.press("Tab")
    expect(button(console, "Copy secret")).to_be_focused()  # one Tab from where it was made


def test_the_lists_health_follows_what_the_open_view_shows(console, service, event):
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url)
        dispatch(service, event)
        receiver.wait_for(1, successes=True)
        sign_in(console, event)
        health = row(console, webhook_id).locator(".health")
        expect(health).to_contain_text("(1 of 1)")
        open_log(console, webhook_id)
        for n in range(3):
            dispatch(service, event, person=str(8000 + n))
        receiver.wait_for(4, successes=True)
        expect(console.locator("#detail .health-list")).to_contain_text("4 delivered", timeout=10000)
        expect(health).to_contain_text("(4 of 4)")


def test_a_test_send_to_a_slow_endpoint_says_it_is_under_way(console, service, event):
    with Receiver() as receiver:
        receiver.answer((200, 2.5))
        webhook_id = create(service, event, receiver.url)
        sign_in(console, event)
        test = button(console, f"Test {webhook_id}")
        test.click()
        outcome = row(console, webhook_id).locator("[data-outcome]")
        expect(outcome).to_have_text(re.compile("^Sending a test"), timeout=1000)
        expect(test).to_have_attribute("aria-busy", "true")
        expect(test).to_have_attribute("aria-disabled", "true")
        expect(outcome).to_contain_text("Test sent: the endpoint answered 200", timeout=10000)
        expect(test).not_to_have_attribute("aria-busy", "true")


def test_an_inverted_date_range_is_refused_at_the_field(console, service, event):
    webhook_id = skipped_messages(service, event, 1)
    sign_in(console, event)
    open_log(console, webhook_id)
    console.get_by_label("From date", exact=True).fill("2026-12-10")
    console.get_by_label("To date", exact=True).fill("2026-12-01")
    to = console.get_by_label("To date", exact=True)
    expect(to).to_have_attribute("aria-invalid", "true")
    expect(to).to_have_accessible_description(re.compile("must not be before the From date"))
    expect(console.locator("#log-count")).not_to_contain_text("could not be read")
    console.get_by_label("To date", exact=True).fill("2026-12-11")
    expect(to).not_to_have_attribute("aria-invalid", "true")


def test_health_with_messages_pending_does_not_claim_a_plain_success_rate(console, service, event):
    with Receiver() as receiver:
        receiver.answer(200, 500)  # the second fails, and waits a minute for its retry
        webhook_id = create(service, event, receiver.url)
        dispatch(service, event)
        receiver.wait_for(1, successes=True)
        dispatch(service, event, person="6001")
        receiver.wait_for(2)
        sign_in(console, event)
        open_log(console, webhook_id, count=2)
        expect(console.locator("#detail .health-list")).to_contain_text(
            "Success rate100% of the 1 finished; 1 pending, not counted until it finishes")
        expect(row(console, webhook_id).locator(".health")).to_contain_text("1 pending, not counted")


def test_replay_on_a_disabled_webhook_warns_that_they_will_be_skipped_again(console, service, event):
    webhook_id = skipped_messages(service, event, 2)
    sign_in(console, event)
    open_log(console, webhook_id, count=2)
    expect(console.locator("#replay-all-help")).to_contain_text("This webhook is disabled")
    button(console, "Replay failed and skipped").click()
    outcome = console.locator('#detail [data-outcome="replay-all"]')
    expect(outcome).to_contain_text("2 message(s) queued again, but this webhook is disabled: they will be "
                                    "skipped again. Enable it, then replay.")
    expect(outcome).to_have_class(re.compile(r"\bbad\b"))


def test_edit_shows_every_refusal_at_once(console, service, event):
    webhook_id = create(service, event)
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    button(console, f"Edit {webhook_id}").click()
    console.get_by_label("URL", exact=True).fill("ftp://files.example.com/hook")
    console.get_by_label("Change the headers").check()
    button(console, "Add a header").click()
    console.locator(".header-row .header-name").first.fill("Content-Type")
    console.get_by_label("Rate limit", exact=True).fill("5000")
    console.locator("#edit-form").get_by_label("personID", exact=True).fill("\n".join(str(n) for n in range(101)))
    updates = []
    console.on("request", lambda r: updates.append(r) if r.url.endswith("/api/webhook.update") else None)
    button(console, "Save changes").click()
    for field in ("url", "headers", "rateLimit", "filter"):
        expect(console.locator(f"#edit-{field}-error")).not_to_have_text("")
    expect(console.get_by_label("URL", exact=True)).to_be_focused()  # the first refused field
    assert updates == []  # nothing was sent that the service would refuse


def test_at_375_pixels_every_control_is_at_least_24_by_24(browser, service, event):
    webhook_id = create(service, event)
    message_id = dispatch(service, event)
    page = open_page(browser, service, viewport=PHONE, is_mobile=True)
    sign_in(page, event)
    small = page.evaluate("""() => [...document.querySelectorAll('button, a[href], input, select, textarea, summary')]
        .filter(e => e.getClientRects().length).map(e => [e.getBoundingClientRect(), e])
        .filter(([r]) => r.width < 23.5 || r.height < 23.5).map(([r, e]) => e.outerHTML.slice(0, 80) + ` ${r.width}x${r.height}`)""")
    assert small == []
    button(page, f"Log {webhook_id}").click()
    expect(page.locator("#detail article.message")).to_have_count(1)
    button(page, f"View {message_id}").click()
    expect(page.locator("#detail .attempts li")).to_have_count(1)
    button(page, "Back to the log").click()
    expect(page.locator("#detail article.message")).to_have_count(1)
    small = page.evaluate("""() => [...document.querySelectorAll('button, a[href], input, select, textarea, summary')]
        .filter(e => e.getClientRects().length).map(e => [e.getBoundingClientRect(), e])
        .filter(([r]) => r.width < 23.5 || r.height < 23.5).map(([r, e]) => e.outerHTML.slice(0, 80) + ` ${r.width}x${r.height}`)""")
    assert small == []
    page.context.close()


def test_a_long_url_makes_a_heading_of_a_few_lines(browser, service, event):
    url = "http://127.0.0.1:9/" + "/".join(f"segment{n:03d}" for n in range(150))  # 1,650 characters
    webhook_id = create(service, event, url)
    page = open_page(browser, service, viewport=PHONE, is_mobile=True)
    sign_in(page, event)
    button(page, f"Log {webhook_id}").click()
    heading = page.locator("#detail h3")
    expect(heading).to_have_accessible_name(f"Webhook {webhook_id} · {url}")  # said whole, shown short
    line = heading.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
    assert heading.bounding_box()["height"] <= 4.5 * line
    expect(page.get_by_label("Settings", exact=True)).to_contain_text(url)  # the whole URL, in the settings
    page.context.close()


def test_a_refused_token_is_said_where_the_reader_is(browser, service, event):
    webhook_id = skipped_messages(service, event, 20)
    token = service.call("token.create", ADMIN, eventID=event)[1]["tokenID"]
    page = open_page(browser, service, viewport=PHONE, is_mobile=True)
    sign_in(page, event, token=token)
    expect(page.locator("#hooks tbody tr")).to_have_count(1)
    open_log(page, webhook_id, count=20)
    last = page.locator("#detail article.message").last.locator("button.link")
    last.focus()
    last.evaluate("e => e.scrollIntoView({block: 'center'})")
    assert service.call("token.revoke", ADMIN, tokenID=token)[0] == 200
    note = page.locator("#view-stopped")
    expect(note).to_contain_text("stopped refreshing", timeout=8000)
    assert in_view(page, note), note.bounding_box()
    expect(last).to_be_focused()
    page.context.close()

"""The web console in a real browser: Debian's Chromium driven by Playwright, against the local run.

This file holds the platform's flow (jar, fields, Enter, JSON answer), the defects found when
the console was first tried as a new user would (issue 14), the methods panel's prefills and
one-time secret, and what the console says of its own outcomes and of a service it cannot read;
test_console_views.py holds the message view, the log's filters, endpoint health, the catalog and
the accessibility check, test_console_log.py a webhook's view and its log.
One local run serves every console test (tests/console/conftest.py); each test uses an event of
its own.
"""

import re

from chalice.test import Client
from playwright.sync_api import expect

from chalicelib import console as console_page
from dev.receiver import Receiver
from tests.conftest import ADMIN
from tests.console.pages import (PHONE, UNREACHABLE, button, create, dispatch, health_filled, in_view, open_method,
                                 open_page, row, sign_in)


# ---- The platform's flow --------------------------------------------------------------------

def test_create_a_webhook_with_the_keyboard_and_enter_and_see_its_secret_once(console, event):
    with Receiver() as receiver:
        sign_in(console, event)
        form = open_method(console, "webhook.create")
        expect(form.get_by_label("eventID", exact=True)).to_have_value(event)
        form.get_by_label("url", exact=True).fill(receiver.url + "/hook")
        form.get_by_label("type", exact=True).select_option("activityDismissal")
        form.get_by_label("url", exact=True).press("Enter")
        expect(console.locator("#status")).to_have_text("webhook.create → 201")
        expect(console.locator("#answer")).to_contain_text('"secret": "whsec_')
        expect(console.locator("#secret-value")).to_have_text(re.compile(r"^whsec_"))
        expect(console.locator("#secret")).to_contain_text("will not be shown again")
        rows = console.locator("#hooks tbody tr")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("activityDismissal")
        expect(rows).to_contain_text("enabled")


def test_enter_on_the_type_picker_the_last_field_runs_webhook_create(console, event):
    # Defect 2: Enter on the type select did nothing.
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/typed")
    picker = form.get_by_label("type", exact=True)
    picker.select_option("activityDismissal")
    picker.focus()
    console.keyboard.press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    expect(console.locator("#hooks tbody tr")).to_have_count(1)


def test_find_lists_the_events_webhooks_and_remove_takes_one_away(console, service, event):
    first, second = create(service, event, "http://127.0.0.1:9/0"), create(service, event, "http://127.0.0.1:9/1")
    sign_in(console, event)
    form = open_method(console, "webhook.find")
    form.get_by_role("button", name="Run webhook.find").press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.find → 200")
    expect(console.locator("#answer")).to_contain_text('"count": 2')
    expect(console.locator("#hooks tbody tr")).to_have_count(2)
    button(console, f"Log {first}").click()
    expect(console.locator("#detail")).to_be_visible()
    form = open_method(console, "webhook.remove")
    form.get_by_label("webhookID", exact=True).fill(first)
    form.get_by_label("webhookID", exact=True).press("Enter")
    form.get_by_role("button", name="Yes, remove it").click()  # it asks first (issue 33)
    expect(console.locator("#status")).to_have_text("webhook.remove → 200")
    expect(console.locator("#hooks tbody tr")).to_have_count(1)
    expect(row(console, second)).to_have_count(1)
    expect(console.locator("#detail")).to_be_hidden()  # the removed webhook's log is gone too


def test_a_bad_url_is_shown_with_its_field_highlighted(console, event):
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    url = form.get_by_label("url", exact=True)
    url.fill("http://10.0.0.1/internal")
    url.press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 400")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#webhook-create-url-error")).to_contain_text("private network")
    expect(url).to_be_focused()
    # Defect 10: the cloud metadata address is refused as link-local, not as loopback.
    url.fill("http://169.254.169.254/latest/meta-data")
    url.press("Enter")
    expect(form.locator("#webhook-create-url-error")).to_contain_text("link-local")
    expect(form.locator("#webhook-create-url-error")).not_to_contain_text("loopback")
    expect(console.locator("#hooks tbody tr")).to_have_count(0)


def test_method_forms_stay_closed_until_their_jar_opens_them(console):
    form = console.locator("form[aria-label='webhook.remove']")
    expect(form).to_be_hidden()
    open_method(console, "webhook.remove")
    expect(form).to_be_visible()
    expect(button(console, "Close webhook.remove")).to_have_attribute("aria-expanded", "true")


def test_every_control_has_a_name_for_screen_readers(console, service, event):
    create(service, event)
    sign_in(console, event)
    unnamed = console.evaluate("""() => [...document.querySelectorAll('button, input, select')]
        .filter(e => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim()))
        .map(e => e.outerHTML)""")
    assert unnamed == []


# ---- The defects of the first try (issue 14) --------------------------------------------------

def test_a_failed_test_send_shows_as_a_failure_and_appears_in_the_log(console, service, event):
    # Defect 1: "webhook.test → 200" in green while the endpoint was never reached.
    webhook_id = create(service, event, UNREACHABLE)
    sign_in(console, event)
    button(console, f"Test {webhook_id}").click()
    status = console.locator("#status")
    expect(status).to_contain_text("webhook.test → 200 · the test failed")
    expect(status).to_have_class(re.compile(r"\bbad\b"))
    message = console.locator("#detail article.message")
    expect(message).to_have_count(1)
    expect(message).to_contain_text("webhook.test")
    expect(message).to_contain_text("failed")
    expect(button(console, f"Test {webhook_id}")).to_be_focused()  # the log opened without taking focus


def test_a_successful_test_send_says_what_the_endpoint_answered(console, service, event):
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url)
        sign_in(console, event)
        button(console, f"Test {webhook_id}").click()
        expect(console.locator("#status")).to_contain_text("the endpoint answered 200")
        expect(console.locator("#status")).to_have_class(re.compile(r"\bok\b"))


def test_focus_stays_on_the_row_after_disable_and_enable_and_goes_to_the_note_after_remove(console, service, event):
    # Defect 3: focus fell to the page body.
    webhook_id = create(service, event)
    sign_in(console, event)
    button(console, f"Disable {webhook_id}").click()
    expect(button(console, f"Enable {webhook_id}")).to_be_focused()
    console.keyboard.press("Enter")
    expect(button(console, f"Disable {webhook_id}")).to_be_focused()
    button(console, f"Remove {webhook_id}").click()
    button(console, f"Confirm: remove {webhook_id}").click()
    expect(console.locator("#hooks-empty")).to_be_focused()
    expect(console.locator("#hooks-empty")).to_contain_text(f"Removed {webhook_id}")


def test_remove_asks_first_and_closes_the_removed_webhooks_log(console, service, event):
    # Defect 4: one click removed it; its log stayed on screen.
    webhook_id = create(service, event)
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    expect(console.locator("#detail")).to_be_visible()
    button(console, f"Remove {webhook_id}").click()
    expect(console.locator("#hooks")).to_contain_text("Remove this webhook?")
    expect(button(console, f"Keep {webhook_id}")).to_be_focused()  # the safe choice has the focus
    console.keyboard.press("Enter")
    expect(button(console, f"Remove {webhook_id}")).to_be_focused()
    assert service.call("webhook.find", ADMIN, eventID=event)[1]["count"] == 1
    button(console, f"Remove {webhook_id}").click()
    button(console, f"Confirm: remove {webhook_id}").click()
    expect(console.locator("#status")).to_have_text("webhook.remove → 200")
    expect(console.locator("#detail")).to_be_hidden()
    assert service.call("webhook.find", ADMIN, eventID=event)[1]["count"] == 0


def test_a_wrong_token_is_marked_on_the_token_field(console, event):
    # Defect 5: only "→ 401"; the panel kept asking for a token and an event.
    sign_in(console, event, token="tok_not-a-real-token")
    token = console.get_by_label("Token", exact=True)
    expect(token).to_have_attribute("aria-invalid", "true")
    expect(token).to_be_focused()
    expect(console.locator("#token-error")).to_contain_text("does not know this token")
    expect(console.locator("#hooks-empty")).to_contain_text("The token was refused")
    token.fill(ADMIN)
    token.press("Enter")
    expect(token).not_to_have_attribute("aria-invalid", "true")
    expect(console.locator("#token-error")).to_have_text("")


def test_a_webhook_id_is_copied_or_used_in_the_methods_with_one_click(browser, service, event):
    # Defect 6: users selected IDs by hand.
    webhook_id = create(service, event)
    page = open_page(browser, service, permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, event)
    button(page, f"Copy {webhook_id}").click()
    expect(button(page, f"Copy {webhook_id}")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == webhook_id
    button(page, f"Use {webhook_id} in the methods").click()
    form = open_method(page, "webhook.requestExample")
    expect(form.get_by_label("webhookID", exact=True)).to_have_value(webhook_id)
    form.get_by_label("webhookID", exact=True).press("Enter")
    expect(page.locator("#status")).to_have_text("webhook.requestExample → 200")
    page.context.close()


def test_at_375_pixels_an_open_log_and_message_fit(browser, service, event):
    # Defect 7: the "Delivery log of wh_…" heading made the page 405 px wide.
    webhook_id = create(service, event)
    message_id = dispatch(service, event)
    page = open_page(browser, service, viewport=PHONE, is_mobile=True)
    sign_in(page, event)
    open_method(page, "webhook.create")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    button(page, f"Log {webhook_id}").click()
    expect(page.locator("#detail article.message")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    button(page, f"View {message_id}").click()
    expect(page.locator("#detail h3")).to_contain_text(f"Message {message_id} · ")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.context.close()


def test_a_disabled_replay_looks_disabled_and_copied_resets_for_the_next_secret(console, service, event):
    # Defect 8. A failing endpoint leaves its message pending (the next try is a minute away).
    webhook_id = create(service, event)
    dispatch(service, event)
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    replay = console.locator("#detail article.message button[data-key='replay']")
    expect(console.locator("#detail article.message .badge")).to_have_text("pending", timeout=10000)
    expect(replay).to_be_disabled()
    look = "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.color, s.cursor]; }"
    enabled = button(console, "Replay failed and skipped").evaluate(look)
    disabled = replay.evaluate(look)
    assert disabled[0] != enabled[0] and disabled[1] != enabled[1] and disabled[2] == "not-allowed"

    console.context.grant_permissions(["clipboard-read", "clipboard-write"])
    form = open_method(console, "webhook.create")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    for n in range(2):
        form.get_by_label("url", exact=True).fill(f"http://127.0.0.1:9/secret{n}")
        form.get_by_label("url", exact=True).press("Enter")
        expect(console.locator("#status")).to_have_text("webhook.create → 201")
        expect(button(console, "Copy secret")).to_be_visible()  # a new secret has not been copied yet
        button(console, "Copy secret").click()
        expect(console.locator("#copy-secret")).to_have_text("Copied")


def test_at_1280_pixels_ids_and_urls_stay_on_one_or_two_lines_and_the_date_shows(console, service, event):
    # Defect 9: IDs and URLs broke over 3 to 4 lines; no created-date column.
    webhook_id = create(service, event, "http://127.0.0.1:9/hooks/inevent/with/a/longer/path?and=query")
    sign_in(console, event)
    line = float(console.locator(f"{'#hooks'} tbody code").first.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 16"))
    assert row(console, webhook_id).locator("code").first.bounding_box()["height"] <= line * 1.5
    assert row(console, webhook_id).locator(".url").bounding_box()["height"] <= line * 2.5
    expect(console.locator("#hooks thead")).to_contain_text("Created")
    expect(row(console, webhook_id).locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))


def test_replay_says_it_replays_failed_and_skipped_messages(console, service, event):
    # Defect 11: "Replay failed" also replayed messages skipped while the webhook was disabled.
    webhook_id = create(service, event)
    service.call("webhook.disable", ADMIN, webhookID=webhook_id)
    dispatch(service, event)
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    expect(console.locator("#detail article.message .badge")).to_have_text("skipped")
    replay = button(console, "Replay failed and skipped")
    expect(replay).to_have_accessible_description(re.compile("every message skipped while the webhook was disabled"))
    replay.click()
    expect(console.locator("#answer")).to_contain_text('"queued": 1')


def test_no_answer_of_the_page_is_an_error_and_a_new_user_learns_where_a_token_comes_from(console, service, event):
    # Defect 12: /favicon.ico answered 403 on every load; nothing said where a token comes from.
    create(service, event)
    sign_in(console, event)
    expect(console.locator("#hooks tbody tr")).to_have_count(1)
    assert console.failed == []
    assert console.request.get(f"http://127.0.0.1:{service.port}/favicon.ico").status == 204
    assert console.locator("link[rel=icon]").get_attribute("href").startswith("data:image/svg+xml,")
    expect(console.get_by_label("Token", exact=True)).to_have_accessible_description(re.compile("make run prints an admin token"))


def test_the_console_builds_its_methods_from_the_openapi_document_it_serves(console, service):
    document = console.request.get(f"http://127.0.0.1:{service.port}/openapi.json").json()
    names = [path.removeprefix("/api/") for path in document["paths"]]
    expect(console.locator("#methods li")).to_have_count(len(names))
    assert console.locator("#methods li").evaluate_all("items => items.map(i => i.dataset.method)") == names
    form = open_method(console, "webhook.message")
    params = document["paths"]["/api/webhook.message"]["post"]["requestBody"]["content"][
        "application/x-www-form-urlencoded"]["schema"]["properties"]
    assert form.locator("input, select").evaluate_all("fields => fields.map(f => f.name)") == list(params)
    expect(form.get_by_label("messageID", exact=True)).to_have_accessible_description(
        re.compile(re.escape(params["messageID"]["description"])))



# ---- The methods panel: prefills, what a field needs, the one-time secret in view ------------

def test_a_prefill_follows_the_loaded_level_and_id_and_clears_what_no_longer_applies(console, service, event):
    sign_in(console, event)
    console.get_by_label("Level", exact=True).select_option("company")  # chosen, not loaded
    form = open_method(console, "webhook.create")
    expect(form.get_by_label("eventID", exact=True)).to_have_value(event)  # what is loaded
    expect(form.get_by_label("companyID", exact=True)).to_have_value("")
    console.get_by_label("Level", exact=True).select_option("event")
    console.get_by_role("button", name="Load webhooks").click()
    expect(console.locator("#status")).to_have_text("webhook.find → 200")
    expect(form.get_by_label("companyID", exact=True)).to_have_value("")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/prefill")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    form.get_by_label("url", exact=True).press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of event {event}")
    expect(console.locator("#hooks tbody tr")).to_contain_text(f"event {event}")
    assert service.call("webhook.find", ADMIN, eventID=event)[1]["count"] == 1

    # Loading a company moves the prefill there, and clears the event's.
    console.get_by_label("Level", exact=True).select_option("company")
    console.get_by_label("Company", exact=True).fill("co" + event)
    console.get_by_label("Company", exact=True).press("Enter")
    expect(console.locator("#hooks-title")).to_have_text(f"Webhooks of company co{event}")
    expect(form.get_by_label("companyID", exact=True)).to_have_value("co" + event)
    expect(form.get_by_label("eventID", exact=True)).to_have_value("")


def test_webhook_create_says_that_exactly_one_of_event_id_and_company_id_is_required(console):
    form = open_method(console, "webhook.create")
    for name in ("eventID", "companyID"):
        field = form.get_by_label(name, exact=True).locator("xpath=..")
        expect(field.locator(".optional")).to_have_text("exactly one of eventID, companyID is required")
    # url is required of push webhooks only: a pull webhook (contract, section 18) has none.
    expect(form.get_by_label("url", exact=True).locator("xpath=..").locator(".optional")).to_have_text("optional")


def test_after_create_at_1280_by_900_the_secret_and_the_focus_are_in_view(console, service, event):
    for n in range(6):
        create(service, event, f"http://127.0.0.1:9/earlier{n}")
    sign_in(console, event)
    expect(console.locator("#hooks tbody tr")).to_have_count(6)
    form = open_method(console, "webhook.create")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    rate = form.get_by_label("rateLimit", exact=True)  # a field near the Run button: it stays focused
    rate.fill("5")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/the-new-one")
    rate.evaluate("e => e.scrollIntoView({block: 'end'})")  # where a user who scrolled down to it has it
    rate.press("Enter")
    expect(console.locator("#hooks tbody tr")).to_have_count(7)
    expect(console.locator("#secret-value")).to_have_text(re.compile("^whsec_"))
    health_filled(console)  # the health cells fill in after the table
    assert in_view(console, console.locator("#secret"))
    expect(rate).to_be_focused()
    assert in_view(console, rate)

    # The url, the form's first field, is further above the secret than the screen is tall (eleven
    # fields since sections 19 to 22): the focus goes to the secret's Copy button, not off-screen.
    url = form.get_by_label("url", exact=True)
    url.fill("http://127.0.0.1:9/another-one")
    url.evaluate("e => e.scrollIntoView({block: 'end'})")
    url.press("Enter")
    expect(console.locator("#hooks tbody tr")).to_have_count(8)
    health_filled(console)
    assert in_view(console, console.locator("#secret"))
    expect(button(console, "Copy secret")).to_be_focused()
    assert in_view(console, button(console, "Copy secret"))


# ---- Saying what happened, where it happened -------------------------------------------------

def test_test_and_disable_say_their_outcome_in_the_row(console, service, event):
    webhook_id = create(service, event)
    sign_in(console, event)
    button(console, f"Test {webhook_id}").click()
    outcome = row(console, webhook_id).locator("[data-outcome]")
    expect(outcome).to_contain_text("Test failed")
    button(console, f"Disable {webhook_id}").click()
    expect(outcome).to_contain_text("Disabled: nothing is sent to it")
    assert in_view(console, outcome)


def test_an_unreachable_service_and_an_html_502_are_said_as_what_they_are(console, event):
    console.route("**/api/webhook.find", lambda route: route.fulfill(
        status=502, content_type="text/html", body="<html><body><h1>502 Bad Gateway</h1></body></html>"))
    sign_in(console, event, token="tok_anything")
    note = console.locator("#hooks-empty")
    expect(note).to_contain_text("The service answered 502")
    expect(note).to_contain_text("a gateway or proxy")
    expect(note).not_to_contain_text("Unexpected token")
    expect(console.get_by_label("Event", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(console.locator("#status")).to_contain_text("webhook.find → 502")

    console.unroute("**/api/webhook.find")
    console.route("**/api/webhook.find", lambda route: route.abort("connectionrefused"))
    console.get_by_role("button", name="Load webhooks").click()
    expect(note).to_contain_text("The service could not be reached")
    expect(console.get_by_label("Event", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(console.locator("#event-error")).to_have_text("")


def test_the_developer_help_is_served_by_the_local_run_only(console):
    expect(console.get_by_label("Token", exact=True)).to_have_accessible_description(re.compile("make run prints an admin token"))
    assert "make run" not in console_page.page({})
    assert "administrators" in console_page.page({})
    assert "make run" in console_page.page({console_page.LOCAL_RUN_FLAG: "1"})
    from app import app
    with Client(app) as client:  # as on Lambda: nothing sets the flag
        assert "make run" not in client.http.get("/").body.decode()

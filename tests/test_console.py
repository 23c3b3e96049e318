"""The web console in a real browser: Debian's Chromium driven by Playwright, against the local run."""

import os
import pathlib
import re

import pytest
from playwright.sync_api import expect, sync_playwright

from dev.receiver import Receiver
from tests.conftest import ADMIN

CHROMIUM = "/usr/bin/chromium"
ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a missing browser is a failure, never a skip
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def console(browser, local_service):
    local_service.wait_ready()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{local_service.port}/")
    yield page
    context.close()


def sign_in(page, event="1234"):
    page.get_by_label("Token", exact=True).fill(ADMIN)
    page.get_by_label("Event", exact=True).fill(event)
    page.get_by_label("Event", exact=True).press("Enter")
    expect(page.locator("#status")).to_have_text("webhook.find → 200")


def open_method(page, name):
    jar = page.get_by_role("button", name=f"Open {name}", exact=True)
    jar.focus()
    page.keyboard.press("Enter")  # the keyboard alone opens it
    return page.locator(f"form[aria-label='{name}']")


def test_create_a_webhook_with_the_keyboard_and_enter_and_see_its_secret_once(console):
    with Receiver() as receiver:
        sign_in(console)
        form = open_method(console, "webhook.create")
        expect(form.get_by_label("eventID", exact=True)).to_have_value("1234")
        form.get_by_label("url", exact=True).fill(receiver.url + "/hook")
        form.get_by_label("type", exact=True).select_option("activityDismissal")
        form.get_by_label("url", exact=True).press("Enter")
        expect(console.locator("#status")).to_have_text("webhook.create → 201")
        expect(console.locator("#answer")).to_contain_text('"secret": "whsec_')
        secret = console.locator("#secret-value")
        expect(secret).to_have_text(re.compile(r"^whsec_"))
        expect(console.locator("#secret")).to_contain_text("will not be shown again")
        expect(console.get_by_role("button", name="Copy secret")).to_be_visible()
        row = console.locator("#hooks tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("activityDismissal")
        expect(row).to_contain_text("enabled")


def test_find_lists_the_events_webhooks_and_remove_takes_one_away(console, local_service):
    for n in range(2):
        local_service.call("webhook.create", ADMIN, eventID="77", type="activityEnrollment", url=f"http://127.0.0.1:9/{n}")
    sign_in(console, event="77")
    form = open_method(console, "webhook.find")
    form.get_by_role("button", name="Run webhook.find").press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.find → 200")
    expect(console.locator("#answer")).to_contain_text('"count": 2')
    rows = console.locator("#hooks tbody tr")
    expect(rows).to_have_count(2)
    first_id = rows.first.get_attribute("data-webhook")
    form = open_method(console, "webhook.remove")
    form.get_by_label("webhookID", exact=True).fill(first_id)
    form.get_by_label("webhookID", exact=True).press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.remove → 200")
    expect(rows).to_have_count(1)


def test_a_bad_url_is_shown_with_its_field_highlighted(console):
    sign_in(console)
    form = open_method(console, "webhook.create")
    url = form.get_by_label("url", exact=True)
    url.fill("http://10.0.0.1/internal")
    url.press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 400")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(form.locator("#webhook-create-url-error")).to_contain_text("non-public address")
    expect(url).to_be_focused()
    expect(console.locator("#hooks tbody tr")).to_have_count(0)


def test_a_dispatched_delivery_appears_in_the_log_and_can_be_replayed(console, local_service):
    with Receiver() as receiver:
        local_service.call("webhook.create", ADMIN, eventID="1234", type="activityEnrollment", url=receiver.url)
        sign_in(console)
        form = open_method(console, "webhook.dispatch")
        form.get_by_label("activityID", exact=True).fill("98")
        form.get_by_label("personID", exact=True).fill("5521")
        form.get_by_label("personID", exact=True).press("Enter")
        expect(console.locator("#status")).to_have_text("webhook.dispatch → 202")
        receiver.wait_for(1, successes=True)
        console.get_by_role("button", name=re.compile(r"^Log wh_")).click()
        message = console.locator("#detail article.message")
        expect(message).to_have_count(1)
        expect(message).to_contain_text("delivered")
        expect(message.locator(".attempts li")).to_contain_text("200")
        message.get_by_role("button", name=re.compile("^Replay msg_")).click()
        expect(console.locator("#answer")).to_contain_text('"queued": 1')
        receiver.wait_for(2, successes=True)
        console.get_by_role("button", name=re.compile(r"^Log wh_")).click()
        expect(console.locator("#detail article.message .attempts li")).to_have_count(2)
        assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]

        # The screenshot in the README is this console, taken by this browser.
        examples = console.get_by_role("button", name=re.compile(r"^Examples wh_"))
        examples.click()
        expect(console.locator("#detail")).to_contain_text("What your endpoint receives")
        console.get_by_role("button", name=re.compile(r"^Log wh_")).click()
        expect(console.locator("#detail article.message")).to_have_count(1)
        form = open_method(console, "webhook.create")
        form.get_by_label("url", exact=True).fill("https://example.com/hooks/inevent")
        console.screenshot(path=str(ROOT / "docs" / "console.png"), full_page=False)


def test_method_forms_stay_closed_until_their_jar_opens_them(console):
    form = console.locator("form[aria-label='webhook.remove']")
    expect(form).to_be_hidden()
    open_method(console, "webhook.remove")
    expect(form).to_be_visible()
    expect(console.get_by_role("button", name="Close webhook.remove")).to_have_attribute("aria-expanded", "true")


def test_on_a_phone_sized_screen_everything_fits(browser, local_service):
    local_service.wait_ready()
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{local_service.port}/")
    sign_in(page)
    open_method(page, "webhook.create")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    page.screenshot(path=str(ROOT / "docs" / "console-phone.png"))
    context.close()


def test_every_control_has_a_name_for_screen_readers(console):
    unnamed = console.evaluate("""() => [...document.querySelectorAll('button, input, select')]
        .filter(e => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim()))
        .map(e => e.outerHTML)""")
    assert unnamed == []

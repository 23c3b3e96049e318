"""What the console's browser tests do with a page: open it, sign in, open a method, find a row or a
button, make webhooks and messages through the API, and check a view with axe-core."""

import pathlib
import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from chalicelib.catalog import CATALOG
from tests.conftest import ADMIN

CHROMIUM = "/usr/bin/chromium"
ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
UNREACHABLE = "http://127.0.0.1:9/hook"  # nothing listens there: every attempt fails at once
AXE = Axe()
# Every control on the page (or below its top) smaller than 24 x 24 px (WCAG 2.2, 2.5.8), described.
SMALL_CONTROLS = """() => [...document.querySelectorAll('button, a[href], input, select, textarea, summary')]
    .filter(e => e.getClientRects().length).map(e => [e.getBoundingClientRect(), e])
    .filter(([r]) => r.bottom + scrollY > 0 && (r.width < 23.5 || r.height < 23.5))
    .map(([r, e]) => e.outerHTML.slice(0, 80) + ` ${r.width}x${r.height}`)"""


# Counts the page's calls of each API method (window.calls), so that a test can show that a call
# was not made at a moment it controls, rather than by waiting.
COUNT_CALLS = """window.calls = {}; const fetched = window.fetch;
window.fetch = (url, ...rest) => { const m = String(url).match(/\\/api\\/([\\w.]+)/);
  if (m) window.calls[m[1]] = (window.calls[m[1]] || 0) + 1; return fetched(url, ...rest); };"""


def open_page(browser, service, viewport=DESKTOP, clock=False, **options):
    """A page of the console. ``clock``: the page's timers run only as the test's page.clock says,
    and window.calls counts its API calls."""
    context = browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(10000)
    page = context.new_page()
    if clock:
        page.clock.install()
        page.add_init_script(COUNT_CALLS)
    page.failed = []  # every answer of 400 or more that the page got (the favicon included)
    page.on("response", lambda response: page.failed.append(f"{response.status} {response.url}")
            if response.status >= 400 else None)
    page.goto(f"http://127.0.0.1:{service.port}/")
    expect(page.locator("#methods li").first).to_be_visible()  # the methods come from /openapi.json
    return page


def sign_in(page, event="1234", token=ADMIN):
    page.get_by_label("Token", exact=True).fill(token)
    page.get_by_label("Event", exact=True).fill(event)
    page.get_by_label("Event", exact=True).press("Enter")
    if token == ADMIN:
        expect(page.locator("#status")).to_have_text("webhook.find → 200")


def open_method(page, name):
    jar = page.get_by_role("button", name=f"Open {name}", exact=True)
    jar.focus()
    page.keyboard.press("Enter")  # the keyboard alone opens it
    return page.locator(f"form[aria-label='{name}']")


def create(service, event, url=UNREACHABLE, type="activityEnrollment", **fields):
    """A webhook of ``type``, or of ``types=[...]`` when given."""
    kind = {} if "types" in fields else {"type": type}
    status, body = service.call("webhook.create", ADMIN, eventID=event, url=url, **kind, **fields)
    assert status == 201, body
    return body["webhookID"]


def create_pull(service, event, types=("eventCheckIn",), **fields):
    """A pull webhook (contract, section 18): no url, its messages read with webhook.poll."""
    status, body = service.call("webhook.create", ADMIN, eventID=event, types=list(types), delivery="pull", **fields)
    assert status == 201, body
    return body["webhookID"]


def dispatch(service, event, type="activityEnrollment", person="5521"):
    """A platform event of ``type`` about ``person`` (in activity 98, for a type that names one)."""
    ids = {"activityID": "98", "personID": person}
    fields = {name: ids[name] for name in CATALOG[type].fields if name in ids}
    status, body = service.call("webhook.dispatch", ADMIN, type=type, eventID=event, **fields)
    assert status == 202, body
    return body["messageID"]


def skipped_messages(service, event, count, url=UNREACHABLE):
    """A disabled webhook with ``count`` skipped messages: a long log that no worker touches."""
    webhook_id = create(service, event, url)
    service.call("webhook.disable", ADMIN, webhookID=webhook_id)
    for n in range(count):
        dispatch(service, event, person=str(7000 + n))
    return webhook_id


def row(page, webhook_id):
    return page.locator(f"#hooks tr[data-webhook='{webhook_id}']")


def button(page, name):
    return page.get_by_role("button", name=name, exact=True)


def open_log(page, webhook_id, count=1):
    button(page, f"Log {webhook_id}").click()
    expect(page.locator("#detail article.message")).to_have_count(count)


def health_filled(page):
    """Every row's health line has been read (none says "…")."""
    expect(page.locator("#hooks tbody .health", has_text=re.compile(r"^…$"))).to_have_count(0)


def stray_nulls(page):
    """Text nodes of the open view that say just "null": a left-out part appended as text."""
    return page.evaluate("""() => [...document.querySelectorAll('#detail, #detail *')].flatMap(e => [...e.childNodes])
        .filter(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim() === 'null').length""")


def in_view(page, locator):
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def serious_violations(page):
    results = AXE.run(page, options={"resultTypes": ["violations"]})
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def focused_name(page):
    return page.evaluate("""() => { const e = document.activeElement;
        return e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].textContent) || e.textContent; }""")


def tab_to(page, name, limit=150, key="Tab"):
    """Press Tab until the focused control's name starts with ``name``: the keyboard alone."""
    for _ in range(limit):
        page.keyboard.press(key)
        if focused_name(page).strip().startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r}")

"""The console on contract sections 17 and 18 (issue 30), in a real browser: a webhook of several
types, or of all types, made and edited with a list of types, and shown wherever one type was
(the list, its filters, the view, the log's filter, test sends); a pull webhook made from the
console, shown with where its reader is, and a device's token made from its view."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ADMIN
from tests.console.pages import (DESKTOP, PHONE, SMALL_CONTROLS, button, create, create_pull, dispatch, open_log,
                                 open_method, open_page, row, serious_violations, sign_in, stray_nulls)

FOUR = ["eventEnrollment", "eventCheckIn", "activityEnrollment", "activityCheckIn"]


def create_typed(service, event, types, url="http://127.0.0.1:9/crm", **fields):
    return create(service, event, url, types=types, **fields)


def found(service, event, webhook_id):
    return next(h for h in service.call("webhook.find", ADMIN, eventID=event)[1]["data"] if h["webhookID"] == webhook_id)


def check_types(form, names):
    for name in names:
        form.get_by_label(re.compile(f"^{re.escape(name)} — "), exact=False).check()


# ---- Section 17: several types per webhook ---------------------------------------------------

def test_a_webhook_of_several_types_is_made_with_the_list_of_types_and_shown_wherever_its_type_was(console, service,
                                                                                                   event):
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    types = form.get_by_role("group", name="types")
    expect(types.get_by_label("All types (*)")).to_be_visible()
    expect(types.locator("input[data-type=eventCreated]")).to_have_count(1)  # said as the company level's only
    expect(types.get_by_label(re.compile("^eventCreated — .*company level only"))).to_have_count(1)
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/crm")
    form.get_by_label("type", exact=True).select_option("activityDismissal")
    check_types(types, FOUR)
    expect(form.get_by_label("type", exact=True)).to_have_value("")  # type or types: choosing one clears the other
    expect(types).to_contain_text("4 of")
    types.get_by_label(re.compile("^activityCheckIn — ")).press("Enter")  # Enter runs it from a checkbox too
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    webhook_id = console.locator("#hooks tbody tr").get_attribute("data-webhook")
    made = found(service, event, webhook_id)
    assert (made["types"], made["type"]) == (FOUR, None)

    expect(row(console, webhook_id).locator(".types")).to_have_text("eventEnrollment, eventCheckIn and 2 more (4 types)")
    console.get_by_label("Search webhooks", exact=True).fill("activitycheckin")  # every type is searched
    expect(row(console, webhook_id)).to_be_visible()
    console.get_by_label("Search webhooks", exact=True).fill("")
    list_filter = console.get_by_label("Webhook type", exact=True)
    assert list_filter.locator("option").all_text_contents() == ["any type", *FOUR]
    list_filter.select_option("activityCheckIn")
    expect(row(console, webhook_id)).to_be_visible()

    button(console, f"Log {webhook_id}").click()
    settings = console.get_by_label("Settings", exact=True)
    expect(settings).to_contain_text("Types" + ", ".join(FOUR))
    log_filter = console.locator("#filter-type")
    assert log_filter.locator("option").all_text_contents() == ["any type", *FOUR, "webhook.test"]
    button(console, f"Send a test to {webhook_id}").click()
    picker = console.get_by_label("Test type", exact=True)
    assert picker.locator("option").all_inner_texts()[:4] == [f"an example of {name}" for name in FOUR]
    picker.select_option("activityCheckIn")
    expect(console.get_by_label("Body to be sent", exact=True)).to_contain_text('"type": "activityCheckIn"')


def test_all_types_stand_alone_and_such_a_webhook_is_found_under_every_type(console, service, event):
    other = create_typed(service, event, ["speakerCreated"], url="http://127.0.0.1:9/speakers")
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    types = form.get_by_role("group", name="types")
    check_types(types, ["eventCheckIn"])
    types.get_by_label("All types (*)").check()
    expect(types.get_by_label(re.compile("^eventCheckIn — "))).to_be_disabled()  # * stands alone
    expect(types).to_contain_text("All types.")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/everything")
    form.get_by_label("url", exact=True).press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    everything = next(h["webhookID"] for h in service.call("webhook.find", ADMIN, eventID=event)[1]["data"]
                      if h["types"] == ["*"])
    expect(row(console, everything).locator(".types")).to_have_text("all types (*)")
    search = console.get_by_label("Search webhooks", exact=True)
    search.fill("all types")  # found by the words its row shows
    expect(row(console, everything)).to_be_visible()
    expect(row(console, other)).to_be_hidden()
    search.fill("")
    console.get_by_label("Webhook type", exact=True).select_option("eventCheckIn")
    expect(console.locator("#hooks tbody tr:visible")).to_have_count(1)
    expect(row(console, everything)).to_be_visible()
    expect(row(console, other)).to_be_hidden()
    console.get_by_label("Webhook type", exact=True).select_option("")
    button(console, f"Log {everything}").click()
    expect(console.get_by_label("Settings", exact=True)).to_contain_text(
        "Typesall types of the event level (*), those the catalog gains later too")


def test_a_type_the_level_does_not_take_is_refused_at_its_box_in_the_list_of_types(console, event):
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/crm")
    types = form.get_by_role("group", name="types")
    check_types(types, ["eventCheckIn", "eventCreated"])
    form.get_by_role("button", name="Run webhook.create").click()
    expect(console.locator("#status")).to_have_text("webhook.create → 400")
    refused = types.get_by_label(re.compile("^eventCreated — "))
    expect(refused).to_have_attribute("aria-invalid", "true")
    expect(refused).to_be_focused()
    expect(console.locator("#webhook-create-types-error")).to_contain_text("eventCreated")
    expect(types.get_by_label(re.compile("^eventCheckIn — "))).not_to_have_attribute("aria-invalid", "true")


def test_the_edit_form_changes_the_types_and_the_filter_follows_what_they_all_carry(console, service, event):
    webhook_id = create_typed(service, event, ["activityEnrollment", "activityCheckIn"], filter={"activityID": ["98"]})
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    button(console, f"Edit {webhook_id}").click()
    types = console.locator("#edit-form").get_by_role("group", name="Types")
    expect(types.get_by_label(re.compile("^eventCreated"))).to_have_count(0)  # the event level's types only
    activity = console.locator("#edit-form").get_by_label("activityID", exact=True)
    expect(activity).to_have_value("98")
    types.get_by_label(re.compile("^eventCheckIn — ")).check()  # carries no activityID
    kept = console.locator("#edit-filter-activityID")
    expect(console.locator("#edit-form label[for=edit-filter-activityID]")).to_contain_text("not carried by every type chosen")
    button(console, "Save changes").click()
    expect(kept).to_have_attribute("aria-invalid", "true")
    expect(kept).to_be_focused()
    for name in ("activityEnrollment", "activityCheckIn", "eventCheckIn"):
        types.get_by_label(re.compile(f"^{name} — ")).uncheck()
    button(console, "Save changes").click()
    expect(console.locator("#edit-types-error")).to_have_text("Choose one type or more, or All types.")
    types.get_by_label(re.compile("^eventCheckIn — ")).check()
    kept.fill("")
    button(console, "Save changes").click()
    expect(console.locator('#detail [data-outcome="edit"]')).to_have_text("Saved: types, filter changed.")
    expect(console.get_by_label("Settings", exact=True)).to_contain_text("TypeeventCheckIn")
    saved = found(service, event, webhook_id)
    assert (saved["types"], saved["filter"]) == (["eventCheckIn"], None)


def test_the_examples_and_the_template_preview_of_a_webhook_of_several_types_show_the_type_chosen(console, service,
                                                                                                     event):
    webhook_id = create_typed(service, event, ["eventCheckIn", "activityCheckIn"])
    one = create(service, event)
    sign_in(console, event)
    button(console, f"Examples {webhook_id}").click()
    example = console.get_by_label("Request example", exact=True)
    expect(example).to_contain_text('"type": "eventCheckIn"')  # the first of its types, by default
    console.get_by_label("Example of", exact=True).select_option("activityCheckIn")
    expect(example).to_contain_text('"type": "activityCheckIn"')
    button(console, f"Examples {one}").click()
    expect(console.get_by_label("Response example", exact=True)).to_be_visible()
    expect(console.get_by_label("Example of", exact=True)).to_have_count(0)  # one type: nothing to choose
    assert stray_nulls(console) == 0

    button(console, f"Log {webhook_id}").click()
    button(console, f"Edit the template of {webhook_id}").click()
    console.get_by_label("Slack", exact=True).check()
    preview = console.get_by_label("Rendered example", exact=True)
    expect(preview).to_have_text(f'{{"text":"Person 5521 checked in to event {event}"}}')
    console.get_by_label("Preview as", exact=True).select_option("activityCheckIn")
    expect(preview).to_have_text('{"text":"Person 5521 checked in to activity 98"}')


# ---- Section 18: pull webhooks and a device's token --------------------------------------------

def test_a_pull_webhook_is_made_from_the_console_and_its_log_says_what_polls_read(console, service, event):
    sign_in(console, event)
    form = open_method(console, "webhook.create")
    delivery = form.get_by_label("delivery", exact=True)
    expect(delivery.locator("option[value=pull]")).to_contain_text("no url")
    delivery.select_option("pull")
    expect(form.get_by_label("url", exact=True)).to_be_disabled()
    check_types(form.get_by_role("group", name="types"), ["eventCheckIn"])
    delivery.press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.create → 201")
    webhook_id = console.locator("#hooks tbody tr").get_attribute("data-webhook")
    assert found(service, event, webhook_id)["delivery"] == "pull"
    expect(row(console, webhook_id)).to_contain_text("pull: read with webhook.poll")
    console.get_by_label("Search webhooks", exact=True).fill("pull")  # found by the words its row shows
    expect(console.locator("#hooks tbody tr:visible")).to_have_count(1)
    console.get_by_label("Search webhooks", exact=True).fill("")
    expect(button(console, f"Test {webhook_id}")).to_have_count(0)  # nothing to send a test to

    first = dispatch(service, event, type="eventCheckIn", person="1")
    second = dispatch(service, event, type="eventCheckIn", person="2")
    open_log(console, webhook_id, count=2)
    button(console, f"View {second}").click()
    expect(console.locator("#detail")).to_contain_text("Not polled yet")
    assert stray_nulls(console) == 0  # what a message not sent yet has not is left out, not written "null"
    button(console, "Back to the log").click()
    expect(console.locator("#detail article.message")).to_have_count(2)
    settings = console.get_by_label("Settings", exact=True)
    expect(settings).to_contain_text("Deliverypull: nothing is POSTed")
    assert stray_nulls(console) == 0  # what a pull webhook's view leaves out is not written "null"
    expect(settings).not_to_contain_text("Rate limit")
    expect(button(console, f"Send a test to {webhook_id}")).to_have_count(0)
    expect(button(console, "Replay failed and skipped")).to_have_count(0)
    messages = console.locator("#detail article.message")
    expect(messages.first).to_contain_text("not polled yet")
    status, page = service.call("webhook.poll", ADMIN, webhookID=webhook_id, limit="1")
    assert status == 200 and page["data"][0]["messageID"] == first
    expect(console.locator(f"#detail article[data-message='{first}']")).to_contain_text(
        re.compile(r"delivered.*returned by a poll at \d{4}-"), timeout=10000)
    health = console.locator("#detail .health-list")
    expect(health).to_contain_text(f"Positionread up to {first} (eventCheckIn, dispatched ")
    expect(health).to_contain_text("1 newer message waits for the next poll")
    expect(health).to_contain_text(re.compile(r"Last poll\d{4}-.*: the latest poll that returned a message for the first time"))
    expect(row(console, webhook_id).locator(".health")).to_have_text("1 read by polls · 1 waiting to be polled")
    expect(button(console, f"Replay {first}")).to_have_count(0)  # an older cursor reads it again
    button(console, f"View {first}").click()
    expect(console.locator("#detail")).to_contain_text("What the poll that first returned it answered")
    expect(console.get_by_label("Body sent")).to_have_text(page["data"][0]["body"])
    button(console, f"Examples {webhook_id}").click()
    expect(console.locator("#detail")).to_contain_text("What a poll returns of a message")
    expect(console.get_by_label("Request example", exact=True)).to_contain_text('"url": null')
    expect(console.get_by_label("Response example", exact=True)).to_have_count(0)  # nothing answers a poll
    console.get_by_label("Find a message", exact=True).fill(first)
    console.get_by_label("Find a message", exact=True).press("Enter")
    expect(console.locator(f"#detail .trace-entry[data-webhook='{webhook_id}']")).to_contain_text(
        "pull: read with webhook.poll")


def test_a_pull_webhooks_edit_form_changes_what_it_has_and_offers_no_url(console, service, event):
    webhook_id = create_pull(service, event)
    sign_in(console, event)
    open_log(console, webhook_id, count=0)
    button(console, f"Edit {webhook_id}").click()
    form = console.locator("#edit-form")
    expect(form.get_by_label("Description", exact=True)).to_be_focused()
    for absent in ("URL", "Rate limit"):
        expect(form.get_by_label(absent, exact=True)).to_have_count(0)
    expect(form.get_by_role("group", name="Headers")).to_have_count(0)
    expect(button(console, f"Edit the template of {webhook_id}")).to_have_count(0)
    form.get_by_label("Description", exact=True).fill("Door scanner, hall B")
    form.get_by_role("group", name="Types").get_by_label(re.compile("^eventCheckOut — ")).check()
    button(console, "Save changes").click()
    expect(console.locator('#detail [data-outcome="edit"]')).to_have_text("Saved: description, types changed.")
    saved = found(service, event, webhook_id)
    assert (saved["description"], saved["types"], saved["delivery"]) == ("Door scanner, hall B",
                                                                         ["eventCheckIn", "eventCheckOut"], "pull")


def test_a_device_token_is_made_from_a_pull_webhooks_view_shown_once_and_polls_that_webhook_only(console, service,
                                                                                                event):
    webhook_id = create_pull(service, event)
    other = create_pull(service, event)
    sign_in(console, event)
    open_log(console, webhook_id, count=0)
    button(console, f"Make a device token for {webhook_id}").click()
    question = console.get_by_role("group", name="Make a token for one device?")
    expect(question).to_contain_text("may call webhook.poll on this webhook and nothing else")
    expect(question.get_by_role("button", name="Cancel")).to_be_focused()
    question.get_by_role("button", name="Make the token").click()
    token = console.locator("#detail #secret-value").text_content()
    expect(console.locator("#detail #secret")).to_contain_text("It will not be shown again")
    expect(console.locator("#detail #secret")).to_contain_text(f"python -m chalicelib.listen --webhook {webhook_id}")
    expect(button(console, "Copy token")).to_be_focused()
    assert service.call("webhook.poll", token, webhookID=webhook_id)[0] == 200
    assert service.call("webhook.poll", token, webhookID=other)[0] == 403
    assert service.call("webhook.find", token, eventID=event)[0] == 403

    organizer = service.call("token.create", ADMIN, eventID=event)[1]["tokenID"]  # may see the event, not make tokens
    console.get_by_label("Token", exact=True).fill(organizer)
    console.get_by_label("Token", exact=True).press("Enter")
    open_log(console, webhook_id, count=0)
    button(console, f"Make a device token for {webhook_id}").click()
    button(console, "Make the token").click()
    expect(console.locator('#detail [data-outcome="device"]')).to_contain_text(
        "No token made: only an admin token makes tokens")


# ---- Accessibility and the phone -------------------------------------------------------------

def type_views(page, service, event):
    """The views of sections 17 and 18 in turn; yields each one's name once it shows."""
    many = create_typed(service, event, FOUR, description="CRM: registrations and check-ins")
    pull = create_pull(service, event, types=FOUR)
    dispatch(service, event, type="eventCheckIn")
    sign_in(page, event)
    form = open_method(page, "webhook.create")
    check_types(form.get_by_role("group", name="types"), ["eventCheckIn"])
    yield "the create form's list of types"
    open_log(page, many)
    button(page, f"Edit {many}").click()
    expect(page.locator("#edit-form")).to_be_visible()
    yield "a webhook of several types, and its Edit form"
    button(page, f"Edit the template of {many}").click()
    page.get_by_label("Slack", exact=True).check()
    page.get_by_label("Preview as", exact=True).select_option("activityCheckIn")
    expect(page.get_by_label("Rendered example", exact=True)).to_contain_text("checked in to activity 98")
    yield "its template, previewed as one of its types"
    button(page, f"Examples {many}").click()
    page.get_by_label("Example of", exact=True).select_option("activityCheckIn")
    expect(page.get_by_label("Request example", exact=True)).to_contain_text('"type": "activityCheckIn"')
    yield "its examples, of one of its types"
    open_log(page, pull)
    button(page, f"Make a device token for {pull}").click()
    button(page, "Make the token").click()
    expect(page.locator("#detail #secret-value")).to_have_text(re.compile("."))
    yield "a pull webhook's view, a device's token made"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_views_of_several_types_and_pull_webhooks_pass_axe_and_fit_a_phone(browser, service, event, size):
    phone = size == "phone"
    page = open_page(browser, service, viewport=PHONE if phone else DESKTOP, is_mobile=phone)
    found_, small, wide = {}, {}, {}
    for view in type_views(page, service, event):
        found_[view] = serious_violations(page)
        small[view] = page.evaluate(SMALL_CONTROLS)
        wide[view] = page.evaluate("document.documentElement.scrollWidth")
    page.context.close()
    assert len(found_) == 5
    assert {view: v for view, v in found_.items() if v} == {}
    if phone:
        assert {view: v for view, v in small.items() if v} == {}
        assert {view: w for view, w in wide.items() if w > 375} == {}

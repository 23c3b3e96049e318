"""The console on contract sections 19 to 21 (issues 31 and 32), in a real browser: an ed25519
webhook's public key where it is made, in its view and at its rotation; an endpoint's OAuth 2.0
credentials set, changed and removed in the Edit form, and an attempt without an access token
said as such in the log; a webhook's template chosen with a live preview rendered by the service,
saved, and delivered as previewed."""

import base64
import json
import re

import pytest
from nacl.signing import VerifyKey
from playwright.sync_api import expect

from dev.receiver import Receiver
from dev.token_endpoint import TokenEndpoint
from tests.conftest import ADMIN
from tests.console.pages import (DESKTOP, PHONE, SMALL_CONTROLS, button, create, dispatch, open_log, open_method,
                                 open_page, serious_violations, sign_in, tab_to)

CLIENT_SECRET = "cs-typed-in-the-console"


def verifies(public_key, delivery, signature):
    """Whether ``signature`` (``v1a,<base64>``) is ``public_key``'s (``whpk_...``) over the delivery:
    libsodium's Ed25519, not the service's library, and the public key alone."""
    key = VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{delivery.headers['webhook-id']}.{delivery.headers['webhook-timestamp']}.".encode() + delivery.body
    try:
        key.verify(signed, base64.b64decode(signature.removeprefix("v1a,")))
    except Exception:  # noqa: BLE001 - nacl's BadSignatureError, or a malformed one: either way not verified
        return False
    return True


def hook(service, webhook_id, event):
    return next(h for h in service.call("webhook.find", ADMIN, eventID=event)[1]["data"] if h["webhookID"] == webhook_id)


def settings(page):
    return page.get_by_label("Settings", exact=True)


# ---- Section 19: keys receivers can publish ------------------------------------------------

def test_an_ed25519_webhook_made_in_the_create_form_shows_its_public_key_and_says_it_is_no_secret(console, service, event):
    with Receiver() as receiver:
        sign_in(console, event)
        form = open_method(console, "webhook.create")
        signature = form.get_by_label("signature", exact=True)
        expect(signature.locator("option[value=ed25519]")).to_have_text(
            "ed25519 — a key pair signs (v1a); receivers verify with the public key alone")
        form.get_by_label("url", exact=True).fill(receiver.url + "/keys")
        form.get_by_label("type", exact=True).select_option("activityEnrollment")
        signature.select_option("ed25519")
        signature.press("Enter")
        expect(console.locator("#status")).to_have_text("webhook.create → 201")
        made = console.locator("#secret")
        expect(made).to_contain_text("Public key: not a secret")
        expect(made).to_contain_text("it can be published")
        expect(made).not_to_contain_text("will not be shown again")
        expect(console.locator("#secret-value")).to_have_count(0)
        key = console.locator("#public-key-value").text_content()
        assert key.startswith("whpk_")
        form.get_by_role("button", name="Run webhook.create").focus()
        console.keyboard.press("Tab")
        expect(button(console, "Copy public key")).to_be_focused()  # one Tab away, as a secret's Copy is

        webhook_id = console.locator("#hooks tbody tr").get_attribute("data-webhook")
        button(console, f"Log {webhook_id}").click()
        expect(settings(console)).to_contain_text("Signatureed25519 (v1a)")
        expect(settings(console)).to_contain_text("Public key" + key)
        dispatch(service, event)
        (delivery,) = receiver.wait_for(1)
        assert verifies(key, delivery, delivery.headers["webhook-signature"])  # the key the page showed


def test_an_ed25519_key_is_rotated_from_the_view_with_the_new_public_key_shown_and_the_overlap_said(console, service,
                                                                                                    event):
    with Receiver() as receiver:
        status, made = service.call("webhook.create", ADMIN, eventID=event, type="activityEnrollment", url=receiver.url,
                                    signature="ed25519")
        webhook_id, old = made["webhookID"], made["publicKey"]
        sign_in(console, event)
        open_log(console, webhook_id, count=0)
        button(console, f"Rotate the signing key of {webhook_id}").click()
        question = console.get_by_role("group", name="Rotate the signing key?")
        expect(question).to_contain_text("For 24 hours every delivery also carries a signature made with the current key")
        expect(question.get_by_role("button", name="Cancel")).to_be_focused()
        question.get_by_role("button", name="Rotate now").click()
        shown = console.locator("#detail #public-key-value")
        expect(shown).to_have_text(re.compile("^whpk_"))
        new = shown.text_content()
        assert new != old
        expect(console.locator("#detail .rotated")).to_contain_text(
            "every delivery carries two signatures, the new key's first: give your receivers the new public key")
        expect(console.locator("#detail #secret")).to_contain_text("not a secret")
        expect(settings(console)).to_contain_text("Public key" + new)
        expect(settings(console)).to_contain_text("Previous public key" + old)
        expect(settings(console)).to_contain_text("for 24 hours after the rotation every delivery also carries its signature")
        expect(button(console, "Copy public key")).to_be_focused()  # the settings drawn again took nothing

        dispatch(service, event)
        (delivery,) = receiver.wait_for(1)
        first, second = delivery.headers["webhook-signature"].split(" ")
        assert verifies(new, delivery, first) and verifies(old, delivery, second)


def test_webhook_rotate_secret_in_the_methods_panel_shows_an_ed25519_webhooks_new_public_key(console, service, event):
    webhook_id = create(service, event, signature="ed25519")
    sign_in(console, event)
    form = open_method(console, "webhook.rotateSecret")
    form.get_by_label("webhookID", exact=True).fill(webhook_id)
    form.get_by_label("webhookID", exact=True).press("Enter")
    expect(console.locator("#status")).to_have_text("webhook.rotateSecret → 200")
    expect(console.locator("#public-key-value")).to_have_text(hook(service, webhook_id, event)["publicKey"])
    expect(console.locator("#secret")).to_contain_text("give your receivers the new public key within that time")


# ---- Section 20: endpoints that ask for credentials ------------------------------------------

def test_the_edit_form_sets_changes_and_removes_oauth_credentials_and_never_shows_the_client_secret(console, service,
                                                                                                     event):
    with Receiver() as receiver, TokenEndpoint(client_secret=CLIENT_SECRET, scope="webhooks") as tokens:
        webhook_id = create(service, event, receiver.url + "/crm")
        sign_in(console, event)
        button(console, f"Log {webhook_id}").click()
        expect(settings(console)).to_contain_text("Credentialsnone")
        button(console, f"Edit {webhook_id}").click()
        console.get_by_label("OAuth 2.0 client credentials").check()
        expect(console.get_by_label("Token URL", exact=True)).to_be_focused()
        console.get_by_label("Token URL", exact=True).fill(tokens.url)
        console.get_by_label("Client ID", exact=True).fill("inevent")
        console.get_by_label("Client secret", exact=True).fill(CLIENT_SECRET)
        console.get_by_label("Scope (optional)", exact=True).fill("webhooks")
        button(console, "Save changes").click()
        saved = console.locator('#detail [data-outcome="edit"]')
        expect(saved).to_have_text("Saved: auth changed.")
        expect(settings(console)).to_contain_text(
            f"CredentialsOAuth 2.0 client credentials: an access token from {tokens.url} for client inevent, scope webhooks")
        assert hook(service, webhook_id, event)["auth"] == {"type": "oauth2", "tokenUrl": tokens.url, "clientID": "inevent",
                                                            "scope": "webhooks"}
        dispatch(service, event)
        (delivery,) = receiver.wait_for(1)
        assert tokens.accepts(delivery.headers["authorization"])  # the token got with what was typed
        assert (tokens.requests[0].client, tokens.requests[0].form["scope"]) == (("inevent", CLIENT_SECRET), "webhooks")

        # A change needs the client secret typed anew: it is never shown back.
        button(console, f"Edit {webhook_id}").click()
        secret = console.get_by_label("Client secret", exact=True)
        expect(secret).to_have_value("")
        console.get_by_label("Scope (optional)", exact=True).fill("webhooks events")
        button(console, "Save changes").click()
        expect(secret).to_have_attribute("aria-invalid", "true")
        expect(secret).to_have_accessible_description(re.compile("Type the client secret: it is never shown back"))
        expect(secret).to_be_focused()
        secret.fill(CLIENT_SECRET)
        button(console, "Save changes").click()
        expect(settings(console)).to_contain_text("for client inevent, scope webhooks events")
        assert hook(service, webhook_id, event)["auth"]["scope"] == "webhooks events"

        button(console, f"Edit {webhook_id}").click()
        console.locator("#edit-form").get_by_label("None", exact=True).check()
        button(console, "Save changes").click()
        expect(settings(console)).to_contain_text("Credentialsnone")
        expect(saved).to_have_text("Saved: auth changed.")
        assert hook(service, webhook_id, event)["auth"] is None
        assert CLIENT_SECRET not in console.content()


def test_credentials_are_checked_at_each_field_at_once_and_the_services_refusal_is_said_at_its_field(console, service,
                                                                                                     event):
    webhook_id = create(service, event, headers={"Authorization": "Bearer a-static-key"})
    sign_in(console, event)
    button(console, f"Log {webhook_id}").click()
    button(console, f"Edit {webhook_id}").click()
    console.get_by_label("OAuth 2.0 client credentials").check()
    fields = {name: console.get_by_label(name, exact=True) for name in ("Token URL", "Client ID", "Client secret",
                                                                          "Scope (optional)")}
    fields["Token URL"].fill("ftp://tokens.example.com/token")
    fields["Scope (optional)"].fill('webhooks "all"')
    button(console, "Save changes").click()
    for field in fields.values():
        expect(field).to_have_attribute("aria-invalid", "true")
    expect(fields["Token URL"]).to_have_accessible_description(re.compile("must be an absolute http or https URL"))
    expect(console.locator("#edit-auth-error")).to_contain_text("remove the Authorization header above")
    expect(fields["Token URL"]).to_be_focused()

    console.get_by_label("Change the headers").check()
    console.locator(".header-row button").first.click()  # the Authorization header goes
    fields["Token URL"].fill("http://10.0.0.1/oauth/token")  # refused by the service only: its destination checks
    fields["Client ID"].fill("inevent")
    fields["Client secret"].fill(CLIENT_SECRET)
    fields["Scope (optional)"].fill("webhooks")
    button(console, "Save changes").click()
    expect(fields["Token URL"]).to_have_attribute("aria-invalid", "true")
    expect(console.locator("#edit-auth-tokenUrl-error")).to_contain_text("private network")
    expect(fields["Token URL"]).to_be_focused()
    for name in ("Client ID", "Client secret", "Scope (optional)"):
        expect(fields[name]).not_to_have_attribute("aria-invalid", "true")
    saved = hook(service, webhook_id, event)
    assert (saved["auth"], saved["headers"]) == (None, ["Authorization"])  # nothing changed
    assert CLIENT_SECRET not in console.content()


def test_an_attempt_that_got_no_access_token_is_said_as_the_credentials_failing_not_the_endpoint(console, service, event):
    with Receiver() as receiver, TokenEndpoint() as tokens:
        webhook_id = create(service, event, receiver.url, auth=tokens.auth(clientSecret="not-the-one"))
        message_id = dispatch(service, event)
        sign_in(console, event)
        open_log(console, webhook_id)
        said = ("The credentials failed (OAuth 2.0), so the endpoint was not called: the token endpoint answered 401 "
                "(invalid_client). Check the token URL, client ID and client secret in Edit.")
        article = console.locator("#detail article.message")
        expect(article).to_contain_text("1 attempt(s) · last not sent: no access token", timeout=10000)
        expect(article).to_contain_text(said)
        button(console, f"View {message_id}").click()
        attempt = console.locator("#detail .attempts li")
        expect(attempt).to_contain_text(re.compile(r"Attempt 1 · .* · not sent: no access token · \d+ ms"))
        expect(attempt).to_contain_text(said)
        assert receiver.requests == []


# ---- Section 21: templates, with a live preview ----------------------------------------------

def test_a_template_is_chosen_previewed_live_and_saved_with_the_keyboard_and_delivered_as_previewed(console, service,
                                                                                                   event):
    with Receiver() as receiver:
        webhook_id = create(service, event, receiver.url)
        sign_in(console, event)
        open_log(console, webhook_id, count=0)
        expect(settings(console)).to_contain_text("Templatenone: the usual JSON body")
        button(console, f"Edit the template of {webhook_id}").focus()
        console.keyboard.press("Enter")
        expect(console.get_by_label("The usual JSON body", exact=True)).to_be_focused()
        preview = console.get_by_label("Rendered example", exact=True)
        expect(preview).to_contain_text('"type":"activityEnrollment"')
        console.keyboard.press("ArrowDown")  # the radio buttons, with the keyboard
        expect(console.get_by_label("Slack", exact=True)).to_be_checked()
        expect(preview).to_have_text('{"text":"Person 5521 enrolled in activity 98"}')
        console.keyboard.press("ArrowDown")
        expect(preview).to_contain_text('"type":"AdaptiveCard"')
        console.keyboard.press("ArrowDown")
        body = console.get_by_label("Template", exact=True)
        expect(body).to_have_value(re.compile(re.escape('"personID": "{{data.personID}}"')))  # a first one, from the example
        expect(preview).to_contain_text('"personID": "5521"')
        tab_to(console, "Content type")
        console.keyboard.type("text/")  # a closed select picks the option typed
        tab_to(console, "Template")
        console.keyboard.press("ControlOrMeta+a")
        console.keyboard.type("{{data.personID}},{{type}}")
        expect(preview).to_have_text("5521,activityEnrollment")
        expect(console.locator("#template-preview-about")).to_contain_text("sent as text/plain")
        tab_to(console, "Save template")
        console.keyboard.press("Enter")
        expect(console.locator('#detail [data-outcome="edit"]')).to_have_text(
            "Saved. Template: a Mustache template of its own, sent as text/plain (26 bytes).")
        expect(settings(console)).to_contain_text("Templatea Mustache template of its own, sent as text/plain (26 bytes)")
        expect(button(console, f"Edit the template of {webhook_id}")).to_be_focused()

        dispatch(service, event)
        (delivery,) = receiver.wait_for(1)
        assert delivery.body == b"5521,activityEnrollment"
        assert delivery.headers["content-type"].startswith("text/plain")


def test_a_template_the_service_refuses_is_said_at_its_field_and_nothing_is_saved(console, service, event):
    webhook_id = create(service, event)
    previews = []
    console.on("request", lambda r: previews.append(json.loads(r.post_data).get("template"))
               if r.url.endswith("/api/webhook.requestExample") else None)
    sign_in(console, event)
    open_log(console, webhook_id, count=0)
    button(console, f"Edit the template of {webhook_id}").click()
    console.get_by_label("A template of your own", exact=True).check()
    body = console.get_by_label("Template", exact=True)
    preview = console.get_by_label("Rendered example", exact=True)
    body.fill('{"person": "{{data.personID}}"}')
    expect(preview).to_have_text('{"person": "5521"}')
    body.fill('{"person": {{data.personID}}')  # not JSON once rendered: the service says so
    expect(body).to_have_attribute("aria-invalid", "true")
    expect(body).to_have_accessible_description(re.compile("rendered over the example of activityEnrollment"))
    expect(preview).to_have_class(re.compile(r"\bstale\b"))
    expect(preview).to_have_text('{"person": "5521"}')  # the last one that rendered
    assert {"body": '{"person": {{data.personID}}', "contentType": "application/json"} in previews
    button(console, "Save template").click()
    expect(console.locator('#detail [data-outcome="template"]')).to_contain_text("Not saved")
    expect(body).to_be_focused()
    body.fill("{{#data}}")
    expect(body).to_have_accessible_description(re.compile("does not parse"))
    body.fill("x" * 5000)
    expect(body).to_have_accessible_description(re.compile(r"At most 4,096 bytes of UTF-8 \(5,000 now\)"))
    assert previews[-1] != {"body": "x" * 5000, "contentType": "application/json"}  # refused before it is sent
    body.press("Escape")  # a change not saved: it asks first
    expect(button(console, "Keep editing")).to_be_focused()
    button(console, "Discard them").click()
    expect(console.locator("#template-form")).to_have_count(0)
    assert service.call("webhook.requestExample", ADMIN, webhookID=webhook_id)[1]["template"] is None


# ---- Accessibility and the phone -------------------------------------------------------------

def key_views(page, service, event, tokens):
    """The views of sections 19 to 21 in turn; yields each one's name once it shows."""
    sign_in(page, event)
    form = open_method(page, "webhook.create")
    form.get_by_label("url", exact=True).fill("http://127.0.0.1:9/keys")
    form.get_by_label("type", exact=True).select_option("activityEnrollment")
    form.get_by_label("signature", exact=True).select_option("ed25519")
    form.get_by_label("url", exact=True).press("Enter")
    expect(page.locator("#public-key-value")).to_have_text(re.compile("^whpk_"))
    yield "a public key where it was made"
    webhook_id = page.locator("#hooks tbody tr").get_attribute("data-webhook")
    service.call("webhook.update", ADMIN, webhookID=webhook_id, auth=tokens.auth(clientSecret="not-the-one"))
    dispatch(service, event)
    open_log(page, webhook_id)
    expect(page.locator("#detail article.message")).to_contain_text("no access token", timeout=10000)
    yield "an ed25519 webhook's view, its credentials failing"
    button(page, f"Rotate the signing key of {webhook_id}").click()
    button(page, "Rotate now").click()
    expect(settings(page)).to_contain_text("Previous public key")
    yield "a key rotated"
    button(page, f"Edit {webhook_id}").click()
    page.get_by_label("Token URL", exact=True).fill("ftp://tokens.example.com/token")
    page.get_by_label("Scope (optional)", exact=True).fill('"')
    button(page, "Save changes").click()
    expect(page.get_by_label("Client secret", exact=True)).to_have_attribute("aria-invalid", "true")
    yield "credentials refused at their fields"
    button(page, "Cancel").click()
    button(page, "Discard them").click()
    button(page, f"Edit the template of {webhook_id}").click()
    page.get_by_label("A template of your own", exact=True).check()
    page.get_by_label("Template", exact=True).fill('{"person": {{data.personID}}')
    expect(page.get_by_label("Template", exact=True)).to_have_attribute("aria-invalid", "true")
    yield "a template refused, with its preview"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_views_of_keys_credentials_and_templates_pass_axe_and_fit_a_phone(browser, service, event, size):
    phone = size == "phone"
    with TokenEndpoint() as tokens:
        page = open_page(browser, service, viewport=PHONE if phone else DESKTOP, is_mobile=phone)
        found, small, wide = {}, {}, {}
        for view in key_views(page, service, event, tokens):
            found[view] = serious_violations(page)
            small[view] = page.evaluate(SMALL_CONTROLS)
            wide[view] = page.evaluate("document.documentElement.scrollWidth")
        page.context.close()
    assert len(found) == 5
    assert {view: v for view, v in found.items() if v} == {}
    if phone:
        assert {view: v for view, v in small.items() if v} == {}
        assert {view: w for view, w in wide.items() if w > 375} == {}

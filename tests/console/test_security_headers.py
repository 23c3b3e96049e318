"""Security headers on the console and the API, and the console still working under its
policy in a real browser (issue 19)."""

import pytest
from playwright.sync_api import expect

from tests.console.pages import open_page, sign_in

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def lower(headers):
    return {name.lower(): value for name, value in headers.items()}


@pytest.mark.parametrize("path", ["/", "/console/console.js", "/console/console.css", "/openapi.json",
                                  "/api/webhook.find?eventID=1", "/console/nope"])
def test_every_answer_carries_the_security_headers(client, path):
    headers = lower(client.http.get(path).headers)
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, (path, name)
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_the_console_works_under_its_policy_with_no_violation(browser, service):
    violations = []
    page = open_page(browser, service)
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text or "CSP violation" in message.text else None)
    page.context.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                                 "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));")
    page.reload()
    expect(page.locator("#methods li").first).to_be_visible()  # built by its script from /openapi.json
    sign_in(page, "csp-event")  # a call to the API from the page
    page.locator("#methods li").nth(1).click()
    page.wait_for_timeout(300)
    assert violations == []
    headers = lower(page.request.get(f"http://127.0.0.1:{service.port}/").headers)
    assert headers["x-frame-options"] == "DENY"
    page.context.close()

"""The pages raise no Content-Security-Policy violation at any step a person takes, htmx swaps included."""

import re

import pytest

from e2e.conftest import fill_create_form

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

# Runs in every document before its own scripts. The browser fires securitypolicyviolation for whatever the
# policy refused, logged or not; each one goes straight to the test, so a navigation right after loses none.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(`${event.violatedDirective} refused ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || document.location.href}:${event.lineNumber}: ${event.sample}`);
});
"""


def watch(page):
    """Lists that fill with the CSP violations and console errors of every document the page loads."""
    violations, console_errors = [], []
    page.expose_function("reportCspViolation", lambda violation: violations.append(violation))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    return violations, console_errors


def test_no_violation_across_the_key_lifecycle(page, lived_in, log_in):
    violations, console_errors = watch(page)
    log_in(page, "not-a-user@e2e.test", "not the password")
    expect(page.get_by_role("alert")).to_be_visible()
    log_in(page, lived_in.admin_email)
    page.wait_for_url("**/settings/api-keys")
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()

    # A refused create (no name, no service), then a good one: the reveal panel and Copy. Autofill and browser
    # extensions style fields through the CSSOM (which the policy allows), leaving a style attribute that
    # htmx's settle step would copy onto the swapped-in field with setAttribute (which it refuses).
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    dialog.get_by_label("New API Key Name").evaluate("field => { field.style.color = 'red'; field.style.color = ''; }")
    dialog.get_by_role("button", name="Create API Key").click()
    expect(dialog.locator("#name-error")).to_be_visible()
    fill_create_form(dialog, name="CSP watcher", services=("Checklist Analytics",))
    dialog.get_by_role("button", name="Create API Key").click()
    panel = page.get_by_role("status").filter(has_text="This is the only time")
    expect(panel).to_be_visible()
    panel.get_by_role("button", name="Copy").click()
    expect(panel).to_contain_text("Copied to the clipboard.")
    expect(page.locator("#activity")).to_contain_text("CSP watcher")

    # The filters, through htmx and back through history.
    for label in ("Expired", "Deactivated", "All", "Active"):
        page.get_by_role("tab", name=re.compile(rf"^{label}\b")).click()
        expect(page.get_by_role("tab", name=re.compile(rf"^{label}\b"))).to_have_attribute("aria-selected", "true")
    page.go_back()
    expect(page.get_by_role("tab", name=re.compile(r"^All\b"))).to_have_attribute("aria-selected", "true")

    # Delete, accepting the confirmation; then the create dialog once more, closed with Escape.
    page.once("dialog", lambda confirmation: confirmation.accept())
    page.get_by_role("button", name="Delete key Power BI connector").click()
    expect(page.get_by_role("status").filter(has_text="was deactivated")).to_be_visible()
    page.get_by_role("button", name="Create New Key").click()
    dialog.press("Escape")
    expect(dialog).to_be_hidden()

    # The pages of their own: the activity trail and the API documentation.
    page.goto("/settings/api-keys/activity")
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()
    page.goto("/settings/api-docs")
    expect(page.locator("pre code").first).to_be_visible()

    assert violations == []
    # The refused login (401) and the refused create (422) are answers the browser reports; nothing else may be.
    assert [error for error in console_errors if not re.search(r"status of (401|422) ", error)] == []

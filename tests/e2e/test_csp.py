"""The pages raise no Content-Security-Policy violation at any step a person takes, htmx swaps included.

Every browser test's pages are watched (make_page in conftest.py); this one walks the whole key lifecycle.
"""

import re

import pytest

from e2e.conftest import fill_create_form

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

def test_no_violation_across_the_key_lifecycle(page, lived_in, log_in):
    console_errors = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    log_in(page, "not-a-user@e2e.test", "not the password")
    expect(page.get_by_role("alert")).to_be_visible()
    log_in(page, lived_in.admin_email)
    page.wait_for_url("**/settings/api-keys")
    expect(page.get_by_role("heading", name="API Keys")).to_be_visible()

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
    panel.get_by_role("button", name="Copy", exact=True).click()
    expect(panel).to_contain_text("Copied to the clipboard.")

    # The filters, through htmx and back through history.
    for label in ("Expired", "Deactivated", "All", "Active"):
        page.get_by_role("tab", name=re.compile(rf"^{label}\b")).click()
        expect(page.get_by_role("tab", name=re.compile(rf"^{label}\b"))).to_have_attribute("aria-selected", "true")
    page.go_back()
    expect(page.get_by_role("tab", name=re.compile(r"^All\b"))).to_have_attribute("aria-selected", "true")

    # Delete, confirmed in its dialog; then the create dialog once more, closed with Escape.
    page.get_by_role("button", name="Delete key Power BI connector").click()
    page.get_by_role("dialog", name="Delete API key").get_by_role("button", name="Delete key").click()
    expect(page.get_by_role("status").filter(has_text="was deactivated")).to_be_visible()
    page.get_by_role("button", name="Create New Key").click()
    dialog.press("Escape")
    expect(dialog).to_be_hidden()

    # The pages of their own: Activity (its filters through htmx) and the API documentation.
    page.get_by_role("navigation", name="Admin Settings").get_by_role("link", name="Activity").click()
    expect(page.locator("#activity")).to_contain_text("CSP watcher")
    page.get_by_label("Event", exact=True).select_option(label="Key created")
    expect(page).to_have_url(re.compile(r"/activity\?event=key_created"))
    expect(page.locator("#activity tbody tr")).to_have_count(1)
    page.goto("/settings/api-docs")
    expect(page.locator("pre code").first).to_be_visible()

    assert page.csp_violations == []
    # The refused login (401) and the refused create (422) are answers the browser reports; nothing else may be.
    assert [error for error in console_errors if not re.search(r"status of (401|422) ", error)] == []

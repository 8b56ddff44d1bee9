"""axe-core finds no serious or critical violation on any state of the pages a person goes through.

axe-core comes from requirements-dev.txt (axe-playwright-python ships axe.min.js), so they run wherever Chromium is.
"""

import re

import pytest

from floqast.keys import tokens

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


def open_dialog(page):
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    expect(dialog).to_be_visible()
    return dialog


def test_login_page(page, seeded, log_in, axe):
    page.goto("/login")
    expect(page.get_by_label("Email")).to_be_focused()
    axe(page)
    log_in(page, seeded.admin_email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    axe(page)


def test_api_keys_page_every_tab(admin_page, lived_in, axe):
    page = admin_page
    for status in ("active", "expired", "deactivated", "all"):
        page.goto(f"/settings/api-keys?status={status}")
        expect(page.locator("#key-list tbody tr").first).to_be_visible()
        axe(page)


def test_empty_state(admin_page, axe):
    expect(admin_page.get_by_role("tabpanel")).to_contain_text("No active keys.")
    axe(admin_page)


def test_open_dialog_and_its_errors(admin_page, lived_in, axe, shot):
    page = admin_page
    page.reload()
    dialog = open_dialog(page)
    axe(page)
    dialog.get_by_label("Expiration", exact=True).select_option(label="No expiration")
    axe(page)
    dialog.get_by_label("Expiration", exact=True).select_option(label="Custom date")
    dialog.get_by_role("button", name="Create API Key").click()
    expect(dialog.locator("#name-error")).to_be_visible()
    expect(dialog.locator("#custom_date-error")).to_be_visible()
    expect(dialog.locator("#services-error")).to_be_visible()
    shot(page, "errors", full_page=False)
    axe(page)


def test_reveal_panel(admin_page, axe):
    page = admin_page
    dialog = open_dialog(page)
    dialog.get_by_label("New API Key Name").fill("Looker")
    dialog.get_by_label("Checklist Analytics").check()
    dialog.get_by_role("button", name="Create API Key").click()
    panel = page.get_by_role("status").filter(has_text="This is the only time")
    expect(panel).to_be_visible()
    axe(page)
    panel.get_by_role("button", name="Copy", exact=True).click()
    axe(page)


def test_delete_notice(admin_page, lived_in, axe):
    page = admin_page
    page.reload()
    page.get_by_role("button", name="Delete key Power BI connector").click()
    expect(page.get_by_role("dialog", name="Delete API key")).to_be_visible()
    axe(page)
    page.get_by_role("dialog").get_by_role("button", name="Delete key").click()
    expect(page.get_by_role("status").filter(has_text="was deactivated")).to_be_visible()
    axe(page)


def test_pages_without_javascript(make_page, lived_in, log_in, axe):
    page = make_page(java_script_enabled=False)
    log_in(page, lived_in.admin_email)
    page.goto("/settings/api-keys/new")
    expect(page.get_by_role("dialog", name="Create New Key")).to_be_visible()
    axe(page)
    page.get_by_role("button", name="Create API Key").click()
    expect(page.locator("#name-error")).to_be_visible()
    axe(page)
    page.goto("/settings/api-keys?status=all")
    page.get_by_role("link", name="Delete key Power BI connector").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete API key")
    axe(page)


def key_page(page, seeded, name):
    page.goto(f"/settings/api-keys/{seeded.key(name).id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_key_pages_and_their_errors(admin_page, lived_in, axe):
    page = admin_page
    for name in ("Power BI connector", "Tableau pilot", "Contractor laptop"):  # active, expired, deactivated
        key_page(page, lived_in, name)
        axe(page)
    key_page(page, lived_in, "Power BI connector")
    page.get_by_label("Key name").fill("")
    page.get_by_label("Description (optional)").fill(f"Our key is {tokens.generate()}")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#name-error")).to_be_visible()
    expect(page.locator("#description-error")).to_be_visible()
    axe(page)


def test_a_key_page_without_javascript(make_page, lived_in, log_in, axe):
    page = make_page(java_script_enabled=False)
    log_in(page, lived_in.admin_email)
    key_page(page, lived_in, "Power BI connector")
    axe(page)


def test_phone_width(make_page, lived_in, log_in, axe):
    page = make_page(viewport={"width": 375, "height": 812})
    log_in(page, lived_in.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    page.goto("/settings/api-keys?status=all")
    axe(page)
    open_dialog(page)
    axe(page)
    key_page(page, lived_in, "Snowflake nightly")
    axe(page)


def test_a_manager_home_page(page, seeded, log_in, axe):
    log_in(page, seeded.manager_email)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    axe(page)
    page.goto("/settings/api-keys")
    axe(page)

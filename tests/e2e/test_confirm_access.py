"""Confirm access in Chromium: past CONFIRM_ACCESS_SECONDS (the app's clock moved by patching it), creating or rolling
a key asks for the password in a dialog over the page (htmx, at 375 px) or on a page (no JavaScript), keeps what
was typed through a wrong password, and then does what was asked; checked by axe-core."""

import re
from datetime import timedelta

import pytest

from e2e.conftest import PASSWORD, assert_fits, fill_create_form, pull
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.models import ApiKey
from helpers import freeze

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

PHONE = {"width": 375, "height": 812}


@pytest.fixture
def stale_login(monkeypatch):
    """Move the app's clock past CONFIRM_ACCESS_SECONDS (15 minutes) after the login."""
    return lambda: freeze(monkeypatch, utcnow() + timedelta(seconds=901))


def test_the_dialog_asks_over_the_create_dialog_and_then_creates_the_key_as_typed(make_page, seeded, log_in,
                                                                                  base_url, stale_login, axe, shot):
    page = make_page(viewport=PHONE)
    log_in(page, seeded.admin_email)
    page.wait_for_url("**/settings/api-keys")
    stale_login()

    page.get_by_role("button", name="Create New Key").click()
    create = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(create, name="Vendor audit", expiration="30 days",
                     services=("Reconciliation Analytics", "Checklist Analytics"))
    create.get_by_label("Description").fill("Q4 audit by Smith & Co")
    create.get_by_role("button", name="Create API Key").click()

    confirm = page.get_by_role("dialog", name="Confirm access")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("You are about to create an API key.")
    expect(confirm.get_by_label("Password")).to_be_focused()
    assert_fits(page)
    axe(page, "#confirm-access-dialog")
    shot(page, "asked")

    # A wrong password: said in the dialog, next to the field; nothing made; the create dialog as it was.
    confirm.get_by_label("Password").fill("not my password")
    confirm.get_by_role("button", name="Confirm").click()
    confirm = page.get_by_role("dialog", name="Confirm access")
    expect(confirm.locator("#access_password-error")).to_have_text("Incorrect password.")
    expect(confirm.get_by_label("Password")).to_have_attribute("aria-describedby", "access_password-error")
    expect(confirm.get_by_label("Password")).to_be_focused()
    assert seeded.key("Vendor audit") is None
    shot(page, "wrong")

    # Cancel goes back to the create dialog, focus on its button and every field as typed.
    confirm.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog", name="Confirm access")).to_have_count(0)
    expect(create.get_by_role("button", name="Create API Key")).to_be_focused()
    expect(create.get_by_label("New API Key Name")).to_have_value("Vendor audit")
    expect(create.get_by_label("Checklist Analytics")).to_be_checked()

    create.get_by_role("button", name="Create API Key").click()
    confirm = page.get_by_role("dialog", name="Confirm access")
    confirm.get_by_label("Password").fill(PASSWORD)
    confirm.get_by_role("button", name="Confirm").click()

    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    plaintext = panel.get_by_label("New API key").input_value()
    key = seeded.key("Vendor audit")
    assert (key.description, key.expires_on, len(key.services)) == (
        "Q4 audit by Smith & Co", seeded.today() + timedelta(days=30), 2)
    assert pull(base_url, plaintext)[0] == 200
    assert_fits(page)
    shot(page, "created")

    # Confirmed: the next change within the quarter hour does not ask again.
    page.get_by_role("button", name="Create New Key").click()
    create = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(create, name="Second key")
    create.get_by_role("button", name="Create API Key").click()
    expect(page.get_by_role("status").filter(has_text="This is the only time")).to_be_visible()
    expect(page.get_by_role("dialog", name="Confirm access")).to_have_count(0)


def test_rolling_from_its_dialog_asks_then_rolls_with_the_overlap_chosen(admin_page, seeded, stale_login, axe, shot):
    page = admin_page
    seeded.add_key("Warehouse load", created_days_ago=30)
    old = seeded.key("Warehouse load")
    page.reload()
    stale_login()

    page.get_by_role("button", name="Roll key Warehouse load").click()
    roll = page.get_by_role("dialog", name="Roll API key")
    roll.get_by_label("Old key keeps working").select_option(label="7 days")
    roll.get_by_role("button", name="Roll key").click()
    confirm = page.get_by_role("dialog", name="Confirm access")
    expect(confirm).to_contain_text(f"You are about to roll an API key: “Warehouse load” ({old.hint}…).")
    axe(page, "#confirm-access-dialog")
    shot(page, "asked")
    confirm.get_by_label("Password").fill(PASSWORD)
    confirm.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("status").filter(has_text="This is the only time")).to_be_visible()
    with seeded.app.app_context():
        old = db.session.get(ApiKey, old.id)
        assert old.replaced_by is not None
        assert old.roll_ends_at - old.replaced_by.created_at == timedelta(days=7)


def test_without_javascript_confirm_access_is_a_page_that_reposts_the_form(make_page, seeded, log_in, stale_login,
                                                                            axe, shot):
    page = make_page(java_script_enabled=False)
    log_in(page, seeded.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    stale_login()

    page.get_by_role("link", name="Create New Key").click()
    create = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(create, name='Plain "form" <key>', expiration="60 days")
    create.get_by_role("button", name="Create API Key").click()

    expect(page.get_by_role("heading", name="Confirm access", level=1)).to_be_visible()
    expect(page.get_by_role("navigation").first).to_be_visible()  # in the settings layout, the navigation beside it
    axe(page)
    shot(page, "asked")
    page.set_viewport_size(PHONE)
    assert_fits(page)
    shot(page, "asked-375")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#access_password-error")).to_have_text("Incorrect password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()

    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel).to_be_visible()
    key = seeded.key('Plain "form" <key>')
    assert key.expires_on == seeded.today() + timedelta(days=60)
    shot(page, "created")


def test_a_form_in_the_page_is_sent_again_after_confirming(make_page, seeded, log_in, stale_login, axe, shot):
    page = make_page(viewport=PHONE)
    seeded.add_key("Phone key")
    key_id = seeded.key("Phone key").id
    log_in(page, seeded.admin_email)
    stale_login()
    page.goto(f"/settings/api-keys/{key_id}")
    page.get_by_label("Allowed IP addresses").fill("192.0.2.0/24 2001:db8::1")
    page.get_by_role("button", name="Save allowed addresses").click()

    confirm = page.get_by_role("dialog", name="Confirm access")
    expect(confirm).to_contain_text("change a key's allowed addresses: “Phone key”")
    page.keyboard.press("Escape")  # as Cancel: back to the form, as typed
    expect(page.get_by_role("dialog", name="Confirm access")).to_have_count(0)
    expect(page.get_by_role("button", name="Save allowed addresses")).to_be_focused()
    expect(page.get_by_label("Allowed IP addresses")).to_have_value("192.0.2.0/24 2001:db8::1")
    assert seeded.key("Phone key").allowed_ips is None

    page.get_by_role("button", name="Save allowed addresses").click()
    confirm = page.get_by_role("dialog", name="Confirm access")
    confirm.get_by_label("Password").fill(PASSWORD)
    confirm.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(page.get_by_label("Allowed IP addresses")).to_have_value("192.0.2.0/24\n2001:db8::1")
    assert seeded.key("Phone key").allowed_ips == "192.0.2.0/24,2001:db8::1/128"
    assert_fits(page)
    axe(page)
    shot(page, "saved")

"""The one confirmation dialog in Chromium, from the list and from a key's page: roll, stop a rolling key now,
regenerate an expired key, allow only the addresses a key was used from, delete; focus in and back, Escape, the
page without JavaScript, axe-core at 1280 and 375 px (screenshots of each dialog); and finding keys."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from e2e.conftest import PHONE_AND_LAPTOP, assert_fits, confirm_in_dialog, pull
from floqast.settings.formatting import day

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect



def open_key_page(page, seeded, name):
    page.goto(f"/settings/api-keys/{seeded.key(name).id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


@pytest.mark.parametrize("width", PHONE_AND_LAPTOP)
def test_from_a_keys_page_roll_then_stop_the_old_key_now_then_delete(make_page, seeded, log_in, base_url, axe, shot,
                                                                    width):
    page = make_page(viewport=PHONE_AND_LAPTOP[width])
    old_plaintext = seeded.add_key("Warehouse load", created_days_ago=10, description="Nightly load\nOwner: data")
    log_in(page, seeded.admin_email)
    open_key_page(page, seeded, "Warehouse load")
    old = seeded.key("Warehouse load")

    # Roll: the dialog opens over the key's page, focus in it; Escape gives focus back to the page's button.
    page.get_by_role("button", name="Roll key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Roll API key")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Old key keeps working")).to_be_focused()
    expect(dialog.locator(".carries-over")).to_contain_text("Owner: data")
    assert_fits(page, dialog)
    axe(page)
    shot(page, f"roll-dialog-{width}", full_page=False)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Roll key", exact=True)).to_be_focused()

    page.get_by_role("button", name="Roll key", exact=True).click()
    dialog = page.get_by_role("dialog", name="Roll API key")
    dialog.get_by_label("Old key keeps working").select_option(label="7 days")
    dialog.get_by_label("Expiration", exact=True).select_option(label="30 days")
    expect(dialog.locator(".works-through")).to_have_text(
        f"Works through {day(seeded.today() + timedelta(days=30))} (America/New_York)")
    dialog.get_by_role("button", name="Roll key").click()

    # The new key is shown once, on this page, which now says the key is rolling.
    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel.get_by_role("button", name="Copy", exact=True)).to_be_focused()
    new_plaintext = panel.get_by_label("New API key").input_value()
    new = seeded.key("Warehouse load")
    assert new.id != old.id and new.description == "Nightly load\nOwner: data"
    assert new.expires_on == seeded.today() + timedelta(days=30)
    expect(page.locator("#key-page .key-facts")).to_contain_text(f"Rolling → replaced by {new.hint}…")
    assert pull(base_url, old_plaintext)[0] == pull(base_url, new_plaintext)[0] == 200
    assert_fits(page)
    shot(page, f"rolled-key-page-{width}")

    # Stop old key now, through the same dialog: the page loads again, saying so.
    page.get_by_role("button", name="Stop old key now").click()
    dialog = page.get_by_role("dialog", name="Stop the old key now")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    expect(dialog).to_contain_text(f"works beside its replacement {new.hint}…")
    assert_fits(page, dialog)
    axe(page)
    shot(page, f"stop-dialog-{width}", full_page=False)
    dialog.get_by_role("button", name="Stop old key now").click()
    expect(page.locator(".flashes")).to_contain_text(f"The old key “Warehouse load” ({old.hint}…) was stopped.")
    assert pull(base_url, old_plaintext)[0] == 401
    assert pull(base_url, new_plaintext)[0] == 200

    # The new key's page: Replaces links back; Delete through the dialog.
    page.goto(f"/settings/api-keys/{new.id}")
    expect(page.locator(".key-facts")).to_contain_text(re.compile(rf"Replaces\s*{old.hint}…"))
    confirm_in_dialog(page, "Delete key", "Delete API key", "Delete key")
    expect(page.locator(".flashes")).to_contain_text("“Warehouse load” was deactivated.")
    expect(page.get_by_role("button", name="Delete key")).to_have_count(0)
    assert pull(base_url, new_plaintext)[0] == 401


@pytest.mark.parametrize("width", PHONE_AND_LAPTOP)
def test_an_expired_key_is_regenerated_from_the_list(make_page, seeded, log_in, base_url, axe, shot, width):
    page = make_page(viewport=PHONE_AND_LAPTOP[width])
    old_plaintext = seeded.add_key("Tableau pilot", expires_in=-3, created_days_ago=63, allowed_ips="127.0.0.0/8")
    log_in(page, seeded.admin_email)
    page.goto("/settings/api-keys?status=expired")

    page.get_by_role("button", name="Regenerate key Tableau pilot").click()
    dialog = page.get_by_role("dialog", name="Regenerate API key")
    expect(dialog.get_by_label("Expiration", exact=True)).to_be_focused()
    expect(dialog.locator(".carries-over")).to_contain_text("Allowed IP addresses: 127.0.0.0/8")
    # Its lifetime counted from today: from the day it was made in the team's zone (60 days before its expiry, or 59
    # when the test runs while New York is still on the UTC date's day before).
    old_key = seeded.key("Tableau pilot")
    lifetime = old_key.expires_on - old_key.created_at.astimezone(ZoneInfo("America/New_York")).date()
    expect(dialog.locator(".works-through")).to_have_text(
        f"Works through {day(seeded.today() + lifetime)} (America/New_York)")
    assert_fits(page, dialog)
    axe(page)
    shot(page, f"regenerate-dialog-{width}", full_page=False)
    dialog.get_by_role("button", name="Regenerate key").click()

    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel).to_contain_text("Your new API key “Tableau pilot”")
    new_plaintext = panel.get_by_label("New API key").input_value()
    assert pull(base_url, new_plaintext)[0] == 200
    assert pull(base_url, old_plaintext)[0] == 401
    expect(page.get_by_role("tab", name=re.compile(r"^Expired"))).to_have_text(re.compile(r"Expired\s*0"))
    assert_fits(page)


@pytest.mark.parametrize("width", PHONE_AND_LAPTOP)
def test_allow_only_the_addresses_a_key_was_used_from(make_page, seeded, log_in, base_url, axe, shot, width):
    page = make_page(viewport=PHONE_AND_LAPTOP[width])
    plaintext = seeded.add_key("Looker", allowed_ips="198.51.100.0/24,127.0.0.0/8")
    assert pull(base_url, plaintext)[0] == 200  # from 127.0.0.1, where the test server listens
    log_in(page, seeded.admin_email)
    open_key_page(page, seeded, "Looker")

    section = page.locator("#addresses")
    expect(section.locator("tbody tr")).to_have_count(1)
    expect(section.locator("tbody tr")).to_contain_text("127.0.0.1")
    expect(page.locator(".key-facts")).to_contain_text(re.compile(r"Last used from\s*127.0.0.1"))
    assert_fits(page)
    shot(page, f"key-page-addresses-{width}")

    page.get_by_role("button", name="Allow only these addresses").click()
    dialog = page.get_by_role("dialog", name="Allow only these addresses")
    expect(dialog.locator(".address-list")).to_have_text("127.0.0.1")
    assert_fits(page, dialog)
    axe(page)
    shot(page, f"allow-seen-dialog-{width}", full_page=False)
    dialog.get_by_role("button", name="Allow only these addresses").click()

    message = page.locator("#allowed-ips").get_by_role("status")
    expect(message).to_contain_text("Saved: pulls with the key from any other address are refused")
    expect(message).to_be_focused()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_label("Allowed IP addresses")).to_have_value("127.0.0.1")
    assert seeded.key("Looker").allowed_ips == "127.0.0.1/32"
    assert pull(base_url, plaintext)[0] == 200
    expect(page.locator("#activity")).to_contain_text("Allowed addresses changed")


@pytest.mark.parametrize("width", PHONE_AND_LAPTOP)
def test_the_delete_dialog_and_its_page_without_javascript(make_page, lived_in, log_in, axe, shot, width):
    page = make_page(viewport=PHONE_AND_LAPTOP[width])
    log_in(page, lived_in.admin_email)
    page.get_by_role("button", name="Delete key Snowflake nightly").click()
    dialog = page.get_by_role("dialog", name="Delete API key")
    expect(dialog.locator("dl.dialog-facts")).to_contain_text("Snowflake nightly")
    assert_fits(page, dialog)
    axe(page)
    shot(page, f"delete-dialog-{width}", full_page=False)
    page.keyboard.press("Escape")

    no_js = make_page(viewport=PHONE_AND_LAPTOP[width], java_script_enabled=False)
    log_in(no_js, lived_in.admin_email)
    no_js.goto("/settings/api-keys?status=all")
    no_js.get_by_role("link", name="Delete key Snowflake nightly").click()
    expect(no_js.get_by_role("heading", level=1)).to_have_text("Delete API key")
    expect(no_js.get_by_role("navigation", name="Admin Settings")).to_be_visible()
    assert_fits(no_js)
    axe(no_js)
    shot(no_js, f"delete-page-{width}")
    no_js.get_by_role("link", name="Cancel").click()
    no_js.wait_for_url(re.compile(r"/settings/api-keys\?status=all$"))


def test_finding_keys_with_the_search_box_the_filter_and_the_order(admin_page, lived_in, axe, shot):
    page = admin_page
    page.reload()
    rows = page.locator("#key-list tbody th")

    page.get_by_label("Search keys").fill("snow")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=snow"))
    expect(rows).to_have_text(["Snowflake nightly"])
    expect(page.get_by_role("tab", name=re.compile(r"^All"))).to_have_text(re.compile(r"All\s*1"))
    expect(page.get_by_label("Search keys")).to_be_focused()  # kept through the swap

    page.get_by_role("link", name="Clear").click()
    page.get_by_role("tab", name=re.compile(r"^All")).click()
    page.wait_for_url(re.compile(r"status=all$"))
    page.get_by_label("Sort by").select_option(label="Last used")  # searches at once
    page.wait_for_url(re.compile(r"sort=last_used"))
    expect(rows.first).to_have_text("Power BI connector")  # 3 hours ago
    page.get_by_label("Not used in 90 days").check()
    page.wait_for_url(re.compile(r"unused=90"))
    expect(rows).to_have_text(["Old export"])
    axe(page)
    shot(page, "search")
    page.go_back()
    page.wait_for_url(re.compile(r"sort=last_used$"))
    expect(rows).to_have_count(5)

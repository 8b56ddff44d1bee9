"""Creating a key: each expiration choice, the reveal panel and Copy, using the key, and never seeing it again."""

import json
import re
import urllib.request
from datetime import timedelta

import pytest

from e2e.conftest import fill_create_form
from floqast.settings.formatting import day

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


def create(page, name, expiration="90 days", services=("Reconciliation Analytics",), custom_date=None):
    """Fill in Create New Key like a person and submit it; returns the reveal panel."""
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(dialog, name, expiration, services, custom_date)
    dialog.get_by_role("button", name="Create API Key").click()
    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel).to_be_visible()
    expect(dialog).to_be_hidden()
    return panel


def row(page, name):
    return page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name=name, exact=True))


def call_me(base_url, key):
    request = urllib.request.Request(f"{base_url}/api/v1/me", headers={"x-api-key": key, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.load(response)


@pytest.mark.parametrize("expiration, days", [("365 days", 365), ("90 days", 90), ("60 days", 60), ("30 days", 30)])
def test_create_with_a_number_of_days(admin_page, seeded, expiration, days):
    page = admin_page
    create(page, f"Key for {days} days", expiration)
    expected = seeded.today() + timedelta(days=days)
    expect(row(page, f"Key for {days} days").locator("td").nth(5)).to_have_text(day(expected))
    assert seeded.key(f"Key for {days} days").expires_on == expected


def test_create_with_a_custom_date(admin_page, seeded):
    page = admin_page
    chosen = seeded.today() + timedelta(days=45)
    create(page, "Quarter close", "Custom date", custom_date=chosen.isoformat())
    expect(row(page, "Quarter close").locator("td").nth(5)).to_have_text(day(chosen))
    assert seeded.key("Quarter close").expires_on == chosen


def test_create_without_expiration_after_the_warning(admin_page, seeded):
    page = admin_page
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    dialog.get_by_label("Expiration", exact=True).select_option(label="No expiration")
    expect(dialog.get_by_text("An expiration date is strongly recommended for security")).to_be_visible()
    page.keyboard.press("Escape")

    create(page, "Forever script", "No expiration", services=("Checklist Analytics",))
    expect(row(page, "Forever script").locator("td").nth(5)).to_have_text("Never")
    assert seeded.key("Forever script").expires_on is None


def test_reveal_copy_use_and_never_again(admin_page, seeded, base_url, shot):
    page = admin_page
    panel = create(page, "Power BI", services=("Reconciliation Analytics", "Checklist Analytics"))

    # The panel: the key, the warning, Copy focused and described by the warning.
    key = panel.get_by_label("New API key").input_value()
    assert re.fullmatch(r"fq_[0-9A-Za-z]{38}", key)
    expect(panel.get_by_role("heading", level=2)).to_have_text("Your new API key “Power BI”")
    copy = panel.get_by_role("button", name="Copy", exact=True)
    expect(copy).to_be_focused()
    expect(copy).to_have_accessible_description(re.compile("^This is the only time this key will be displayed"))
    shot(page, "reveal", full_page=False)

    # Copy puts exactly the key on the clipboard.
    page.evaluate("navigator.clipboard.writeText('something else')")
    copy.click()
    expect(panel).to_contain_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == key

    # The new row, at once and without a reload, in the Active tab with its columns.
    assert page.url.endswith("/settings/api-keys?status=active")
    expect(page.get_by_role("tab", name="Active 1")).to_have_attribute("aria-selected", "true")
    cells = row(page, "Power BI").locator("td")
    expect(cells.nth(0)).to_have_text(key[:7] + "…")
    expect(cells.nth(0).locator("code")).to_have_css("font-family", re.compile("mono", re.I))
    expect(cells.nth(1)).to_have_text(re.compile(r"Reconciliation Analytics\s*Checklist Analytics"))
    expect(cells.nth(2)).to_have_text(seeded.admin_name)
    expect(cells.nth(3)).to_have_text(day(seeded.today()))
    expect(cells.nth(4)).to_have_text("Never")
    expect(cells.nth(5)).to_have_text(day(seeded.today() + timedelta(days=90)))
    expect(cells.nth(6)).to_have_text("Active")
    expect(cells.nth(7).get_by_role("button", name="Delete key Power BI")).to_be_visible()

    # A client with the key is let in.
    status, body = call_me(base_url, key)
    assert status == 200
    assert body["data"]["name"] == "Power BI"
    assert str(body["data"]["teamId"]) == str(seeded.team_id)

    # Dismissing the panel removes the key from the page.
    page.get_by_role("button", name="I have copied it").click()
    expect(panel).to_have_count(0)
    expect(page.get_by_role("tab", name="Active 1")).to_be_focused()
    assert key not in page.content()


def test_reload_and_back_never_show_the_key_again(admin_page, seeded, base_url):
    page = admin_page
    page.get_by_role("tab", name="All").click()
    page.wait_for_url(re.compile(r"/settings/api-keys\?status=all$"))
    panel = create(page, "Warehouse load")
    key = panel.get_by_label("New API key").input_value()
    assert key in page.content()

    page.reload()
    expect(row(page, "Warehouse load")).to_be_visible()
    expect(page.locator(".reveal")).to_have_count(0)
    assert key not in page.content()

    # Away and back again: neither the browser's cache nor htmx history has kept it.
    page.goto("/settings/api-keys?status=deactivated")
    page.go_back()
    page.wait_for_url(re.compile(r"/settings/api-keys\?status=active$"))
    expect(row(page, "Warehouse load")).to_be_visible()
    assert key not in page.content()
    # The create replaced the ?status=all entry with ?status=active, so the next one back is the first page.
    page.go_back()
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    expect(row(page, "Warehouse load")).to_be_visible()
    assert key not in page.content()

    # The key itself still works: only its display is gone.
    assert call_me(base_url, key)[0] == 200
    # And the list shows that it was used.
    page.reload()
    last_used = row(page, "Warehouse load").locator("td").nth(4).locator("time")
    expect(last_used).to_have_attribute("datetime", re.compile(r"^\d{4}-"))


def test_back_right_after_create_does_not_show_the_key(admin_page, seeded):
    page = admin_page
    key = create(page, "Quick one").get_by_label("New API key").input_value()
    page.goto("/")  # home sends admins back to the tab: a fresh page
    page.go_back()
    page.wait_for_load_state("networkidle")  # htmx may reload the page it finds on popstate
    assert key not in page.content()
    page.go_forward()  # to "/", which redirects to the tab: wait for the second navigation
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    page.wait_for_load_state("networkidle")
    assert key not in page.content()

"""The admin pages in Chromium: Activity from the navigation with its reasons and day filters (with htmx and without
JavaScript), the reveal panel's whole key and its Test this key command, the docs' Copy buttons, and no stale
"Saved." beside another form."""

import json
import re
import shutil
import subprocess
from datetime import timedelta

import pytest

from e2e.conftest import fill_create_form, pull

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

PHONE = {"width": 375, "height": 812}


@pytest.fixture
def refused(lived_in, base_url):
    """The lived-in team after a pull that worked and two refused ones (an expired key, a deleted key)."""
    assert pull(base_url, lived_in.keys["Power BI connector"])[0] == 200
    assert pull(base_url, lived_in.keys["Tableau pilot"])[0] == 401
    assert pull(base_url, lived_in.keys["Contractor laptop"])[0] == 401
    return lived_in


def request_row(page, key_name):
    return page.locator("#api-requests tbody tr").filter(has_text=key_name)


def test_activity_is_in_the_navigation_and_says_why_requests_were_refused(admin_page, refused, axe, shot):
    page = admin_page
    nav = page.get_by_role("navigation", name="Admin Settings")
    nav.get_by_role("link", name="Activity").click()
    page.wait_for_url(re.compile(r"/settings/api-keys/activity$"))
    expect(nav.get_by_role("link", name="Activity")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Activity")
    expect(request_row(page, "Tableau pilot")).to_contain_text("401 Expired key")
    expect(request_row(page, "Contractor laptop")).to_contain_text("401 Deleted key")
    expect(request_row(page, "Power BI connector").locator("td").nth(3)).to_have_text("200")
    axe(page)
    shot(page, "activity")

    # A key's hint takes the admin to its page.
    hint = refused.key("Tableau pilot").hint
    request_row(page, "Tableau pilot").get_by_role("link", name=f"{hint}… Tableau pilot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tableau pilot")


def test_the_day_filters_swap_each_list_in_place(admin_page, refused):
    page = admin_page
    page.goto("/settings/api-keys/activity")
    page.evaluate("window.stillTheSamePage = true")
    tomorrow = (refused.today() + timedelta(days=1)).isoformat()
    requests = page.locator("#api-requests")
    requests.get_by_label("From").fill(tomorrow)
    requests.get_by_role("button", name="Show").click()
    expect(requests).to_contain_text("No API requests match these filters.")
    expect(page).to_have_url(re.compile(rf"requests_from={tomorrow}"))
    events = page.locator("#activity")
    expect(events.locator("tbody tr").first).to_be_visible()  # the other list is as it was
    events.get_by_label("Event", exact=True).select_option(label="Logged in")
    expect(events.locator("tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/activity\?event=login"))
    assert page.evaluate("window.stillTheSamePage") is True  # swapped by htmx, not reloaded


def test_the_day_filters_without_javascript(make_page, refused, log_in, axe):
    page = make_page(java_script_enabled=False)
    log_in(page, refused.admin_email)
    page.goto("/settings/api-keys/activity")
    today = refused.today().isoformat()
    requests = page.locator("#api-requests")
    requests.get_by_label("From").fill(today)
    requests.get_by_label("To").fill(today)
    requests.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"requests_from={today}&requests_to={today}$"))
    expect(page.locator("#api-requests tbody tr")).to_have_count(3)
    # A hand-made URL with a day that is not one: the error next to its field.
    response = page.goto(f"/settings/api-keys/activity?from=someday&to={today}")
    assert response.status == 400
    expect(page.locator("#events-from-error")).to_have_text("Enter From as a date, such as 2026-03-01.")
    axe(page)


def test_the_reveal_shows_the_whole_key_and_a_test_command_to_copy(make_page, seeded, log_in, base_url, shot):
    page = make_page(viewport=PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    log_in(page, seeded.admin_email)
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(dialog, name="Phone key", services=("Checklist Analytics",))
    dialog.get_by_role("button", name="Create API Key").click()
    panel = page.get_by_role("status").filter(has_text="This is the only time")
    key = panel.get_by_label("New API key")
    plaintext = key.input_value()
    # The whole key in view, wrapped: its field neither scrolls nor runs past the screen.
    assert key.evaluate("area => area.scrollHeight <= area.clientHeight + 1 && area.scrollWidth <= area.clientWidth")
    box = key.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    expect(panel.get_by_role("heading", name="Test this key")).to_be_visible()
    command = panel.locator("#test-key-command")
    expect(command).to_have_text(f'curl -H "x-api-key: {plaintext}" {base_url}/api/v1/me')
    panel.get_by_role("button", name="Copy command").click()
    expect(panel.locator(".code-block")).to_contain_text("Copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f'curl -H "x-api-key: {plaintext}" {base_url}/api/v1/me'
    shot(page, "reveal", full_page=False)
    if shutil.which("curl"):
        answer = subprocess.run(["bash", "-c", copied + " -s"], capture_output=True, text=True, timeout=30)
        assert json.loads(answer.stdout)["data"]["name"] == "Phone key"


def test_each_docs_code_block_copies_its_own_text(admin_page, base_url):
    page = admin_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page.goto("/settings/api-docs")
    block = page.locator(".code-block").filter(has=page.locator("#audit-trail-today"))
    block.get_by_role("button", name="Copy").click()
    expect(block).to_contain_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("#audit-trail-today").inner_text()
    assert "audit-trail?filter[startDate]=" in page.evaluate("navigator.clipboard.readText()")


def test_a_saved_message_goes_when_another_form_is_sent(admin_page, lived_in):
    page = admin_page
    page.goto(f"/settings/api-keys/{lived_in.key('Power BI connector').id}")
    page.get_by_label("Key name").fill("Power BI production")
    page.get_by_role("button", name="Save", exact=True).click()
    saved = page.get_by_role("status").filter(has_text=re.compile(r"^Saved\.$"))
    expect(saved).to_be_visible()
    page.get_by_label("Allowed IP addresses").fill("203.0.113.7")
    page.get_by_role("button", name="Save allowed addresses").click()
    expect(page.get_by_role("status").filter(has_text="Saved: pulls with the key")).to_be_visible()
    expect(saved).to_have_count(0)

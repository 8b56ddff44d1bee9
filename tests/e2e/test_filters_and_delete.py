"""The filter tabs with their counts and the back button; deleting through the trash can."""

import re
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from floqast.settings.formatting import day

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

TABS = {"active": "Active", "suspended": "Suspended", "expired": "Expired", "deactivated": "Deactivated", "all": "All"}


def names_listed(page):
    return page.locator("#key-list tbody [role=rowheader], #key-list tbody th[scope=row]").all_inner_texts()


def tab(page, value):
    return page.get_by_role("tab", name=re.compile(rf"^{TABS[value]}\b"))


def assert_selected(page, value, names):
    expect(tab(page, value)).to_have_attribute("aria-selected", "true")
    for other in TABS.keys() - {value}:
        expect(tab(page, other)).to_have_attribute("aria-selected", "false")
    expect(page.get_by_role("tabpanel")).to_have_attribute("aria-labelledby", f"tab-{value}")
    if names:
        expect(page.locator("#key-list tbody tr")).to_have_count(len(names))
        assert sorted(names_listed(page)) == sorted(names)
    else:
        expect(page.locator("#key-list tbody tr")).to_have_count(0)


LISTED = {
    "active": ["Power BI connector", "Snowflake nightly"],
    "suspended": [],
    "expired": ["Tableau pilot"],
    "deactivated": ["Contractor laptop", "Old export"],
    "all": ["Power BI connector", "Snowflake nightly", "Tableau pilot", "Contractor laptop", "Old export"],
}


def test_each_tab_with_its_count_and_the_back_button(admin_page, lived_in, shot):
    page = admin_page
    page.reload()
    for value, label in TABS.items():
        expect(tab(page, value)).to_have_text(re.compile(rf"{label}\s*{len(LISTED[value])}"))
    assert_selected(page, "active", LISTED["active"])

    for value in ("expired", "deactivated", "all"):
        tab(page, value).click()
        page.wait_for_url(re.compile(rf"/settings/api-keys\?status={value}$"))
        assert_selected(page, value, LISTED[value])
        expect(tab(page, value)).to_be_focused()
    shot(page, "all")

    # Back and forward walk through the tabs, each URL selecting its tab.
    for value in ("deactivated", "expired"):
        page.go_back()
        page.wait_for_url(re.compile(rf"/settings/api-keys\?status={value}$"))
        assert_selected(page, value, LISTED[value])
    page.go_back()
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    assert_selected(page, "active", LISTED["active"])
    page.go_forward()
    page.wait_for_url(re.compile(r"/settings/api-keys\?status=expired$"))
    assert_selected(page, "expired", LISTED["expired"])

    # Each filter is a page of its own too.
    page.goto("/settings/api-keys?status=deactivated")
    assert_selected(page, "deactivated", LISTED["deactivated"])


def test_arrow_keys_move_between_tabs(admin_page, lived_in):
    page = admin_page
    page.reload()
    # One Tab stop for the tab list; arrow keys move between tabs.
    for value in ("suspended", "expired", "deactivated", "all"):
        expect(tab(page, value)).to_have_attribute("tabindex", "-1")
    tab(page, "active").focus()
    page.keyboard.press("ArrowRight")
    expect(tab(page, "suspended")).to_be_focused()
    page.keyboard.press("End")
    expect(tab(page, "all")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(tab(page, "active")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(tab(page, "all")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"status=all$"))
    assert_selected(page, "all", LISTED["all"])


def test_rows_show_status_and_the_date_each_key_stopped(admin_page, lived_in):
    page = admin_page
    page.goto("/settings/api-keys?status=all")
    today = lived_in.today()

    def cell(name, column=6):
        row = page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name=name, exact=True))
        return row.locator("td").nth(column)

    expect(cell("Power BI connector")).to_have_text("Active")
    # One date for an expired key, in Expires; a deleted one's is the day it stopped.
    expect(cell("Tableau pilot", 5)).to_have_text(day(today - timedelta(days=10)))
    expect(cell("Tableau pilot")).to_have_text("Expired")
    expect(cell("Old export")).to_have_text(re.compile(r"Deactivated\s+on \w{3} \d{1,2}, \d{4}"))
    # Keys that still work, and expired ones, have a trash can; deactivated ones none.
    expect(page.get_by_role("button", name=re.compile("^Delete key"))).to_have_count(3)


def test_each_tab_has_an_empty_state(admin_page):
    page = admin_page
    expected = {
        "active": "No active keys.",
        "suspended": "No suspended keys.",
        "expired": "No expired keys.",
        "deactivated": "No deactivated keys.",
        "all": "Your team has no API keys yet.",
    }
    for value, text in expected.items():
        tab(page, value).click()
        page.wait_for_url(re.compile(rf"status={value}$"))
        expect(page.get_by_role("tabpanel")).to_contain_text(text)
        expect(page.locator("#key-list table")).to_have_count(0)


def test_delete_asks_first_then_deactivates(admin_page, lived_in, base_url, shot):
    page = admin_page
    page.reload()
    key = lived_in.keys["Power BI connector"]
    trash = page.get_by_role("button", name="Delete key Power BI connector")

    # The dialog opens in the page with the key's facts, focus on Cancel; Escape keeps the key and hands focus back.
    trash.click()
    dialog = page.get_by_role("dialog", name="Delete API key")
    expect(dialog).to_be_visible()
    facts = dialog.locator("dl.dialog-facts")
    expect(facts).to_contain_text("Power BI connector")
    expect(facts).to_contain_text(lived_in.key("Power BI connector").hint)
    expect(facts).to_contain_text("Reconciliation Analytics, Checklist Analytics")
    expect(facts).to_contain_text("3 hours ago")
    expect(facts).to_contain_text(re.compile(r"Requests, last 30 days\s*0"))
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Delete key")).to_be_focused()
    page.keyboard.press("Tab")  # focus stays in the dialog, wrapping around
    assert dialog.evaluate("dialog => dialog.contains(document.activeElement)")
    shot(page, "dialog", full_page=False)
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(trash).to_be_focused()
    expect(tab(page, "active")).to_have_text(re.compile(r"Active\s*2"))
    assert lived_in.key("Power BI connector").deleted_at is None

    # Cancel does the same.
    trash.click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(trash).to_be_focused()

    # Delete key in the dialog deactivates the key at once; focus goes to what it says.
    trash.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete key").click()
    deactivated = page.get_by_role("status").filter(has_text="was deactivated")
    expect(deactivated).to_contain_text("“Power BI connector” was deactivated")
    expect(deactivated).to_be_focused()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert_selected(page, "active", ["Snowflake nightly"])
    expect(tab(page, "active")).to_have_text(re.compile(r"Active\s*1"))
    expect(tab(page, "deactivated")).to_have_text(re.compile(r"Deactivated\s*3"))
    assert lived_in.key("Power BI connector").deleted_at is not None
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{base_url}/api/v1/me", headers={"x-api-key": key}), timeout=10)
    assert refused.value.code == 401

    # Under Deactivated, with the date it stopped working and no trash can.
    tab(page, "deactivated").click()
    page.wait_for_url(re.compile(r"status=deactivated$"))
    row = page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name="Power BI connector"))
    expect(row.locator("td").nth(6)).to_have_text(re.compile(rf"Deactivated\s+on {re.escape(day(lived_in.today()))}"))
    expect(row.get_by_role("button")).to_have_count(0)
    shot(page, "deactivated")

"""The whole lifecycle with JavaScript off: plain links and forms, the same templates."""

import json
import re
import urllib.request

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


@pytest.fixture
def no_js_page(make_page, seeded, log_in):
    page = make_page(java_script_enabled=False)
    log_in(page, seeded.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    return page


def test_lifecycle_without_javascript(no_js_page, seeded, base_url, shot):
    page = no_js_page
    seeded.add_key("Power BI")

    # Create New Key is a link to a page with the dialog open.
    page.get_by_role("link", name="Create New Key").click()
    page.wait_for_url(re.compile(r"/settings/api-keys/new$"))
    dialog = page.get_by_role("dialog", name="Create New Key")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("New API Key Name")).to_be_focused()
    shot(page, "dialog")

    # An error comes back in the dialog, next to its field, keeping what was typed.
    dialog.get_by_label("New API Key Name").fill("Power BI")
    dialog.get_by_label("Checklist Analytics").check()
    dialog.get_by_role("button", name="Create API Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    expect(dialog.locator("#name-error")).to_contain_text("already has this name")
    expect(dialog.get_by_label("New API Key Name")).to_have_attribute("aria-describedby", "name-error")
    expect(dialog.get_by_label("Checklist Analytics")).to_be_checked()

    # The custom date field and the warning follow the choice without a script (CSS :has()); the "Works through"
    # line the server wrote for the choice it rendered hides once another is picked, rather than mislead.
    works_through = dialog.locator(".works-through")
    expect(works_through).to_have_text(re.compile(r"^Works through \w{3} \d{1,2}, \d{4} \(America/New_York\)$"))
    expect(works_through).to_be_visible()
    dialog.get_by_label("Expiration", exact=True).select_option(label="No expiration")
    expect(dialog.get_by_text("strongly recommended for security")).to_be_visible()
    expect(works_through).to_be_hidden()
    dialog.get_by_label("Expiration", exact=True).select_option(label="30 days")
    expect(dialog.get_by_text("strongly recommended for security")).to_be_hidden()
    expect(works_through).to_be_hidden()

    dialog.get_by_label("New API Key Name").fill("Plain form key")
    dialog.get_by_role("button", name="Create API Key").click()
    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel).to_be_visible()
    key = panel.get_by_label("New API key").input_value()
    assert key.startswith("fq_")
    expect(page.get_by_role("dialog")).to_have_count(0)
    row = page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name="Plain form key"))
    expect(row.locator("td").nth(6)).to_have_text("Active")
    shot(page, "reveal")

    request = urllib.request.Request(f"{base_url}/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["data"]["name"] == "Plain form key"

    # Leaving the panel, the key is gone for good.
    page.get_by_role("link", name="I have copied it").click()
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    assert key not in page.content()

    # The tabs are links, each reachable with Tab (no script to move between them with arrow keys).
    expect(page.locator("[role=tab][tabindex='-1']")).to_have_count(0)
    page.get_by_role("tab", name=re.compile(r"^All")).click()
    page.wait_for_url(re.compile(r"status=all$"))
    expect(page.get_by_role("tab", name=re.compile(r"^All"))).to_have_attribute("aria-selected", "true")

    # The trash can leads to the confirmation as a page in the settings layout: Cancel keeps the key and goes back
    # to the list as it was, Delete key deactivates it.
    page.get_by_role("link", name="Delete key Plain form key").click()
    page.wait_for_url(re.compile(r"/delete\?next=/settings/api-keys\?status%3Dall$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete API key")
    expect(page.get_by_role("navigation", name="Admin Settings")).to_be_visible()
    expect(page.locator("dl.dialog-facts")).to_contain_text("Plain form key")
    shot(page, "confirm")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(r"status=all$"))
    assert seeded.key("Plain form key").deleted_at is None

    page.get_by_role("link", name="Delete key Plain form key").click()
    page.get_by_role("button", name="Delete key").click()
    page.wait_for_url(re.compile(r"status=all$"))
    expect(page.get_by_role("status").first).to_contain_text("“Plain form key” was deactivated")
    row = page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name="Plain form key"))
    expect(row.locator("td").nth(6)).to_have_text(re.compile(r"Deactivated\s+on "))
    expect(row.get_by_role("link", name=re.compile("^Delete key"))).to_have_count(0)
    assert seeded.key("Plain form key").deleted_at is not None


def test_the_key_page_without_javascript(no_js_page, seeded, shot):
    page = no_js_page
    seeded.add_key("Power BI")
    seeded.add_key("Looker")
    page.reload()

    page.get_by_role("link", name="Power BI", exact=True).click()
    page.wait_for_url(re.compile(r"/settings/api-keys/\d+$"))
    key_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Power BI")

    # An error comes back with the page, next to its field, keeping what was typed (a 422).
    page.get_by_label("Key name").fill("looker")
    page.get_by_label("Description (optional)").fill("Board pack")
    with page.expect_response(key_url) as answer:
        page.get_by_role("button", name="Save", exact=True).click()
    assert answer.value.status == 422
    expect(page.locator("#name-error")).to_contain_text("already has this name")
    expect(page.get_by_label("Description (optional)")).to_have_value("Board pack")
    shot(page, "error")

    # Saving redirects back to the page, which says so.
    page.get_by_label("Key name").fill("Power BI production")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(key_url)
    expect(page.get_by_role("status").first).to_have_text("Saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Power BI production")
    expect(page.locator(".key-facts")).to_contain_text("Board pack")
    expect(page.locator("#activity")).to_contain_text("Key renamed")
    assert seeded.key("Power BI production").description == "Board pack"
    shot(page, "saved")

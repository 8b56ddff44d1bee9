"""Suspend key and Resume key in Chromium, in the one confirmation dialog from the list and, without JavaScript, as a
page from the key's page; axe-core at 1280 and 375 px, with screenshots of each step."""

import re

import pytest

from e2e.conftest import PHONE_AND_LAPTOP, assert_fits, pull

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

REASON = "Contract under review: call Ana before using again"


@pytest.mark.parametrize("width", PHONE_AND_LAPTOP)
def test_suspend_from_the_list_then_resume_from_the_suspended_tab(make_page, seeded, log_in, base_url, axe, shot,
                                                                  width):
    page = make_page(viewport=PHONE_AND_LAPTOP[width])
    plaintext = seeded.add_key("BI vendor", created_days_ago=10)
    log_in(page, seeded.admin_email)

    page.get_by_role("button", name="Suspend key BI vendor").click()
    dialog = page.get_by_role("dialog", name="Suspend API key")
    reason = dialog.get_by_label("Reason")
    expect(reason).to_be_focused()
    assert_fits(page, dialog)
    axe(page)
    shot(page, f"suspend-dialog-{width}", full_page=False)

    # No reason: said next to the field, in the dialog; nothing suspended.
    dialog.get_by_role("button", name="Suspend key").click()
    expect(dialog.locator(".field-error")).to_have_text(
        "Say why the key is suspended: requests with it are refused with this reason.")
    expect(dialog.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    assert pull(base_url, plaintext)[0] == 200
    axe(page)
    shot(page, f"suspend-dialog-error-{width}", full_page=False)

    dialog.get_by_label("Reason").fill(REASON)
    dialog.get_by_role("button", name="Suspend key").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="was suspended")).to_contain_text("“BI vendor” was suspended.")
    expect(page.get_by_role("tab", name=re.compile(r"^Suspended"))).to_have_text(re.compile(r"Suspended\s*1"))
    status, body = pull(base_url, plaintext)
    assert status == 401 and body["errors"][0]["detail"].endswith(f": {REASON}.")

    page.get_by_role("tab", name=re.compile(r"^Suspended")).click()
    page.wait_for_url(re.compile(r"status=suspended$"))
    row = page.locator("tr", has_text="BI vendor")
    expect(row).to_contain_text(f"Reason: {REASON}")
    expect(row.get_by_role("button", name="Roll key BI vendor")).to_have_count(0)
    assert_fits(page)
    axe(page)
    shot(page, f"suspended-tab-{width}")

    page.get_by_role("button", name="Resume key BI vendor").click()
    dialog = page.get_by_role("dialog", name="Resume API key")
    expect(dialog).to_contain_text(REASON)
    assert_fits(page, dialog)
    axe(page)
    shot(page, f"resume-dialog-{width}", full_page=False)
    dialog.get_by_role("button", name="Resume key").click()
    expect(page.get_by_role("status").filter(has_text="was resumed")).to_contain_text("Requests with it work again.")
    assert pull(base_url, plaintext)[0] == 200


@pytest.mark.parametrize("width", PHONE_AND_LAPTOP)
def test_suspend_and_resume_from_the_keys_page_without_javascript(make_page, seeded, log_in, base_url, axe, shot,
                                                                  width):
    page = make_page(viewport=PHONE_AND_LAPTOP[width], java_script_enabled=False)
    plaintext = seeded.add_key("Auditor read-only", created_days_ago=5)
    key_page = f"/settings/api-keys/{seeded.key('Auditor read-only').id}"
    log_in(page, seeded.admin_email)
    page.goto(key_page)

    page.get_by_role("link", name="Suspend key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Suspend API key")
    expect(page.get_by_role("navigation", name="Admin Settings")).to_be_visible()
    assert_fits(page)
    axe(page)
    shot(page, f"suspend-page-{width}")

    # Over 200 characters: the page again, what was typed kept, the error next to it.
    page.get_by_label("Reason").evaluate("field => field.removeAttribute('maxlength')")
    too_long = "x" * 201
    page.get_by_label("Reason").fill(too_long)
    page.get_by_role("button", name="Suspend key").click()
    expect(page.locator(".field-error")).to_have_text("Use at most 200 characters.")
    expect(page.get_by_label("Reason")).to_have_value(too_long)
    assert_fits(page)

    page.get_by_label("Reason").fill(REASON)
    page.get_by_role("button", name="Suspend key").click()
    page.wait_for_url(re.compile(re.escape(key_page) + "$"))
    expect(page.locator(".flashes")).to_contain_text("“Auditor read-only” was suspended.")
    expect(page.locator(".key-facts")).to_contain_text(REASON)
    assert pull(base_url, plaintext)[0] == 401
    assert_fits(page)
    axe(page)
    shot(page, f"suspended-key-page-{width}")

    page.get_by_role("link", name="Resume key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Resume API key")
    axe(page)
    shot(page, f"resume-page-{width}")
    page.get_by_role("button", name="Resume key").click()
    page.wait_for_url(re.compile(re.escape(key_page) + "$"))
    expect(page.locator(".flashes")).to_contain_text("“Auditor read-only” was resumed.")
    assert pull(base_url, plaintext)[0] == 200

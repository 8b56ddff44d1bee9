"""The team's API key policy in Chromium: its page with and without JavaScript and at 375px, the create dialog
under it, and keys from before it marked Exceeds policy."""

import re
from datetime import timedelta

import pytest

from e2e.conftest import fill_create_form
from floqast.keys.policy import KeyPolicy

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

PHONE = {"width": 375, "height": 812}


def open_policy_page(page):
    page.get_by_role("navigation", name="Admin Settings").get_by_role("link", name="API key policy").click()
    page.wait_for_url(re.compile(r"/settings/api-key-policy$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("API key policy")


def set_policy(page, require=True, lifetime="90 days"):
    """Fill in the policy form like a person and save it."""
    page.get_by_label("Require an expiration date").set_checked(require)
    page.get_by_label("Longest allowed lifetime").select_option(label=lifetime)
    page.get_by_role("button", name="Save policy").click()


def row(page, name):
    return page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name=name, exact=True))


def test_saving_the_policy_with_htmx_keeps_the_page(admin_page, seeded, axe, shot):
    page = admin_page
    open_policy_page(page)
    axe(page)
    page.evaluate("window.notReloaded = true")

    set_policy(page)

    expect(page.get_by_role("status").filter(has_text="The API key policy was saved.")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_role("button", name="Save policy")).to_be_focused()
    expect(page.get_by_label("Require an expiration date")).to_be_checked()
    expect(page.get_by_label("Longest allowed lifetime")).to_have_value("90")
    axe(page)
    shot(page, "saved", full_page=False)

    page.reload()
    expect(page.get_by_label("Require an expiration date")).to_be_checked()
    expect(page.get_by_label("Longest allowed lifetime")).to_have_value("90")
    page.goto("/settings/api-keys/activity")
    expect(page.locator("tbody tr").first).to_contain_text("Policy changed")
    expect(page.locator("tbody tr").first).to_contain_text("After: expiration required, at most 90 days.")


def test_the_create_dialog_offers_only_what_the_policy_allows(admin_page, seeded, axe, shot):
    seeded.set_key_policy(KeyPolicy(True, 60))
    page = admin_page
    page.reload()
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    expiration = dialog.get_by_label("Expiration", exact=True)

    expect(expiration.locator("option")).to_have_text(["60 days", "30 days", "Custom date"])
    expect(expiration).to_have_value("60")
    expect(dialog.locator("#expiration-help")).to_contain_text("Your team's policy allows keys of at most 60 days.")
    latest = seeded.today() + timedelta(days=60)
    expect(dialog.get_by_label("Expiration date")).to_have_attribute("max", latest.isoformat())
    axe(page)

    # A date past the limit, typed in, is refused next to the field; the limit itself is accepted.
    fill_create_form(dialog, "Looker", "Custom date", custom_date=(latest + timedelta(days=1)).isoformat())
    dialog.get_by_role("button", name="Create API Key").click()
    error = dialog.locator("#custom_date-error")
    expect(error).to_have_text(f"Your team's API key policy allows keys of at most 60 days: choose a date no later "
                               f"than {latest:%B %-d, %Y}.")
    expect(dialog.get_by_label("Expiration date")).to_have_attribute("aria-describedby", "custom_date-error")
    shot(page, "refused", full_page=False)
    axe(page)

    dialog.get_by_label("Expiration date").fill(latest.isoformat())
    dialog.get_by_role("button", name="Create API Key").click()
    expect(page.get_by_role("status").filter(has_text="This is the only time")).to_be_visible()
    assert seeded.key("Looker").expires_on == latest


def test_keys_from_before_a_stricter_policy_are_marked(admin_page, seeded, shot):
    seeded.add_key("Old warehouse export", expires_in=None, created_days_ago=200)
    seeded.add_key("Year-long connector", expires_in=300, created_days_ago=65)
    seeded.add_key("Short script", expires_in=30, created_days_ago=10)
    page = admin_page
    page.reload()
    expect(page.get_by_text("Exceeds policy")).to_have_count(0)

    open_policy_page(page)
    set_policy(page)
    expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()
    page.get_by_role("link", name="API Keys").click()

    for name in ("Old warehouse export", "Year-long connector"):
        expect(row(page, name).locator("td").nth(6)).to_have_text(re.compile(r"Active\s+Exceeds policy"))
    expect(row(page, "Short script")).not_to_contain_text("Exceeds policy")
    shot(page, "marked", full_page=False)


def test_the_policy_page_without_javascript(make_page, seeded, log_in, axe, shot):
    page = make_page(java_script_enabled=False)
    log_in(page, seeded.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    open_policy_page(page)
    axe(page)

    set_policy(page, require=True, lifetime="30 days")

    page.wait_for_url(re.compile(r"/settings/api-key-policy$"))
    expect(page.locator("#flash")).to_contain_text("The API key policy was saved.")
    expect(page.get_by_label("Longest allowed lifetime")).to_have_value("30")
    axe(page)
    shot(page, "saved")

    # The dialog, opened as a page, offers only 30 days and a custom date.
    page.goto("/settings/api-keys/new")
    expiration = page.get_by_role("dialog", name="Create New Key").get_by_label("Expiration", exact=True)
    expect(expiration.locator("option")).to_have_text(["30 days", "Custom date"])


def test_the_policy_page_at_phone_width(make_page, seeded, log_in, axe, shot):
    page = make_page(viewport=PHONE)
    log_in(page, seeded.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    open_policy_page(page)

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide"
    box = page.get_by_role("button", name="Save policy").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    axe(page)
    shot(page, "phone")

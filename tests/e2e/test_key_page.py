"""A key's page in Chromium: reached from the list, its last use, renaming and describing it with htmx."""

import re
from datetime import timedelta

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


@pytest.fixture
def used_key(seeded):
    seeded.add_key("Power BI", created_days_ago=40, last_used=timedelta(minutes=3), last_used_ip="203.0.113.7",
                   last_used_user_agent="PowerBI/2.130 (Windows)", description="Finance dashboards")
    seeded.add_key("Snowflake nightly", created_days_ago=10)
    return seeded


def fact(page, term: str):
    """The value the key page's details give for `term`."""
    return page.locator(".key-facts div").filter(has=page.locator("dt", has_text=re.compile(f"^{term}$"))).locator("dd")


def test_the_name_in_the_list_opens_the_keys_page(admin_page, used_key, axe, shot):
    page = admin_page
    page.reload()
    page.get_by_role("rowheader", name="Power BI").get_by_role("link", name="Power BI").click()
    page.wait_for_url(re.compile(r"/settings/api-keys/\d+$"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Power BI")
    expect(fact(page, "Description")).to_have_text("Finance dashboards")
    expect(fact(page, "Last used")).to_have_text("3 minutes ago")
    expect(fact(page, "Last used from")).to_have_text("203.0.113.7")
    expect(fact(page, "Last user agent")).to_have_text("PowerBI/2.130 (Windows)")
    expect(fact(page, "Status")).to_have_text("Active")
    expect(fact(page, "Created by")).to_have_text(used_key.admin_name)
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()
    shot(page, "page")
    axe(page)

    page.get_by_role("link", name="Back to API Keys").click()
    page.wait_for_url(re.compile(r"/settings/api-keys$"))


def test_rename_and_describe_in_place_with_htmx(admin_page, used_key, base_url, axe, shot):
    page = admin_page
    page.goto(f"/settings/api-keys/{used_key.key('Power BI').id}")
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_label("Key name").fill("Power BI production")
    page.get_by_label("Description (optional)").fill("Finance dashboards\nOwner: Dana in FP&A")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Power BI production")
    expect(fact(page, "Description")).to_have_text("Finance dashboards\nOwner: Dana in FP&A")
    activity = page.locator("#activity tbody tr")
    expect(activity.nth(0)).to_contain_text("Description changed")
    expect(activity.nth(1)).to_contain_text("Key renamed")
    expect(activity.nth(1)).to_contain_text("From “Power BI” to “Power BI production”")
    assert page.evaluate("window.stillTheSamePage") is True  # swapped in place, not reloaded
    key = used_key.key("Power BI production")
    assert key.description == "Finance dashboards\nOwner: Dana in FP&A"
    shot(page, "saved")

    # The key is the same key: it still works under its new name.
    response = page.request.get(f"{base_url}/api/v1/me", headers={"x-api-key": used_key.keys["Power BI"]})
    assert response.status == 200 and response.json()["data"]["name"] == "Power BI production"

    # An error shows next to its field, which gets focus; nothing is saved.
    page.get_by_label("Key name").fill("snowflake NIGHTLY")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#name-error")
    expect(error).to_have_text("A key that still works already has this name. Choose another name.")
    expect(page.get_by_label("Key name")).to_be_focused()
    expect(page.get_by_label("Key name")).to_have_attribute("aria-describedby", "name-error")
    expect(page.get_by_role("heading", level=1)).to_have_text("Power BI production")
    assert used_key.key("snowflake NIGHTLY") is None
    shot(page, "error")
    axe(page)


def test_the_delete_confirmation_says_when_and_where_the_key_was_last_used(admin_page, used_key):
    page = admin_page
    page.reload()
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete key Power BI").click()
    expect(page.get_by_role("button", name="Delete key Power BI")).to_be_visible()
    assert questions == ["Delete the API key “Power BI”? Last used 3 minutes ago from 203.0.113.7. "
                         "Anything using it stops working at once. This cannot be undone."]

    page.goto(f"/settings/api-keys/{used_key.key('Snowflake nightly').id}")
    page.get_by_role("link", name="Delete key").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete the API key “Snowflake nightly”?")
    expect(page.get_by_text("This key has never been used.")).to_be_visible()

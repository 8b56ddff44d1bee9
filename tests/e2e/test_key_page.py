"""A key's page in Chromium: reached from the list, its last use, renaming and describing it with htmx, its usage
chart with its table, and its latest requests by status."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from floqast.columns import utcnow
from helpers import log_rows

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
    page.get_by_role("button", name="Save", exact=True).click()

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
    page.get_by_role("button", name="Save", exact=True).click()
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
    page.get_by_role("button", name="Delete key Power BI").click()
    dialog = page.get_by_role("dialog", name="Delete API key")
    expect(dialog.locator("dl.dialog-facts")).to_contain_text(re.compile(r"Last used\s*3 minutes ago from 203.0.113.7"))
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Delete key Power BI")).to_be_focused()

    # From a key's page, the same dialog; its Cancel goes back to that page.
    page.goto(f"/settings/api-keys/{used_key.key('Snowflake nightly').id}")
    page.get_by_role("button", name="Delete key").click()
    dialog = page.get_by_role("dialog", name="Delete API key")
    expect(dialog.locator("dl.dialog-facts")).to_contain_text(re.compile(r"Last used\s*Never"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete key")).to_be_focused()


# Requests every third day of the last four weeks, a few more on some days, and two refusals (today, 2 days ago).
USE_DAYS = range(0, 28, 3)
SUCCEEDED = sum(day % 7 + 2 for day in USE_DAYS)


def total(page, period: str):
    return page.locator(".usage-totals div").filter(has=page.locator("dt", has_text=period)).locator("dd")


@pytest.fixture
def busy_key(seeded):
    seeded.add_key("Warehouse load", created_days_ago=40)
    key = seeded.key("Warehouse load")
    now = utcnow()
    with seeded.app.app_context():
        pulls = [(now - timedelta(days=day, minutes=minute), 200) for day in USE_DAYS for minute in range(day % 7 + 2)]
        key.pulls = sorted([*pulls, (now - timedelta(minutes=5), 429), (now - timedelta(days=2), 429)])
        for moment, status in key.pulls:
            log_rows(seeded.team_id, key.id, moment, status=status)  # in time order, as a server writes them
    return key


def test_the_usage_chart_its_table_and_the_latest_requests_by_status(admin_page, busy_key, axe, shot):
    page = admin_page
    page.goto(f"/settings/api-keys/{busy_key.id}")

    expect(page.get_by_role("img", name="Requests per day, last 30 days")).to_be_visible()
    expect(page.locator(".chart-bar rect.bar-refused")).to_have_count(2)
    expect(total(page, "Last 30 days")).to_have_text(
        f"{SUCCEEDED + 2} requests: {SUCCEEDED} succeeded, 2 refused, 0 other errors")
    expect(total(page, "Last 24 hours")).to_have_text("3 requests: 2 succeeded, 1 refused, 0 other errors")
    table = page.get_by_role("region", name="Requests per day as a table")
    expect(table).to_be_hidden()
    page.get_by_text("Requests per day as a table").click()
    expect(table.get_by_role("row")).to_have_count(31)
    # Today in the team's zone: 2 succeeded and 1 refused, but for those still on yesterday just after its midnight.
    today = busy_key.team.today()
    zone = ZoneInfo(busy_key.team.timezone)
    expect(table.get_by_role("row").nth(1).get_by_role("cell").nth(4)).to_have_text(
        str(sum(moment.astimezone(zone).date() == today for moment, _ in busy_key.pulls)))
    axe(page)
    shot(page, "chart")

    requests = page.locator("#api-requests")
    expect(requests.locator("tbody tr")).to_have_count(min(SUCCEEDED + 2, 25))
    page.get_by_label("Status").select_option(label="Refused (401, 403, 429)")
    expect(requests.locator("tbody tr")).to_have_count(2)
    expect(requests.locator("tbody tr td:nth-child(3)")).to_have_text(["429 Rate limited", "429 Rate limited"])
    expect(page).to_have_url(re.compile(rf"/settings/api-keys/{busy_key.id}/requests\?status=refused&"))
    axe(page)


@pytest.mark.parametrize("how", ["without JavaScript", "at 375 px"])
def test_the_usage_and_requests_work_without_javascript_and_on_a_phone(make_page, seeded, busy_key, log_in, axe,
                                                                       shot, how):
    options = {"java_script_enabled": False} if how == "without JavaScript" else {
        "viewport": {"width": 375, "height": 812}}
    page = make_page(**options)
    log_in(page, seeded.admin_email)
    page.goto(f"/settings/api-keys/{busy_key.id}")

    expect(page.get_by_role("img", name="Requests per day, last 30 days")).to_be_visible()
    page.get_by_text("Requests per day as a table").click()
    expect(page.get_by_role("region", name="Requests per day as a table").get_by_role("row")).to_have_count(31)
    if how == "at 375 px":
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    axe(page)
    shot(page, "usage")

    page.get_by_label("Status").select_option(label="429 Too Many Requests")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#api-requests tbody tr")).to_have_count(2)
    # The form's empty From and To come along: a plain GET form sends every field.
    expect(page).to_have_url(
        re.compile(rf"/settings/api-keys/{busy_key.id}/requests\?status=429&requests_from=&requests_to=$"))

"""The Activity page's API request log in Chromium: filtered by key and status with htmx and without
JavaScript, at phone width, and clean under axe-core."""

import re
import urllib.error
import urllib.request

import pytest

from e2e.test_look import PHONE, no_horizontal_overflow

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

ACTIVITY = "/settings/api-keys/activity"


def pull(base_url: str, path: str, key: str) -> int:
    """One API request with a key, as curl would send it; its status."""
    request = urllib.request.Request(base_url + path, headers={"x-api-key": key})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def requested(lived_in, base_url):
    """The lived-in team's keys after a few pulls: two by Power BI (one of them a 400), one by a deleted key."""
    power_bi = lived_in.keys["Power BI connector"]
    assert pull(base_url, "/api/v1/me", power_bi) == 200
    assert pull(base_url, "/api/v1/analytics/checklists?filter[month]=Smarch", power_bi) == 400
    assert pull(base_url, "/api/v1/me", lived_in.keys["Contractor laptop"]) == 401
    return lived_in


def request_rows(page):
    return page.locator("#api-requests tbody tr")


def test_filters_swap_the_list_with_htmx(admin_page, requested, axe, shot):
    page = admin_page
    page.goto(ACTIVITY)
    expect(request_rows(page)).to_have_count(3)
    axe(page)
    power_bi = requested.key("Power BI connector")
    page.get_by_label("Key", exact=True).select_option(label=f"Power BI connector ({power_bi.hint}…)")
    expect(request_rows(page)).to_have_count(2)
    expect(page).to_have_url(re.compile(r"/activity/requests\?key=\d+"))
    page.get_by_label("Status").select_option(label="Other errors")  # neither succeeded nor refused: a 400
    expect(request_rows(page)).to_have_count(1)
    expect(request_rows(page)).to_contain_text("/api/v1/analytics/checklists?filter[month]=Smarch")
    expect(request_rows(page)).to_contain_text("400")
    expect(page.locator("#activity")).to_be_visible()  # the audit trail stayed where it was
    axe(page)
    shot(page, "filtered")


def test_filters_without_javascript(make_page, requested, log_in, axe):
    page = make_page(java_script_enabled=False)
    log_in(page, requested.admin_email)
    page.goto(ACTIVITY)
    page.get_by_label("Status").select_option(label="401 Unauthorized")
    page.locator("#api-requests").get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/activity/requests\?key=&status=401"))
    expect(request_rows(page)).to_have_count(1)
    expect(request_rows(page)).to_contain_text("Contractor laptop")
    axe(page)


def test_phone_width(make_page, requested, log_in, axe, shot):
    page = make_page(viewport=PHONE)
    log_in(page, requested.admin_email)
    page.goto(ACTIVITY)
    expect(request_rows(page)).to_have_count(3)
    no_horizontal_overflow(page)
    axe(page)
    shot(page, "phone")

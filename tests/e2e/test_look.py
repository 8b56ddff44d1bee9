"""The finished look: relative Last used with the exact time kept, Expiring soon, and a phone-sized layout."""

import re
from datetime import timedelta

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

PHONE = {"width": 375, "height": 812}
LEAK_REASON = ("found by GitHub secret scanning at https://github.com/octocat/hello-world/blob/"
               "6dcb09b5b57875f334f61aebed695e2e4193db5e/config/production_settings.py")


@pytest.fixture
def lived_in(seeded):
    seeded.add_key("Power BI connector with a rather long descriptive name", created_days_ago=40,
                   last_used=timedelta(hours=3, minutes=5), exposed_days_ago=2)
    seeded.add_key("Snowflake nightly", expires_in=3, created_days_ago=80, last_used=timedelta(days=2, hours=1))
    seeded.add_key("Close checklist script", expires_in=None, created_days_ago=20)
    seeded.add_key("Tableau pilot", expires_in=-10, created_days_ago=120, last_used=timedelta(days=45))
    seeded.add_key("Contractor laptop", created_days_ago=60, deleted_days_ago=8, expires_in=2)
    seeded.add_key("Pushed to GitHub", created_days_ago=30, deleted_days_ago=1, revoked_because=LEAK_REASON)
    return seeded


def row(page, name):
    return page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name=name, exact=True))


def no_horizontal_overflow(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"


def test_last_used_is_relative_with_the_exact_time_on_hover(admin_page, lived_in):
    page = admin_page
    page.goto("/settings/api-keys?status=all")
    used = row(page, "Power BI connector with a rather long descriptive name").locator("td").nth(4).locator("time")
    expect(used).to_have_text("3 hours ago")
    expect(used).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d"))
    expect(used).to_have_attribute("title", re.compile(r"^\w{3} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M E[SD]T$"))
    expect(row(page, "Snowflake nightly").locator("td").nth(4)).to_have_text("2 days ago")
    expect(row(page, "Tableau pilot").locator("td").nth(4)).to_have_text("1 month ago")
    expect(row(page, "Close checklist script").locator("td").nth(4)).to_have_text("Never")


def test_expiring_soon_only_on_active_keys(admin_page, lived_in, shot):
    page = admin_page
    page.goto("/settings/api-keys?status=all")
    expect(row(page, "Snowflake nightly").locator("td").nth(6)).to_have_text(re.compile(r"Active\s+Expiring soon"))
    # At 1280px the whole table, trash cans included, fits without scrolling sideways.
    scroller = page.locator("#key-list .table-scroll")
    assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), "the key table scrolls sideways at 1280px"
    exposed = "Power BI connector with a rather long descriptive name"
    expect(row(page, exposed).locator("td").nth(6)).to_contain_text("Exposed in a URL")
    box = scroller.bounding_box()
    for name in ("Snowflake nightly", exposed):  # the Exposed in a URL advice wraps rather than widen the table
        for button in (f"Delete key {name}", f"Roll key {name}"):
            edge = row(page, name).get_by_role("button", name=button).bounding_box()
            assert edge["x"] + edge["width"] <= box["x"] + box["width"], f"{button} is cut off"
    for name in ("Power BI connector with a rather long descriptive name", "Close checklist script",
                 "Tableau pilot", "Contractor laptop"):
        expect(row(page, name)).not_to_contain_text("Expiring soon")
    # Why a key was revoked, its long URL wrapped within the table.
    expect(row(page, "Pushed to GitHub").locator("td").nth(6)).to_contain_text(f"Revoked: {LEAK_REASON}")
    shot(page, "all", full_page=False)


def test_phone_width_has_cards_and_no_sideways_scrolling(make_page, lived_in, log_in, shot):
    page = make_page(viewport=PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, lived_in.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    no_horizontal_overflow(page)

    page.goto("/settings/api-keys?status=all")
    no_horizontal_overflow(page)
    # Each key is a card: no column headers on screen, each value labelled.
    expect(page.locator("#key-list thead")).to_have_css("position", "absolute")
    card = row(page, "Snowflake nightly")
    expect(card).to_have_css("display", "block")
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    label = card.locator("td").nth(4).evaluate("cell => getComputedStyle(cell, '::before').content")
    assert label == '"Last used"'
    shot(page, "cards")

    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    no_horizontal_overflow(page)
    dialog.get_by_label("New API Key Name").fill("Phone key")
    dialog.get_by_label("Checklist Analytics").check()
    shot(page, "dialog", full_page=False)
    dialog.get_by_role("button", name="Create API Key").click()

    panel = page.get_by_role("status").filter(has_text="This is the only time")
    expect(panel).to_be_visible()
    no_horizontal_overflow(page)
    copy = panel.get_by_role("button", name="Copy", exact=True)
    box = copy.bounding_box()
    assert box["x"] + box["width"] <= PHONE["width"]
    shot(page, "reveal", full_page=False)


def test_the_key_page_fits_a_phone(make_page, lived_in, log_in, shot):
    page = make_page(viewport=PHONE)
    log_in(page, lived_in.admin_email)
    page.goto(f"/settings/api-keys/{lived_in.key('Power BI connector with a rather long descriptive name').id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Power BI connector")
    no_horizontal_overflow(page)
    save = page.get_by_role("button", name="Save", exact=True)
    box = save.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.get_by_label("Key name").fill("")
    save.click()
    expect(page.locator("#name-error")).to_be_visible()
    no_horizontal_overflow(page)
    shot(page, "error")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE], ids=["1280", "375"])
def test_a_2000_character_leak_url_is_a_short_link_that_widens_nothing(make_page, seeded, log_in, shot, viewport):
    """GitHub's URL is kept whole (a file deep in a repository gives 2,000 characters): the list and the key's page
    show it as a link, its start and end, the whole of it in the link."""
    url = "https://github.com/octocat/hello-world/blob/6dcb09b5/" + "deep/" * 390 + "settings.py"
    seeded.add_key("Pushed to GitHub", created_days_ago=30, deleted_days_ago=1,
                   revoked_because=f"found by GitHub secret scanning at {url}")
    page = make_page(viewport=viewport)
    log_in(page, seeded.admin_email)
    page.goto("/settings/api-keys?status=all")
    no_horizontal_overflow(page)
    if viewport["width"] > PHONE["width"]:
        scroller = page.locator("#key-list .table-scroll")
        assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), "the key table scrolls sideways"
    link = row(page, "Pushed to GitHub").locator(".deactivated-reason a")
    expect(link).to_have_text(re.compile(r"^https://github\.com/octocat/.{40,}….*/settings\.py$"))
    expect(link).to_have_attribute("href", url)
    assert link.bounding_box()["height"] < 200
    shot(page, "list")
    row(page, "Pushed to GitHub").get_by_role("rowheader").get_by_role("link").click()
    expect(page.locator(".deactivated-reason a")).to_have_attribute("href", url)
    no_horizontal_overflow(page)
    shot(page, "key-page")

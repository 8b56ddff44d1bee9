"""Every settings page and the create dialog at 375, 800, 1024 and 1280 px: no sideways scrolling of the page, every
action button on screen, chart text of 12 px or more, no native dialog, no console error or CSP violation, and
axe-core clean. Screenshots of each land in test-artifacts/screenshots/."""

import re
from datetime import timedelta

import pytest

from e2e.conftest import pull
from floqast.accounts.models import User
from floqast.extensions import db
from floqast.keys import request_actions
from floqast.usage.days import ApiRequestDay

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

WIDTHS = (375, 800, 1024, 1280)
LONG_NAME = "QuarterlyCloseWarehouseExportForTheConsolidatedGroupReportingPack" + "X" * 35
# Every control a person acts with, wherever it is on the page.
ACTIONS = "main :is(button, a.button, a[role=button], .icon-button, select, input, textarea)"


@pytest.fixture
def story(lived_in, base_url):
    """The lived-in team with a 100-character name, thirty days of use, and refused pulls of every kind a browser
    test can make."""
    assert len(LONG_NAME) == 100
    lived_in.add_key(LONG_NAME, created_days_ago=35, last_used=timedelta(hours=1), last_used_ip="203.0.113.7",
                     description="Feeds the group reporting pack\nOwner: Dana in FP&A")
    lived_in.add_key("Office only", allowed_ips="198.51.100.7")
    with lived_in.app.app_context():
        key = lived_in.key(LONG_NAME)
        today = lived_in.today()
        db.session.add_all(ApiRequestDay(team_id=lived_in.team_id, api_key_id=key.id, day=today - timedelta(days=ago),
                                         succeeded=40 + 7 * ago, refused=ago % 3, failed=ago % 5)
                           for ago in range(1, 30))
        manager = User.by_email(lived_in.manager_email)
        request_actions.submit(manager, LONG_NAME, ["checklists"], None, None,
                               "Feeds the group reporting pack for the consolidation " * 5)
        db.session.commit()
    assert pull(base_url, lived_in.keys[LONG_NAME])[0] == 200
    assert pull(base_url, lived_in.keys["Tableau pilot"])[0] == 401  # expired
    assert pull(base_url, lived_in.keys["Contractor laptop"])[0] == 401  # deleted
    assert pull(base_url, lived_in.keys["Office only"])[0] == 403  # not from its address
    return lived_in


def fits(page, width: int) -> None:
    """No sideways scrolling of the page, and every visible control within the screen's width."""
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= width, f"{page.url} is {page_width}px wide at {width}px"
    outside = page.evaluate(
        """([selector, width]) => [...document.querySelectorAll(selector)]
             .filter((element) => element.getClientRects().length && !element.closest("dialog:not([open])"))
             .map((element) => [element, element.getBoundingClientRect()])
             .filter(([, box]) => box.left < 0 || box.right > width + 0.5)
             .map(([element, box]) => `${element.outerHTML.slice(0, 80)} at ${box.left}..${box.right}`)""",
        [ACTIONS, width],
    )
    assert outside == [], f"controls off screen on {page.url} at {width}px"


def chart_text_sizes(page) -> list[float]:
    """The rendered size in px of every text of the usage chart (its font size scaled with the drawing)."""
    return page.evaluate("""[...document.querySelectorAll('.usage-chart svg text')].map((text) =>
        parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a)""")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_settings_page_fits_the_screen(make_page, story, log_in, axe, shot, width):
    page = make_page(viewport={"width": width, "height": 900})
    console_errors, native_dialogs = [], []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    page.on("dialog", lambda dialog: (native_dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, story.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))
    key_id = story.key(LONG_NAME).id
    pages = {
        "keys": "/settings/api-keys?status=all",
        "key": f"/settings/api-keys/{key_id}",
        "activity": "/settings/api-keys/activity",
        "policy": "/settings/api-key-policy",
        "webhooks": "/settings/webhooks",
        "docs": "/settings/api-docs",
        "requests": "/settings/key-requests",
    }
    for name, path in pages.items():
        page.goto(path)
        expect(page.get_by_role("navigation", name="Admin Settings").locator("[aria-current=page]")).to_have_count(1)
        fits(page, width)
        axe(page)
        shot(page, f"{name}-{width}")

    page.goto(pages["key"])
    sizes = chart_text_sizes(page)
    assert sizes and min(sizes) >= 12, f"chart text of {min(sizes):.1f}px at {width}px"

    page.goto(pages["keys"])
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    expect(dialog).to_be_visible()
    fits(page, width)
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    axe(page)
    shot(page, f"create-dialog-{width}", full_page=False)

    assert native_dialogs == []
    assert console_errors == []


@pytest.mark.parametrize("width", (1024, 1280))
def test_the_key_table_shows_every_column_and_every_action_on_a_laptop(make_page, story, log_in, width):
    page = make_page(viewport={"width": width, "height": 900})
    log_in(page, story.admin_email)
    page.goto("/settings/api-keys")
    table = page.locator("#key-list table")
    for column in ("Key Name", "Key", "Services", "Created by", "Created", "Last used", "Expires", "Status"):
        expect(table.get_by_role("columnheader", name=column, exact=True)).to_be_visible()
    scroller = page.locator("#key-list .table-scroll")
    assert scroller.evaluate("element => element.scrollWidth <= element.clientWidth + 1"), "the table scrolls sideways"
    for name in (LONG_NAME, "Power BI connector", "Snowflake nightly"):
        row = page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name=name, exact=True))
        for action in (f"Roll key {name}", f"Suspend key {name}", f"Delete key {name}"):
            button = row.get_by_role("button", name=action, exact=True)
            button.scroll_into_view_if_needed()  # rows below the fold are scrolled to, never sideways
            expect(button).to_be_in_viewport()
            box = button.bounding_box()
            assert box["x"] + box["width"] <= width


@pytest.mark.parametrize("width", (375, 800))
def test_narrow_screens_keep_both_row_actions_and_move_the_rest_to_the_key_page(make_page, story, log_in, width):
    page = make_page(viewport={"width": width, "height": 900})
    log_in(page, story.admin_email)
    page.goto("/settings/api-keys")
    row = page.locator("#key-list tbody tr").filter(has=page.get_by_role("rowheader", name="Snowflake nightly"))
    for action in ("Roll key Snowflake nightly", "Delete key Snowflake nightly"):
        expect(row.get_by_role("button", name=action, exact=True)).to_be_visible()
    expect(row.locator("td[data-label='Created by']")).to_be_hidden()
    row.get_by_role("link", name="Snowflake nightly").click()
    expect(page.locator(".key-facts")).to_contain_text(story.admin_name)  # Created by, on the key's page


def test_the_chart_opens_on_the_newest_days_on_a_phone(make_page, story, log_in):
    page = make_page(viewport={"width": 375, "height": 812})
    log_in(page, story.admin_email)
    page.goto(f"/settings/api-keys/{story.key(LONG_NAME).id}")
    scroller = page.locator(".chart-scroll")
    today = story.today()
    newest, oldest = page.locator(".chart-date").first, page.locator(".chart-date").last  # from today back
    expect(newest).to_have_text(f"{today:%b} {today.day}")
    assert scroller.evaluate("element => element.scrollWidth > element.clientWidth"), "the chart does not scroll"
    shown = scroller.bounding_box()
    for label, in_view in ((newest, True), (oldest, False)):
        box = label.bounding_box()
        assert (shown["x"] <= box["x"] and box["x"] + box["width"] <= shown["x"] + shown["width"]) is in_view

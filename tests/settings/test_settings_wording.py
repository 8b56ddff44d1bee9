"""Wording on the settings pages: plurals that agree, numbers written one way everywhere, "No description", one
date per key that stopped working and no expiry in the future for a deleted one, and every code block of the API
documentation with its own Copy button."""

from datetime import date, datetime, timedelta, timezone

import pytest

from floqast.accounts.models import Team
from floqast.api import params
from floqast.keys.models import ApiKey
from floqast.settings.formatting import count, day, expiry, number, numbers_in
from helpers import cells, parse_html, text_of

LA = Team(name="Acme", timezone="America/Los_Angeles")
TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(("value", "unit", "units", "expected"), [
    (0, "other error", None, "0 other errors"),
    (1, "other error", None, "1 other error"),
    (2, "other error", None, "2 other errors"),
    (30000, "request", None, "30,000 requests"),
    (1, "entry", "entries", "1 entry"),
    (3, "entry", "entries", "3 entries"),
])
def test_a_count_agrees_with_its_number(value, unit, units, expected):
    assert count(value, unit, units) == expected


def test_numbers_are_written_with_thousands_separators():
    assert number(30000) == "30,000" and number(999) == "999"
    assert numbers_in("100000 per minute") == "100,000 per minute"
    assert numbers_in("1 per 10 seconds") == "1 per 10 seconds"


def stopped(expires_on, deleted_on=None) -> ApiKey:
    deleted_at = None if deleted_on is None else datetime.combine(deleted_on, datetime.min.time(), timezone.utc) + \
        timedelta(hours=20)  # 1 PM in Los Angeles, the same day
    return ApiKey(team=LA, name="Key", expires_on=expires_on, deleted_at=deleted_at)


@pytest.mark.parametrize(("key", "expected"), [
    (stopped(None), "Never"),
    (stopped(date(2026, 9, 1)), "Sep 1, 2026"),
    (stopped(date(2026, 6, 1)), "Jun 1, 2026"),  # expired: its one date
    (stopped(date(2026, 9, 1), deleted_on=date(2026, 6, 10)), "—"),  # deleted before it would have expired
    (stopped(None, deleted_on=date(2026, 6, 10)), "—"),
    (stopped(date(2026, 6, 10), deleted_on=date(2026, 6, 10)), "—"),  # worked through that day: deleted first
    (stopped(date(2026, 6, 1), deleted_on=date(2026, 6, 10)), "Jun 1, 2026"),  # expired, then deleted
])
def test_expiry_of_keys_in_every_state(key, expected):
    assert expiry(key, TODAY) == expected


def test_a_key_without_a_description_says_so(admin_client, admin, make_key):
    key, _ = make_key(admin)
    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))
    assert text_of(page.find("dd", class_="description")) == "No description"


def test_a_deleted_key_shows_no_expiry_and_an_expired_one_a_single_date(admin_client, team, admin, make_key):
    today = team.today()
    deleted, _ = make_key(admin, name="Deleted", expires_on=today + timedelta(days=200),
                          deleted_at=datetime.now(timezone.utc) - timedelta(days=1), deleted_by_id=admin.id)
    expired, _ = make_key(admin, name="Expired", expires_on=today - timedelta(days=3))
    listed = parse_html(admin_client.get("/settings/api-keys?status=all"))
    assert cells(listed, deleted)[6:8] == ["—", f"Deactivated on {day(deleted.deleted_at, team)}"]
    assert cells(listed, expired)[6:8] == [day(expired.expires_on), "Expired"]
    for key, expires, status in ((deleted, "—", "Deactivated on"), (expired, day(expired.expires_on), "Expired")):
        page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))
        details = {text_of(div.find("dt")): text_of(div.find("dd"))
                   for div in page.find("dl", class_="key-facts").find_all("div")}
        assert details["Expires"] == expires
        assert details["Status"].startswith(status) and day(today + timedelta(days=200)) not in text_of(page)


def test_the_docs_write_the_page_size_with_a_separator(admin_client):
    text = text_of(parse_html(admin_client.get("/settings/api-docs")))
    assert params.MAX_PAGE_SIZE == 30000
    assert "1 to 30,000 records per JSON page (default 30,000)" in text
    assert "up to 30,000" in text and "30000" not in text.replace("page[size]=", "")


def test_every_code_block_of_the_docs_scrolls_in_its_box_with_its_own_copy_button(admin_client):
    page = parse_html(admin_client.get("/settings/api-docs"))
    blocks = page.find_all("pre")
    assert len(blocks) == 10
    for block in blocks:
        box = block.parent
        assert "code-block" in box.get("class") and block.get("tabindex") == "0"  # scrolls by keyboard too
        [button] = box.find_all("button")
        assert text_of(button) == "Copy" and button.get("data-copy") == f"#{block.get('id')}"
        assert page.find(id=button.get("aria-describedby")).name == "p"  # what the code does
    assert len({block.get("id") for block in blocks}) == 10

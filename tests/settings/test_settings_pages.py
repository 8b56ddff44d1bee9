"""Long key lists, a page at a time: counts, pager links, out-of-range pages, and deleting from a later page."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.settings.routes import KEYS_PER_PAGE
from helpers import HTMX, csrf_token, issue_key, key_rows, parse_html, row_names, same_url, tab_counts, text_of

ACTIVE_KEYS = 2 * KEYS_PER_PAGE + 20  # three pages: full, full, 20


@pytest.fixture
def many_keys(admin, team):
    """ACTIVE_KEYS active keys and 3 expired ones, made in one commit ("Key 000" is the oldest)."""
    expired_on = team.today() - timedelta(days=1)
    for number in range(ACTIVE_KEYS + 3):
        issue_key(admin, name=f"Key {number:03d}", expires_on=expired_on if number >= ACTIVE_KEYS else None)
    db.session.commit()


def pager_links(page) -> dict[str, str]:
    pager = page.find("nav", class_="pager")
    return {} if pager is None else {" ".join(link.get("rel")): link.get("href") for link in pager.find_all("a")}


def names(numbers) -> set[str]:
    return {f"Key {number:03d}" for number in numbers}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_long_lists_come_a_page_at_a_time_with_every_tab_count_right(admin_client, many_keys, htmx):
    headers = HTMX if htmx else {}
    first = parse_html(admin_client.get("/settings/api-keys", headers=headers))
    second = parse_html(admin_client.get("/settings/api-keys?status=active&page=2", headers=headers))
    last = parse_html(admin_client.get("/settings/api-keys?status=active&page=3", headers=headers))

    assert [len(row_names(page)) for page in (first, second, last)] == [KEYS_PER_PAGE, KEYS_PER_PAGE, 20]
    assert row_names(first) == names(range(ACTIVE_KEYS - KEYS_PER_PAGE, ACTIVE_KEYS))  # newest first
    assert row_names(first) | row_names(second) | row_names(last) == names(range(ACTIVE_KEYS))
    for page in (first, second, last):
        assert tab_counts(page) == {"active": str(ACTIVE_KEYS), "suspended": "0", "expired": "3", "deactivated": "0",
                                    "all": str(ACTIVE_KEYS + 3)}
        assert page.find(id="tab-active").get("aria-selected") == "true"
    assert pager_links(first) == {"next": "/settings/api-keys?status=active&page=2"}
    assert pager_links(second) == {"prev": "/settings/api-keys?status=active",
                                   "next": "/settings/api-keys?status=active&page=3"}
    assert pager_links(last) == {"prev": "/settings/api-keys?status=active&page=2"}
    assert "Page 2 of 3" in text_of(second.find("nav", class_="pager"))
    for link in second.find("nav", class_="pager").find_all("a"):
        assert link.get("hx-get") == link.get("href") and link.get("hx-target") == "#key-list"


def test_pages_keep_the_tab_and_short_tabs_have_no_pager(admin_client, many_keys):
    every = parse_html(admin_client.get("/settings/api-keys?status=all&page=3"))
    expired = parse_html(admin_client.get("/settings/api-keys?status=expired"))

    assert row_names(every) == names(range(ACTIVE_KEYS + 3 - 2 * KEYS_PER_PAGE))  # the oldest come last
    assert pager_links(every) == {"prev": "/settings/api-keys?status=all&page=2"}
    assert row_names(expired) == names(range(ACTIVE_KEYS, ACTIVE_KEYS + 3)) and pager_links(expired) == {}


@pytest.mark.parametrize(("asked", "shown"), [("99", "3"), ("0", "1"), ("-2", "1"), ("two", "1")])
def test_a_page_out_of_range_or_not_a_number_shows_the_nearest_page(admin_client, many_keys, asked, shown):
    page = parse_html(admin_client.get(f"/settings/api-keys?status=active&page={asked}"))

    assert f"Page {shown} of 3" in text_of(page.find("nav", class_="pager"))


def confirm_and_delete(client, trash, token):
    """Open the trash can's dialog and confirm it, as htmx does: the dialog's form sends a DELETE."""
    dialog = parse_html(client.get(trash.get("hx-get"), headers=HTMX))
    return client.delete(dialog.find("form").get("hx-delete"), headers={**HTMX, "X-CSRFToken": token})


def test_deleting_from_a_later_page_answers_with_that_page(admin_client, many_keys):
    second = parse_html(admin_client.get("/settings/api-keys?status=active&page=2", headers=HTMX))
    row = key_rows(second)[0]
    key = db.session.get(ApiKey, int(row.get("id").removeprefix("key-")))
    trash = row.find("a", class_="danger")
    assert same_url(trash.get("hx-get"), f"/settings/api-keys/{key.id}/delete",
                    "/settings/api-keys?status=active&page=2")

    token = csrf_token(admin_client, "/settings/api-keys")
    page = parse_html(confirm_and_delete(admin_client, trash, token))

    assert "Page 2 of 3" in text_of(page.find("nav", class_="pager"))
    assert key.name not in row_names(page)
    assert row_names(page) - row_names(second) == names([ACTIVE_KEYS - 2 * KEYS_PER_PAGE - 1])  # from page 3


def test_deleting_the_last_key_of_the_last_page_shows_the_page_before(admin_client, many_keys):
    token = csrf_token(admin_client, "/settings/api-keys")
    last = parse_html(admin_client.get("/settings/api-keys?status=active&page=3", headers=HTMX))
    for row in key_rows(last):
        response = confirm_and_delete(admin_client, row.find("a", class_="danger"), token)
    page = parse_html(response)

    assert "Page 2 of 2" in text_of(page.find("nav", class_="pager"))
    assert len(row_names(page)) == KEYS_PER_PAGE


def test_no_js_delete_from_a_later_page_goes_back_to_that_page(admin_client, many_keys):
    second = parse_html(admin_client.get("/settings/api-keys?status=active&page=2"))
    row = key_rows(second)[0]
    confirm = parse_html(admin_client.get(row.find("a", class_="danger").get("href")))
    form = confirm.find("form", id="key-dialog-form")
    assert same_url(form.get("action"), f"/settings/api-keys/{row.get('id').removeprefix('key-')}/delete",
                    "/settings/api-keys?status=active&page=2")
    assert form.find("a", string="Cancel").get("href") == "/settings/api-keys?status=active&page=2"

    token = form.find("input", attrs={"name": "csrf_token"}).get("value")
    response = admin_client.post(form.get("action"), data={"csrf_token": token})

    location = urlsplit(response.headers["Location"])
    assert (location.path, location.query) == ("/settings/api-keys", "status=active&page=2")

"""Finding keys: the Search keys box (name or hint), sorting by Last used, the Not used in 90 days filter, the tab
counts that follow them; as the htmx fragment and as a page (a GET form), the URL saying it all."""

from datetime import timedelta

import pytest

from floqast.columns import utcnow
from helpers import HTMX, parse_html, row_names, tab_counts, text_of


def names_in_order(page) -> list[str]:
    return [text_of(row.find("th")) for row in page.find(id="key-list").find("tbody").find_all("tr")]


@pytest.fixture
def keys(team, admin, make_key):
    """Five keys: two Power BI ones (one expired), a Snowflake one used an hour ago, an old unused export, an old
    script used yesterday."""
    now = utcnow()
    made = {
        "Power BI finance": make_key(admin, name="Power BI finance", last_used_at=now - timedelta(days=3))[0],
        "Power BI pilot": make_key(admin, name="Power BI pilot", expires_on=team.today() - timedelta(days=2),
                                   created_at=now - timedelta(days=100))[0],
        "Snowflake load": make_key(admin, name="Snowflake load", last_used_at=now - timedelta(hours=1))[0],
        "Old export": make_key(admin, name="Old export", created_at=now - timedelta(days=200),
                               last_used_at=now - timedelta(days=120))[0],
        "Old script": make_key(admin, name="Old script", created_at=now - timedelta(days=200),
                               last_used_at=now - timedelta(days=1))[0],
    }
    return made


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_searching_by_name_in_any_case_narrows_the_list_and_the_counts(admin_client, keys, htmx):
    response = admin_client.get("/settings/api-keys?status=all&q=power+bi", headers=HTMX if htmx else {})

    page = parse_html(response)
    assert ("<html" in response.get_data(as_text=True)) is not htmx
    assert row_names(page) == {"Power BI finance", "Power BI pilot"}
    assert tab_counts(page) == {"active": "1", "suspended": "0", "expired": "1", "deactivated": "0", "all": "2"}
    search = page.find("form", role="search")
    assert search.get("method") == "get" and search.get("action") == "/settings/api-keys"
    assert search.get("hx-get") == "/settings/api-keys" and search.get("hx-push-url") == "true"
    assert search.find("input", attrs={"name": "q"}).get("value") == "power bi"
    assert text_of(search.find("label", attrs={"for": "key-search"})) == "Search keys"
    assert search.find("input", attrs={"name": "status"}).get("value") == "all"
    # The tabs keep the search (and go back to the first page).
    assert page.find("a", id="tab-expired").get("href") == "/settings/api-keys?status=expired&q=power+bi"


@pytest.mark.parametrize("typed", ["{hint}", "{hint}…", "{hint}...", "{short}", "  {hint} "])
def test_searching_by_hint_finds_the_key(admin_client, keys, typed):
    key = keys["Snowflake load"]

    page = parse_html(admin_client.get("/settings/api-keys", query_string={
        "q": typed.format(hint=key.hint, short=key.hint.removeprefix("fq_"))}))

    assert "Snowflake load" in row_names(page)


def test_a_whole_key_pasted_in_the_search_finds_it_by_its_hint_and_is_not_shown_back(admin_client, admin, make_key):
    key, plaintext = make_key(admin, name="Looker")

    response = admin_client.get("/settings/api-keys", query_string={"q": plaintext})

    body = response.get_data(as_text=True)
    assert plaintext not in body
    page = parse_html(body)
    assert row_names(page) == {"Looker"}
    assert page.find("input", attrs={"name": "q"}).get("value") == key.hint


def test_like_wildcards_are_searched_as_themselves(admin_client, admin, make_key):
    for name in ("100% load", "Other", "Key_1", "Keyx1"):
        make_key(admin, name=name)

    assert row_names(parse_html(admin_client.get("/settings/api-keys?q=%25"))) == {"100% load"}
    assert row_names(parse_html(admin_client.get("/settings/api-keys?q=y_1"))) == {"Key_1"}


def test_no_match_says_so_and_offers_to_clear(admin_client, keys):
    page = parse_html(admin_client.get("/settings/api-keys?q=tableau"))

    assert "No active keys match “tableau”." in text_of(page.find("div", class_="empty"))
    clear = page.find("a", string="Clear")
    assert clear.get("href") == clear.get("hx-get") == "/settings/api-keys?status=active"


def test_sorting_by_last_used_puts_the_latest_first_and_never_used_last(admin_client, keys):
    page = parse_html(admin_client.get("/settings/api-keys?status=all&sort=last_used"))

    assert names_in_order(page) == ["Snowflake load", "Old script", "Power BI finance", "Old export",
                                    "Power BI pilot"]
    assert page.find("th", attrs={"aria-sort": "descending"}).text.strip() == "Last used"
    assert page.find("select", id="key-sort").find("option", selected=True).get("value") == "last_used"
    # An order the list does not know is the default, newest first.
    default = parse_html(admin_client.get("/settings/api-keys?status=all&sort=bogus"))
    assert names_in_order(default)[0] == "Snowflake load" and default.find("th", attrs={"aria-sort": True}) is None


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_not_used_in_90_days_shows_only_old_keys_unused_since(admin_client, keys, htmx):
    page = parse_html(admin_client.get("/settings/api-keys?status=all&unused=90", headers=HTMX if htmx else {}))

    assert row_names(page) == {"Old export", "Power BI pilot"}
    assert tab_counts(page) == {"active": "1", "suspended": "0", "expired": "1", "deactivated": "0", "all": "2"}
    assert "checked" in page.find("input", id="key-unused").attrs
    assert page.find("a", id="tab-active").get("href") == "/settings/api-keys?status=active&unused=90"


def test_search_filter_and_order_together_and_the_links_keep_them(admin_client, keys):
    page = parse_html(admin_client.get("/settings/api-keys?status=all&q=old&unused=90&sort=last_used"))

    assert names_in_order(page) == ["Old export"]
    for key_link in page.find(id="key-list").find_all("a", attrs={"data-loads-dialog": True}):
        assert "q%3Dold" in key_link.get("href") or "q=old" in key_link.get("href")


def test_pages_of_a_search_keep_it(admin_client, admin, make_key):
    for number in range(27):
        make_key(admin, name=f"Batch {number:02}")
    make_key(admin, name="Unrelated")

    page = parse_html(admin_client.get("/settings/api-keys?q=batch"))

    assert tab_counts(page)["active"] == "27"
    assert page.find("a", rel="next").get("href") == "/settings/api-keys?status=active&q=batch&page=2"
    second = parse_html(admin_client.get("/settings/api-keys?q=batch&page=2"))
    assert row_names(second) == {"Batch 00", "Batch 01"}

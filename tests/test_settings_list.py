"""The list: filter tabs and counts, full page and htmx fragment, the columns, and deleting keys."""

from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from floqast.extensions import db
from floqast.models import ApiKey, Role, Service, utcnow
from floqast.settings.routes import KEYS_PER_PAGE
from floqast.settings.formatting import ago
from helpers import HTMX, csrf_token, issue_key, log_in, parse_html, text_of

STATUSES = ["active", "expired", "deactivated", "all"]


@pytest.fixture
def keys(admin, make_key, team):
    """Two active keys (one expiring today), one expired, two deactivated (one of them also expired)."""
    today = team.today()
    yesterday = today - timedelta(days=1)
    made = {
        "Forever": make_key(admin, name="Forever")[0],
        "Last day": make_key(admin, name="Last day", expires_on=today)[0],
        "Lapsed": make_key(admin, name="Lapsed", expires_on=yesterday)[0],
        "Revoked": make_key(admin, name="Revoked", deleted_at=utcnow(), deleted_by_id=admin.id)[0],
        "Lapsed and revoked": make_key(
            admin, name="Lapsed and revoked", expires_on=yesterday, deleted_at=utcnow(), deleted_by_id=admin.id
        )[0],
    }
    return made


SHOWN = {
    "active": {"Forever", "Last day"},
    "expired": {"Lapsed"},
    "deactivated": {"Revoked", "Lapsed and revoked"},
    "all": {"Forever", "Last day", "Lapsed", "Revoked", "Lapsed and revoked"},
}
COUNTS = {"active": "2", "expired": "1", "deactivated": "2", "all": "5"}


def key_rows(page) -> list:
    return page.find(id="key-list").find("tbody").find_all("tr")


def row_names(page) -> set[str]:
    return {text_of(row.find("th")) for row in key_rows(page)}


def tab_counts(page) -> dict[str, str]:
    return {tab.get("id").removeprefix("tab-"): text_of(tab.find("span", class_="count"))
            for tab in page.find_all("a", role="tab")}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("asked", "shown"), [(s, s) for s in STATUSES] + [("bogus", "active"), (None, "active")])
def test_each_filter_tab_with_its_counts(admin_client, keys, htmx, asked, shown):
    query = {"status": asked} if asked else {}

    response = admin_client.get("/settings/api-keys", query_string=query, headers=HTMX if htmx else {})

    assert response.status_code == 200
    assert "HX-Request" in response.vary
    body = response.get_data(as_text=True)
    assert ("<html" in body) is not htmx
    page = parse_html(body)
    if htmx:
        assert page.find().get("id") == "key-list"
        assert page.find("dialog") is None
    assert row_names(page) == SHOWN[shown]
    assert tab_counts(page) == COUNTS
    selected = [tab.get("id") for tab in page.find_all("a", role="tab") if tab.get("aria-selected") == "true"]
    assert selected == [f"tab-{shown}"]
    for tab in page.find_all("a", role="tab"):
        value = tab.get("id").removeprefix("tab-")
        assert tab.get("href") == tab.get("hx-get") == f"/settings/api-keys?status={value}"


def test_history_restore_gets_the_full_page(admin_client, keys):
    response = admin_client.get(
        "/settings/api-keys?status=expired", headers={**HTMX, "HX-History-Restore-Request": "true"}
    )

    body = response.get_data(as_text=True)
    assert "<html" in body
    page = parse_html(body)
    assert text_of(page.find("h1")) == "API Keys"
    assert row_names(page) == {"Lapsed"}


def test_empty_tabs_say_so(admin_client):
    page = parse_html(admin_client.get("/settings/api-keys?status=all"))

    assert page.find(id="key-list").find("table") is None
    assert "Your team has no API keys yet." in text_of(page.find(id="key-list"))
    assert tab_counts(page) == {"active": "0", "expired": "0", "deactivated": "0", "all": "0"}


def test_the_page_has_its_title_and_create_button(admin_client):
    page = parse_html(admin_client.get("/settings/api-keys"))

    assert text_of(page.find("h1")) == "API Keys"
    button = page.find("a", attrs={"data-open-dialog": "create-key-dialog"})
    assert text_of(button) == "Create New Key"
    assert button.get("href") == "/settings/api-keys/new"


def test_no_js_new_key_page_opens_the_dialog(admin_client):
    page = parse_html(admin_client.get("/settings/api-keys/new"))

    dialog = page.find("dialog", id="create-key-dialog")
    assert "open" in dialog.attrs
    assert dialog.find("form").get("action") == "/settings/api-keys"
    assert [text_of(label) for label in dialog.find_all("label")][:2] == ["New API Key Name", "Expiration"]
    assert text_of(dialog.find("legend")) == "Select API Services"


# ---- the columns ----


@pytest.fixture
def la_team(team):
    team.timezone = "America/Los_Angeles"
    db.session.commit()
    return team


def cells(page, key) -> list[str]:
    row = page.find("tr", id=f"key-{key.id}")
    return [text_of(row.find("th"))] + [text_of(cell) for cell in row.find_all("td")]


def test_row_columns_in_the_team_zone(admin_client, la_team, admin, make_key):
    key, plaintext = make_key(
        admin, name="Warehouse", services=[Service.RECONCILIATIONS, Service.CHECKLISTS],
        expires_on=date(2031, 7, 4),
        created_at=datetime(2026, 1, 15, 3, 30, tzinfo=timezone.utc),
        last_used_at=datetime(2026, 3, 2, 18, 5, tzinfo=timezone.utc),
    )

    page = parse_html(admin_client.get("/settings/api-keys"))

    assert [text_of(th) for th in page.find("thead").find_all("th")][:8] == [
        "Key Name", "Key", "Services", "Created by", "Created", "Last used", "Expires", "Status",
    ]
    name, hint, services, creator, created, last_used, expires, status, _ = cells(page, key)
    assert name == "Warehouse"
    assert hint.startswith(plaintext[:7]) and plaintext not in hint
    assert services == "Reconciliation Analytics Checklist Analytics"  # two words apart, not glued
    assert creator == "Alex Admin"
    assert created == "Jan 14, 2026"  # 03:30 UTC is still the 14th in Los Angeles
    used = page.find("tr", id=f"key-{key.id}").find("time")
    assert used.get("title") == "Mar 2, 2026, 10:05 AM PST"  # the exact time in the team zone, on hover
    assert used.get("datetime") == "2026-03-02T18:05:00+00:00"
    assert last_used == ago(key.last_used_at)  # shown relative, like "8 months ago"
    assert expires == "Jul 4, 2031"
    assert status == "Active"


def test_never_used_and_never_expiring(admin_client, admin, make_key):
    key, _ = make_key(admin, name="Loose", services=[Service.CHECKLISTS])

    name, _, services, _, _, last_used, expires, status, _ = cells(parse_html(admin_client.get("/settings/api-keys")), key)

    assert (services, last_used, expires, status) == ("Checklist Analytics", "Never", "Never", "Active")


def test_created_by_shows_the_creator_not_the_viewer(client, team, admin, make_user, make_key):
    key, _ = make_key(admin, name="Alex's key")
    sysadmin = make_user(team, Role.SYSADMIN, name="Sam Sysadmin")
    log_in(client, sysadmin)

    assert cells(parse_html(client.get("/settings/api-keys")), key)[3] == "Alex Admin"


def test_stopped_rows_show_the_date_they_stopped_working(admin_client, la_team, admin, make_key):
    expired, _ = make_key(admin, name="Old", expires_on=date(2025, 12, 31))
    revoked, _ = make_key(
        admin, name="Gone", expires_on=date(2031, 1, 1),
        deleted_at=datetime(2026, 2, 1, 2, 0, tzinfo=timezone.utc), deleted_by_id=admin.id,
    )

    page = parse_html(admin_client.get("/settings/api-keys?status=all"))

    assert cells(page, expired)[7] == "Expired on Dec 31, 2025"
    assert cells(page, revoked)[7] == "Deactivated on Jan 31, 2026"  # 02:00 UTC is still the 31st in LA


def test_trash_can_only_on_rows_that_still_work(admin_client, keys):
    page = parse_html(admin_client.get("/settings/api-keys?status=all"))

    for name, key in keys.items():
        row = page.find("tr", id=f"key-{key.id}")
        trash = row.find("a", attrs={"aria-label": f"Delete key {name}"})
        if name in SHOWN["active"]:
            assert trash.get("hx-delete").startswith(f"/settings/api-keys/{key.id}")
            assert trash.get("href").startswith(f"/settings/api-keys/{key.id}/delete")
            assert "hx-confirm" in trash.attrs
        else:
            assert trash is None
            assert row.find("td", class_="actions").find_all() == []


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_expiry_follows_the_team_zone(admin_client, team, admin, make_key, zone):
    team.timezone = zone
    db.session.commit()
    today = team.today()
    last_day, _ = make_key(admin, name="Last day", expires_on=today)
    lapsed, _ = make_key(admin, name="Lapsed", expires_on=today - timedelta(days=1))

    page = parse_html(admin_client.get("/settings/api-keys?status=all"))

    assert cells(page, last_day)[7].split() == ["Active", "Expiring", "soon"]
    assert cells(page, lapsed)[7].startswith("Expired")
    assert tab_counts(page)["active"] == "1" and tab_counts(page)["expired"] == "1"


# ---- delete ----


def htmx_delete(client, key, status="active"):
    token = csrf_token(client, "/settings/api-keys")
    return client.delete(f"/settings/api-keys/{key.id}?status={status}", headers={**HTMX, "X-CSRFToken": token})


def test_htmx_delete_moves_the_row_to_deactivated(admin_client, admin, keys, team):
    key = keys["Forever"]

    response = htmx_delete(admin_client, key)

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body
    page = parse_html(body)
    assert page.find().get("id") == "key-list"
    assert "“Forever” was deactivated." in text_of(page.find("p", role="status"))
    assert row_names(page) == {"Last day"}
    assert tab_counts(page) == {"active": "1", "expired": "1", "deactivated": "3", "all": "5"}

    db.session.refresh(key)
    assert key.deleted_by_id == admin.id
    assert abs(key.deleted_at - utcnow()) < timedelta(minutes=1)

    deactivated = parse_html(admin_client.get("/settings/api-keys?status=deactivated", headers=HTMX))
    assert "Forever" in row_names(deactivated)
    stopped = key.deleted_at.astimezone(team.zone)
    assert cells(deactivated, key)[7] == f"Deactivated on {stopped:%b} {stopped.day}, {stopped.year}"
    assert deactivated.find("tr", id=f"key-{key.id}").find("a") is None


def test_htmx_delete_keeps_the_tab_it_was_asked_from(admin_client, keys):
    page = parse_html(htmx_delete(admin_client, keys["Forever"], status="all"))

    assert page.find("a", attrs={"aria-selected": "true"}).get("id") == "tab-all"
    assert "Forever" in row_names(page)
    assert cells(page, keys["Forever"])[7].startswith("Deactivated on")


def test_deleting_again_is_not_an_error_and_changes_nothing(client, team, admin, make_user, keys):
    key = keys["Forever"]
    log_in(client, admin)
    htmx_delete(client, key)
    db.session.refresh(key)
    first = (key.deleted_at, key.deleted_by_id)

    log_in(client, make_user(team, Role.SYSADMIN))
    response = htmx_delete(client, key)

    assert response.status_code == 200
    assert "was already deactivated on" in text_of(parse_html(response).find("p", role="status"))
    db.session.refresh(key)
    assert (key.deleted_at, key.deleted_by_id) == first


def test_no_js_delete_confirms_then_redirects_with_a_message(admin_client, admin, keys):
    key = keys["Forever"]

    confirm = admin_client.get(f"/settings/api-keys/{key.id}/delete?status=all")

    assert confirm.status_code == 200
    page = parse_html(confirm)
    assert text_of(page.find("h1")) == "Delete the API key “Forever”?"
    assert key.hint in text_of(page)
    form = page.find("form", action=f"/settings/api-keys/{key.id}/delete?status=all")
    assert form.get("method") == "post"
    assert form.find("a").get("href") == "/settings/api-keys?status=all"
    db.session.refresh(key)
    assert key.deleted_at is None  # asking is not deleting

    token = form.find("input", attrs={"name": "csrf_token"}).get("value")
    response = admin_client.post(form.get("action"), data={"csrf_token": token})

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.query) == ("/settings/api-keys", "status=all")
    landed = parse_html(admin_client.get(response.headers["Location"]))
    assert "“Forever” was deactivated." in text_of(landed.find("div", class_="flashes"))
    assert cells(landed, key)[7].startswith("Deactivated on")
    db.session.refresh(key)
    assert key.deleted_by_id == admin.id and key.deleted_at is not None

    again = admin_client.post(form.get("action"), data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200
    assert "was already deactivated on" in text_of(parse_html(again).find("div", class_="flashes"))


@pytest.mark.parametrize("how", ["htmx", "confirm page", "form post"])
def test_deleting_another_teams_key_or_a_missing_one_is_404(admin_client, make_team, make_user, make_key, how):
    other, _ = make_key(make_user(make_team("Globex")), name="Globex key")
    token = csrf_token(admin_client, "/settings/api-keys")

    for key_id in (other.id, other.id + 1000):
        if how == "htmx":
            response = admin_client.delete(f"/settings/api-keys/{key_id}", headers={**HTMX, "X-CSRFToken": token})
        elif how == "confirm page":
            response = admin_client.get(f"/settings/api-keys/{key_id}/delete")
        else:
            response = admin_client.post(f"/settings/api-keys/{key_id}/delete", data={"csrf_token": token})
        assert response.status_code == 404

    db.session.refresh(other)
    assert other.deleted_at is None


def test_a_deleted_key_keeps_its_row_creator_and_history(admin_client, admin, keys):
    key = keys["Forever"]
    htmx_delete(admin_client, key)

    db.session.refresh(key)
    assert db.session.get(ApiKey, key.id) is not None
    assert key.created_by_id == admin.id
    assert cells(parse_html(admin_client.get("/settings/api-keys?status=all")), key)[3] == "Alex Admin"


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
        assert tab_counts(page) == {"active": str(ACTIVE_KEYS), "expired": "3", "deactivated": "0",
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


def test_deleting_from_a_later_page_answers_with_that_page(admin_client, many_keys):
    second = parse_html(admin_client.get("/settings/api-keys?status=active&page=2", headers=HTMX))
    row = key_rows(second)[0]
    key = db.session.get(ApiKey, int(row.get("id").removeprefix("key-")))
    trash = row.find("a", class_="danger")
    assert trash.get("hx-delete") == f"/settings/api-keys/{key.id}?status=active&page=2"

    token = csrf_token(admin_client, "/settings/api-keys")
    page = parse_html(admin_client.delete(trash.get("hx-delete"), headers={**HTMX, "X-CSRFToken": token}))

    assert "Page 2 of 3" in text_of(page.find("nav", class_="pager"))
    assert key.name not in row_names(page)
    assert row_names(page) - row_names(second) == names([ACTIVE_KEYS - 2 * KEYS_PER_PAGE - 1])  # from page 3


def test_deleting_the_last_key_of_the_last_page_shows_the_page_before(admin_client, many_keys):
    token = csrf_token(admin_client, "/settings/api-keys")
    last = parse_html(admin_client.get("/settings/api-keys?status=active&page=3", headers=HTMX))
    for row in key_rows(last):
        response = admin_client.delete(row.find("a", class_="danger").get("hx-delete"),
                                       headers={**HTMX, "X-CSRFToken": token})
    page = parse_html(response)

    assert "Page 2 of 2" in text_of(page.find("nav", class_="pager"))
    assert len(row_names(page)) == KEYS_PER_PAGE


def test_no_js_delete_from_a_later_page_goes_back_to_that_page(admin_client, many_keys):
    second = parse_html(admin_client.get("/settings/api-keys?status=active&page=2"))
    row = key_rows(second)[0]
    confirm = parse_html(admin_client.get(row.find("a", class_="danger").get("href")))
    form = confirm.find("form", action=f"/settings/api-keys/{row.get('id').removeprefix('key-')}/delete"
                                       "?status=active&page=2")
    assert form.find("a").get("href") == "/settings/api-keys?status=active&page=2"  # Cancel

    token = form.find("input", attrs={"name": "csrf_token"}).get("value")
    response = admin_client.post(form.get("action"), data={"csrf_token": token})

    location = urlsplit(response.headers["Location"])
    assert (location.path, location.query) == ("/settings/api-keys", "status=active&page=2")

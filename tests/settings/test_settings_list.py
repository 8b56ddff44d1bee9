"""The key list: filter tabs and counts, full page and htmx fragment, and the columns."""

from datetime import date, datetime, timedelta, timezone

import pytest

from floqast.accounts.models import Role
from floqast.extensions import db
from floqast.keys.models import Service
from floqast.settings.formatting import ago
from helpers import HTMX, cells, log_in, parse_html, row_names, same_url, tab_counts, text_of

STATUSES = ["active", "expired", "deactivated", "all"]

SHOWN = {
    "active": {"Forever", "Last day"},
    "expired": {"Lapsed"},
    "deactivated": {"Revoked", "Lapsed and revoked"},
    "all": {"Forever", "Last day", "Lapsed", "Revoked", "Lapsed and revoked"},
}
COUNTS = {"active": "2", "suspended": "0", "expired": "1", "deactivated": "2", "all": "5"}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("asked", "shown"), [(s, s) for s in STATUSES] + [("bogus", "active"), (None, "active")])
def test_each_filter_tab_with_its_counts(admin_client, keys_in_every_status, htmx, asked, shown):
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


def test_history_restore_gets_the_full_page(admin_client, keys_in_every_status):
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
    assert tab_counts(page) == {"active": "0", "suspended": "0", "expired": "0", "deactivated": "0", "all": "0"}


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
    assert [text_of(label) for label in dialog.find_all("label")][:3] == ["New API Key Name", "Description (optional)",
                                                                          "Expiration"]
    assert text_of(dialog.find("legend")) == "Select API Services"


# ---- the columns ----


@pytest.fixture
def la_team(team):
    team.timezone = "America/Los_Angeles"
    db.session.commit()
    return team


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

    page = parse_html(admin_client.get("/settings/api-keys"))
    name, _, services, _, _, last_used, expires, status, _ = cells(page, key)

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

    # One date each: an expired key's is its Expires; a deleted key's is when it stopped, its later expiry gone.
    assert cells(page, expired)[6:8] == ["Dec 31, 2025", "Expired"]
    assert cells(page, revoked)[6:8] == ["—", "Deactivated on Jan 31, 2026"]  # 02:00 UTC is still the 31st in LA


def test_trash_can_only_on_rows_that_are_not_deactivated(admin_client, keys_in_every_status):
    page = parse_html(admin_client.get("/settings/api-keys?status=all"))

    for name, key in keys_in_every_status.items():
        row = page.find("tr", id=f"key-{key.id}")
        trash = row.find("a", attrs={"aria-label": f"Delete key {name}"})
        if name in SHOWN["active"] | SHOWN["expired"]:
            # It asks first, in the one confirmation dialog (never the browser's confirm()).
            assert same_url(trash.get("href"), f"/settings/api-keys/{key.id}/delete", "/settings/api-keys?status=all")
            assert trash.get("hx-get") == trash.get("href") and trash.get("hx-target") == "#dialog-slot"
            assert "hx-confirm" not in trash.attrs and "hx-delete" not in trash.attrs
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

"""The Activity page's API request log: newest first, by key and status, a page at a time, with or without htmx,
and only the team's own."""

from datetime import datetime, timedelta, timezone

import pytest

from floqast.accounts.models import Role
from helpers import CHECKLISTS, HTMX, ME, RECONCILIATIONS, log_rows, parse_html, text_of

ACTIVITY = "/settings/api-keys/activity"
REQUESTS = "/settings/api-keys/activity/requests"
JANUARY = datetime(2026, 1, 10, tzinfo=timezone.utc)


def section(response):
    assert response.status_code == 200
    return parse_html(response).find("section", id="api-requests")


def shown(response) -> list[list[str]]:
    """Each row of the request table as the text of its cells."""
    rows = section(response).find("tbody")
    return [] if rows is None else [[text_of(cell) for cell in row.find_all("td")] for row in rows.find_all("tr")]


def test_the_activity_page_lists_the_teams_requests_newest_first(admin_client, team, admin, make_key, api_get):
    key, plaintext = make_key(admin, name="Warehouse")
    api_get(f"{RECONCILIATIONS}?filter[month]=March&filter[year]=2025", plaintext)
    api_get(CHECKLISTS, make_key(admin, name="Deleted", deleted_at=JANUARY, deleted_by_id=admin.id)[1])
    newest, oldest = shown(admin_client.get(ACTIVITY))
    assert oldest[1:] == [f"{key.hint}… Warehouse",
                          f"GET {RECONCILIATIONS}?filter[month]=March&filter[year]=2025 Reconciliation Analytics",
                          "200", "203.0.113.7"]
    assert newest[1].endswith("Deleted") and newest[3] == "401 Deleted key"


def test_without_javascript_the_filters_are_a_get_form_that_answers_with_the_whole_page(admin_client):
    page = parse_html(admin_client.get(REQUESTS, query_string={"status": "refused"}))
    form = page.find("section", id="api-requests").find("form")
    assert (form.get("method"), form.get("action")) == ("get", REQUESTS)
    assert {field.get("name") for field in form.find_all("select")} == {"key", "status"}
    assert page.find("section", id="activity") is not None  # the whole Activity page
    assert form.find("option", selected=True, value="refused") is not None


def test_htmx_gets_the_request_list_alone_as_its_own_target(admin_client):
    body = admin_client.get(REQUESTS, headers=HTMX)
    fragment = parse_html(body)
    assert fragment.find("section", id="activity") is None and fragment.find("html") is None
    form = fragment.find("section", id="api-requests").find("form")
    assert (form.get("hx-get"), form.get("hx-target"), form.get("hx-swap")) == (REQUESTS, "#api-requests", "outerHTML")
    assert "No API requests yet." in text_of(section(body))


def test_filter_by_key_offers_the_teams_keys_only(admin_client, team, admin, make_key, make_team, make_user):
    first, _ = make_key(admin, name="First")
    second, _ = make_key(admin, name="Second")
    theirs, _ = make_key(make_user(make_team("Globex"), Role.ADMIN), name="Globex key")
    log_rows(team.id, first.id, JANUARY, uri=f"{ME}?first")
    log_rows(team.id, second.id, JANUARY, uri=f"{ME}?second")
    log_rows(theirs.team_id, theirs.id, JANUARY, uri=f"{ME}?globex")
    options = section(admin_client.get(ACTIVITY)).find("select", id="request-key").find_all("option")
    assert [text_of(option) for option in options] == ["All keys", f"First ({first.hint}…)", f"Second ({second.hint}…)"]
    assert [row[2] for row in shown(admin_client.get(REQUESTS, query_string={"key": first.id}))] == [f"GET {ME}?first"]
    # Another team's key id is no filter of ours: every key of the team, never the other team's requests.
    assert [row[2] for row in shown(admin_client.get(REQUESTS, query_string={"key": theirs.id}))] == [
        f"GET {ME}?second", f"GET {ME}?first"]


@pytest.mark.parametrize(("status", "expected"), [
    ("all", ["429", "403", "401", "400", "200"]),
    ("succeeded", ["200"]),
    ("refused", ["429", "403", "401"]),
    ("failed", ["400"]),
    ("401", ["401"]),
    ("nonsense", ["429", "403", "401", "400", "200"]),
])
def test_filter_by_status(admin_client, team, admin, make_key, status, expected):
    key, _ = make_key(admin)
    for code in (200, 400, 401, 403, 429):
        log_rows(team.id, key.id, JANUARY, status=code)
    statuses = [row[3].split()[0] for row in shown(admin_client.get(REQUESTS, query_string={"status": status},
                                                                    headers=HTMX))]
    assert statuses == expected


def test_pages_go_back_in_time_keeping_the_filters(admin_client, team, admin, make_key):
    key, _ = make_key(admin)
    log_rows(team.id, key.id, *(JANUARY + timedelta(minutes=minute) for minute in range(30)), status=401)
    log_rows(team.id, key.id, JANUARY, status=200)
    first = section(admin_client.get(REQUESTS, query_string={"status": "refused"}, headers=HTMX))
    [older] = first.find("nav", class_="pager").find_all("a")
    assert text_of(older) == "Older" and older.get("hx-get") == older.get("href")
    assert "status=refused" in older.get("href") and older.get("hx-target") == "#api-requests"
    assert len(first.find("tbody").find_all("tr")) == 25
    second = admin_client.get(older.get("href"), headers=HTMX)
    assert [row[3] for row in shown(second)] == ["401"] * 5
    assert [text_of(link) for link in section(second).find("nav", class_="pager").find_all("a")] == ["Newest"]


def test_a_logged_uri_is_shown_as_text(admin_client, team, admin, make_key):
    key, _ = make_key(admin)
    log_rows(team.id, key.id, JANUARY, uri="/api/v1/me?x=<script>alert(1)</script>")
    body = admin_client.get(REQUESTS, headers=HTMX).get_data(as_text=True)
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.parametrize("older_than", ["abc", "-1", "9" * 40])
def test_a_page_argument_that_is_no_id_shows_the_newest_page(admin_client, team, admin, make_key, older_than):
    key, _ = make_key(admin)
    log_rows(team.id, key.id, JANUARY)
    assert len(shown(admin_client.get(REQUESTS, query_string={"older_than": older_than}))) == 1

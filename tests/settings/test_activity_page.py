"""The Activity page: reached from every settings page, each refused request saying why, both lists filtered by
days in the team's time zone (a bad day is an error next to its field), the audit list by event type, and every key
hint a link to its key's page; with htmx and without JavaScript."""

from datetime import datetime, timedelta, timezone

import pytest

from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import Service
from floqast.usage.models import ApiRequest, Refusal
from helpers import CHECKLISTS, HTMX, ME, RECONCILIATIONS, log_in, log_rows, logged_requests, parse_html, text_of

ACTIVITY = "/settings/api-keys/activity"
REQUESTS = "/settings/api-keys/activity/requests"
SETTINGS_PAGES = {"/settings/api-keys": "API Keys", ACTIVITY: "Activity", REQUESTS: "Activity",
                  "/settings/api-key-policy": "API key policy", "/settings/webhooks": "Webhooks",
                  "/settings/api-docs": "API documentation"}


def rows(response, section_id: str) -> list[list[str]]:
    """Each row of a list's table as the text of its cells."""
    body = parse_html(response).find("section", id=section_id).find("tbody")
    return [] if body is None else [[text_of(cell) for cell in row.find_all("td")] for row in body.find_all("tr")]


@pytest.mark.parametrize("path", SETTINGS_PAGES)
def test_every_settings_page_lists_the_five_pages_and_marks_its_own(admin_client, path):
    nav = parse_html(admin_client.get(path)).find("nav", attrs={"aria-label": "Admin Settings"})
    links = {text_of(link): link.get("href") for link in nav.find_all("a")}
    assert links == {"API Keys": "/settings/api-keys", "Activity": ACTIVITY,
                     "API key policy": "/settings/api-key-policy", "Webhooks": "/settings/webhooks",
                     "API documentation": "/settings/api-docs"}
    assert [text_of(link) for link in nav.find_all("a", attrs={"aria-current": "page"})] == [SETTINGS_PAGES[path]]


def test_a_keys_page_is_under_api_keys(admin_client, admin, make_key):
    key, _ = make_key(admin)
    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))
    nav = page.find("nav", attrs={"aria-label": "Admin Settings"})
    assert text_of(nav.find("a", attrs={"aria-current": "page"})) == "API Keys"


def test_the_activity_page_holds_both_lists_under_its_own_heading(admin_client):
    page = parse_html(admin_client.get(ACTIVITY))
    assert text_of(page.find("h1")) == "Activity"
    assert [text_of(heading) for heading in page.find_all("h2")] == ["Audit events", "API requests"]
    assert "UTC" in text_of(page.find("header", class_="page-header"))  # the team's time zone, which days are in


@pytest.fixture
def refused_everywhere(app, team, admin, make_key, api_get):
    """One pull refused for each reason a browser-free client meets, and one that worked; returns the keys."""
    app.config["API_RATE_LIMIT"] = "1 per minute"
    made = {
        "Working": make_key(admin, name="Working"),
        "Deleted": make_key(admin, name="Deleted", deleted_at=utcnow() - timedelta(days=1), deleted_by_id=admin.id),
        "Expired": make_key(admin, name="Expired", expires_on=team.today() - timedelta(days=3)),
        "Office": make_key(admin, name="Office", allowed_ips="198.51.100.7"),
        "Checklists": make_key(admin, name="Checklists", services=[Service.CHECKLISTS]),
        "Leaked": make_key(admin, name="Leaked", deleted_at=utcnow(), deactivated_reason="found on a pastebin"),
        "Rolled": make_key(admin, name="Rolled"),
    }
    actions.roll_key(made["Rolled"][0], admin, timedelta(0), None)
    db.session.commit()
    assert api_get(ME, made["Working"][1]).status_code == 200
    assert api_get(ME, made["Working"][1]).status_code == 429
    for name in ("Deleted", "Expired", "Leaked", "Rolled"):
        assert api_get(ME, made[name][1]).status_code == 401, name
    assert api_get(ME, made["Office"][1]).status_code == 403
    assert api_get(RECONCILIATIONS, made["Checklists"][1]).status_code == 403
    assert api_get(f"{CHECKLISTS}?api_key={made['Checklists'][1]}").status_code == 400
    return {name: key for name, (key, _) in made.items()}


def test_each_refused_request_says_why_in_words(admin_client, refused_everywhere):
    statuses = {}
    for row in rows(admin_client.get(ACTIVITY), "api-requests"):  # newest first
        statuses.setdefault(row[1].split("… ", 1)[1], []).append(row[3])
    assert statuses == {
        "Working": ["429 Rate limited", "200"],
        "Deleted": ["401 Deleted key"],
        "Expired": ["401 Expired key"],
        "Leaked": ["401 Key revoked as leaked"],
        "Rolled": ["401 Rolled key, replaced"],
        "Office": ["403 Address not allowed"],
        "Checklists": ["400 Key in the URL", "403 Service not allowed"],
    }


def test_the_log_keeps_the_refusal_and_a_team_with_open_api_off_is_named(admin_client, team, admin, make_key, api_get):
    key, plaintext = make_key(admin)
    team.open_api_enabled = False
    db.session.commit()
    assert api_get(ME, plaintext).status_code == 403
    [logged] = logged_requests()
    assert (logged.status, logged.refusal, logged.refusal_reason) == (403, Refusal.OPEN_API_OFF, "Open API off")


def test_requests_that_were_not_refused_or_logged_before_reasons_say_nothing_more(admin_client, team, admin, make_key):
    key, _ = make_key(admin)
    for status in (200, 400, 401, 500):
        log_rows(team.id, key.id, datetime(2026, 1, 10, tzinfo=timezone.utc), status=status)
    assert sorted(row[3] for row in rows(admin_client.get(ACTIVITY), "api-requests")) == ["200", "400", "401", "500"]
    assert ApiRequest(status=429).refusal_reason == "Rate limited"  # only a pull over its limit is logged with 429


def test_every_key_hint_links_to_its_keys_page(admin_client, team, admin, make_key):
    key, _ = make_key(admin, name="Warehouse")
    log_rows(team.id, key.id, datetime(2026, 1, 10, tzinfo=timezone.utc))
    db.session.add(AuditEvent(team_id=team.id, kind=AuditKind.KEY_CREATED, user_id=admin.id, api_key_id=key.id,
                              key_hint=key.hint, key_name=key.name))
    db.session.commit()
    page = parse_html(admin_client.get(ACTIVITY))
    for section_id in ("activity", "api-requests"):
        [link] = page.find("section", id=section_id).find("tbody").find_all("a")
        assert link.get("href") == f"/settings/api-keys/{key.id}"
        assert text_of(link) == f"{key.hint}… Warehouse"
    own_page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))
    assert own_page.find("section", id="api-requests").find("tbody").find("a") is None  # its own rows: no Key column
    assert own_page.find("section", id="activity").find("tbody").find("a").get("href") == f"/settings/api-keys/{key.id}"


@pytest.fixture
def new_york_days(make_team, make_user, make_key, client):
    """A New York team's key with a request and an event at 23:30 on Jan 9 and 00:30 on Jan 10, New York time;
    returns its admin's client."""
    team = make_team("Acme NY", timezone="America/New_York")
    admin = make_user(team, email="ny@acme.test", name="Nia")
    key, _ = make_key(admin, name="Nightly")
    late, early = (datetime(2026, 1, 10, hour, 30, tzinfo=timezone.utc) for hour in (4, 5))  # EST is UTC-5
    log_rows(team.id, key.id, late, uri=f"{ME}?late")
    log_rows(team.id, key.id, early, uri=f"{ME}?early")
    for moment, kind in ((late, AuditKind.LOGIN), (early, AuditKind.LOGOUT)):
        db.session.add(AuditEvent(team_id=team.id, kind=kind, user_id=admin.id, email=admin.email, created_at=moment))
    db.session.commit()
    log_in(client, admin)
    return client


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("start", "end", "shown"), [
    ("2026-01-09", "2026-01-09", ["late"]),
    ("2026-01-10", "2026-01-10", ["early"]),
    ("2026-01-09", "2026-01-10", ["early", "late"]),
    ("2026-01-10", "", ["early"]),
    ("", "2026-01-09", ["late"]),
    ("", "", ["early", "late"]),
    ("2026-01-11", "", []),
])
def test_both_lists_filter_by_days_in_the_teams_time_zone(new_york_days, htmx, start, end, shown):
    headers = HTMX if htmx else {}
    requests = new_york_days.get(REQUESTS, query_string={"requests_from": start, "requests_to": end}, headers=headers)
    assert requests.status_code == 200
    assert [row[2].split("?")[1] for row in rows(requests, "api-requests")] == shown
    events = new_york_days.get(ACTIVITY, query_string={"from": start, "to": end}, headers=headers)
    assert events.status_code == 200
    assert [row[1] for row in rows(events, "activity")] == [
        {"early": "Logged out", "late": "Logged in"}[name] for name in shown]
    if not shown:
        assert "No events match these filters." in text_of(parse_html(events).find("section", id="activity"))


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("start", "end", "field", "message"), [
    ("yesterday", "", "from", "Enter From as a date, such as 2026-03-01."),
    ("2026-02-30", "", "from", "Enter From as a date, such as 2026-03-01."),
    ("", "20260105", "to", "Enter To as a date, such as 2026-03-01."),
    ("2026-01-10", "2026-01-09", "to", "To is before From: choose a day on or after 2026-01-10."),
])
def test_a_day_that_is_not_one_is_a_400_with_the_error_next_to_its_field(new_york_days, htmx, start, end, field,
                                                                          message):
    headers = HTMX if htmx else {}
    for url, names, section_id, prefix, empty in (
        (ACTIVITY, ("from", "to"), "activity", "events", "Correct the dates to see the events."),
        (REQUESTS, ("requests_from", "requests_to"), "api-requests", "requests",
         "Correct the dates to see the requests."),
    ):
        response = new_york_days.get(url, query_string=dict(zip(names, (start, end), strict=True)), headers=headers)
        assert response.status_code == 400
        section = parse_html(response).find("section", id=section_id)
        field_id = f"{prefix}-{field}"
        assert section.find("input", id=field_id).get("aria-invalid") == "true"
        assert section.find("input", id=field_id).get("aria-describedby") == f"{field_id}-error"
        assert text_of(section.find(id=f"{field_id}-error")) == message
        assert section.find("input", id=field_id).get("value") == (start if field == "from" else end)
        assert section.find("tbody") is None and empty in text_of(section)


def test_the_audit_list_filters_by_event_type(new_york_days):
    logins = new_york_days.get(ACTIVITY, query_string={"event": "login"}, headers=HTMX)
    assert [row[1] for row in rows(logins, "activity")] == ["Logged in"]
    select = parse_html(logins).find("select", id="event-kind")
    assert select.find("option", selected=True).get("value") == "login"
    labels = [text_of(option) for option in select.find_all("option")]
    assert labels[0] == "All events" and labels[1:] == sorted(kind.label for kind in AuditKind)
    # Any other value is no filter.
    assert len(rows(new_york_days.get(ACTIVITY, query_string={"event": "nonsense"}), "activity")) == 2


def test_the_filters_are_get_forms_and_the_pager_and_refresh_keep_them(new_york_days):
    url_args = {"event": "login", "from": "2026-01-01", "to": "2026-01-31"}
    page = parse_html(new_york_days.get(ACTIVITY, query_string=url_args))
    events = page.find("section", id="activity")
    form = events.find("form")
    assert (form.get("method"), form.get("action"), form.get("hx-get")) == ("get", ACTIVITY, ACTIVITY)
    assert (form.get("hx-target"), form.get("hx-push-url")) == ("#activity", "true")
    assert {field.get("name") for field in form.find_all(["input", "select"])} == {"event", "from", "to"}
    # The list reloads itself after a change with its filters.
    assert events.get("hx-get") == f"{ACTIVITY}?event=login&from=2026-01-01&to=2026-01-31"
    requests = page.find("section", id="api-requests").find("form")
    assert {field.get("name") for field in requests.find_all(["input", "select"])} == {
        "key", "status", "requests_from", "requests_to"}


def test_the_request_pager_keeps_the_days(admin_client, team, admin, make_key):
    key, _ = make_key(admin)
    start = datetime(2026, 1, 10, 12, tzinfo=timezone.utc)
    log_rows(team.id, key.id, *(start + timedelta(minutes=minute) for minute in range(30)))
    log_rows(team.id, key.id, start + timedelta(days=1))
    first = parse_html(admin_client.get(REQUESTS, query_string={"requests_to": "2026-01-10"}, headers=HTMX))
    older = first.find("nav", class_="pager").find("a")
    assert "requests_to=2026-01-10" in older.get("href")
    second = admin_client.get(older.get("href"), headers=HTMX)
    assert len(rows(second, "api-requests")) == 5

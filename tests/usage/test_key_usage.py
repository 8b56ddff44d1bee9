"""A key's page below its details: usage per day in the team's time zone (from the daily counts the request log
keeps), refusals apart, totals, its latest requests by status, and the notices sent about it."""

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from floqast.accounts.models import Role
from floqast.extensions import db
from floqast.notices.outbox import KeyNotice, NoticeKind, notify_key_admins
from floqast.settings import usage
from helpers import CLIENT_IP, HTMX, ME, RECONCILIATIONS, log_rows, parse_html, statements_sent, text_of

# 11:00 in New York (EDT since March 8): the team's day began at 04:00 UTC.
NOW = datetime(2026, 3, 20, 15, 0, tzinfo=timezone.utc)
NEW_YORK_MIDNIGHT = datetime(2026, 3, 20, 4, 0, tzinfo=timezone.utc)


@pytest.fixture
def team(make_team):
    return make_team(timezone="America/New_York")


@pytest.fixture
def now(monkeypatch):
    monkeypatch.setattr(usage, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def key(admin, make_key):
    return make_key(admin, name="Warehouse")[0]


def page_of(client, key, **query):
    response = client.get(f"/settings/api-keys/{key.id}", query_string=query)
    assert response.status_code == 200
    return parse_html(response)


def days_in_table(page) -> dict[str, list[int]]:
    """The usage table: each day's succeeded, refused, other errors and total, newest first."""
    rows = page.find("details", class_="usage-numbers").find("tbody").find_all("tr")
    return {text_of(row.find("td")): [int(text_of(cell).replace(",", "")) for cell in row.find_all("td")[1:]]
            for row in rows}


def counted_days(page) -> dict[str, list[int]]:
    return {day: counts for day, counts in days_in_table(page).items() if counts[3]}


def bars(page) -> dict[str, dict[str, float]]:
    """Each bar of the chart that has requests: its day (from its title) and its segments' heights by series."""
    drawn = {}
    for bar in page.find("svg").find_all("g", class_="chart-bar"):
        rects = bar.find_all("rect")
        if rects:
            day = text_of(bar.find("title")).split(":")[0]
            drawn[day] = {rect["class"][0]: float(rect["height"]) for rect in rects}
    return drawn


def totals(page) -> dict[str, str]:
    return {text_of(div.find("dt")): text_of(div.find("dd"))
            for div in page.find("dl", class_="usage-totals").find_all("div")}


def test_bars_and_table_count_the_keys_requests_by_day_in_the_teams_time_zone(admin_client, team, key, now):
    log_rows(team.id, key.id, NEW_YORK_MIDNIGHT, NOW - timedelta(minutes=5), NOW)  # today in New York
    log_rows(team.id, key.id, NEW_YORK_MIDNIGHT - timedelta(seconds=1), status=401)  # 23:59:59 yesterday there
    log_rows(team.id, key.id, NEW_YORK_MIDNIGHT - timedelta(hours=2), status=429)
    log_rows(team.id, key.id, NEW_YORK_MIDNIGHT - timedelta(hours=3), status=400)
    # The first bar's day began at 05:00 UTC (EST, before the clocks changed); the day before it is not shown.
    first_day = datetime(2026, 2, 19, tzinfo=ZoneInfo("America/New_York"))
    log_rows(team.id, key.id, first_day, first_day - timedelta(seconds=1))

    page = page_of(admin_client, key)

    table = days_in_table(page)
    assert len(table) == 30
    assert list(table)[0] == "Mar 20, 2026" and list(table)[-1] == "Feb 19, 2026"
    assert counted_days(page) == {
        "Mar 20, 2026": [3, 0, 0, 3],
        "Mar 19, 2026": [0, 2, 1, 3],
        "Feb 19, 2026": [1, 0, 0, 1],
    }
    drawn = bars(page)
    assert set(drawn) == {"Mar 20, 2026", "Mar 19, 2026", "Feb 19, 2026"}
    assert set(drawn["Mar 19, 2026"]) == {"bar-refused", "bar-failed"}
    # One scale for every segment: three requests stand three times as tall as one.
    one = drawn["Feb 19, 2026"]["bar-succeeded"]
    assert drawn["Mar 20, 2026"]["bar-succeeded"] == pytest.approx(3 * one, abs=0.02)
    assert drawn["Mar 19, 2026"]["bar-refused"] == pytest.approx(2 * one, abs=0.02)
    assert drawn["Mar 19, 2026"]["bar-failed"] == pytest.approx(one, abs=0.02)


def test_the_totals_are_the_last_24_hours_and_the_30_days_with_refusals_apart(admin_client, team, key, now):
    # The last 24 hours are whole hours (NOW's and the 23 before it), counted from the key's hourly counts.
    first_hour = NOW.replace(minute=0) - timedelta(hours=23)
    log_rows(team.id, key.id, first_hour, NOW - timedelta(minutes=1))
    log_rows(team.id, key.id, NOW - timedelta(hours=1), status=403)
    log_rows(team.id, key.id, first_hour - timedelta(seconds=1), status=401)  # the hour before the first
    log_rows(team.id, key.id, NOW - timedelta(days=10), NOW - timedelta(days=12), status=200)

    assert totals(page_of(admin_client, key)) == {
        "Last 24 hours": "3 requests: 2 succeeded, 1 refused, 0 other errors",
        "Last 30 days": "6 requests: 4 succeeded, 2 refused, 0 other errors",
    }


def test_another_teams_rows_and_the_teams_other_keys_are_never_counted(admin_client, team, key, admin, make_key,
                                                                       make_team, make_user, now):
    other_key, _ = make_key(admin, name="Other")
    globex = make_team("Globex", timezone="Asia/Tokyo")
    theirs, _ = make_key(make_user(globex, Role.ADMIN), name="Theirs")
    log_rows(team.id, key.id, NOW)
    log_rows(team.id, other_key.id, NOW, NOW)
    log_rows(globex.id, theirs.id, NOW, NOW, NOW)
    log_rows(globex.id, key.id, NOW, NOW, NOW, NOW)  # a row naming our key under another team: not ours

    page = page_of(admin_client, key)

    assert counted_days(page) == {"Mar 20, 2026": [1, 0, 0, 1]}
    assert totals(page)["Last 24 hours"].startswith("1 request:")
    assert admin_client.get(f"/settings/api-keys/{theirs.id}").status_code == 404


def test_pulls_just_made_are_counted_at_once_and_a_refusal_apart(admin_client, api_get, admin, make_key):
    key, plaintext = make_key(admin, name="Office", allowed_ips="198.51.100.0/24")
    assert api_get(ME, plaintext).status_code == 403  # from CLIENT_IP: not allowed
    key.allowed_ips = None
    db.session.commit()
    assert api_get(ME, plaintext).status_code == 200
    assert api_get(f"{RECONCILIATIONS}?filter[month]=Smarch", plaintext).status_code == 400

    page = page_of(admin_client, key)  # this worker's unwritten rows are written before the page reads them

    assert list(counted_days(page).values()) == [[1, 1, 1, 3]]
    assert totals(page)["Last 24 hours"] == "3 requests: 1 succeeded, 1 refused, 1 other error"


def test_a_key_never_used_shows_an_empty_chart_and_zero_totals(admin_client, key):
    page = page_of(admin_client, key)

    assert counted_days(page) == {} and bars(page) == {}
    assert totals(page)["Last 30 days"] == "0 requests: 0 succeeded, 0 refused, 0 other errors"
    svg = page.find("svg")
    assert svg.get("role") == "img" and text_of(svg.find("title")) == "Requests per day, last 30 days"
    assert "No requests with this key yet." in text_of(page.find(id="api-requests"))


def test_the_chart_uses_classes_and_attributes_never_inline_styles(admin_client, team, key, now):
    log_rows(team.id, key.id, NOW, status=401)
    body = admin_client.get(f"/settings/api-keys/{key.id}").get_data(as_text=True)

    assert " style=" not in body and "<script>" not in body
    assert [text_of(item) for item in parse_html(body).find("ul", class_="chart-legend").find_all("li")] == [
        "Succeeded", "Other errors", "Refused (401, 403, 429)"]


# ---------------------------------------------------------------- the key's latest requests


def shown(section) -> list[list[str]]:
    rows = section.find("tbody")
    return [] if rows is None else [[text_of(cell) for cell in row.find_all("td")] for row in rows.find_all("tr")]


def test_the_latest_requests_are_the_keys_own_filtered_by_status(admin_client, team, key, admin, make_key):
    other, _ = make_key(admin, name="Other")
    for code in (200, 401, 429):
        log_rows(team.id, key.id, NOW, uri=f"{ME}?mine={code}", status=code)
    log_rows(team.id, other.id, NOW, uri=f"{ME}?other", status=401)
    url = f"/settings/api-keys/{key.id}/requests"

    everything = page_of(admin_client, key).find("section", id="api-requests")
    assert text_of(everything.find("h2")) == "Latest requests"
    assert [row[1:] for row in shown(everything)] == [
        [f"GET {ME}?mine=429", "429 Rate limited", CLIENT_IP], [f"GET {ME}?mine=401", "401", CLIENT_IP],
        [f"GET {ME}?mine=200", "200", CLIENT_IP]]
    assert everything.find("select", id="request-key") is None  # the key is the page's
    form = everything.find("form")
    assert (form.get("action"), form.get("hx-get"), form.get("hx-target")) == (url, url, "#api-requests")

    fragment = admin_client.get(url, query_string={"status": "refused"}, headers=HTMX)
    assert "<html" not in fragment.get_data(as_text=True)
    assert [row[2] for row in shown(parse_html(fragment).find("section", id="api-requests"))] == [
        "429 Rate limited", "401"]

    # Without JavaScript the filter answers with the whole key page, the filter applied.
    whole = parse_html(admin_client.get(url, query_string={"status": "401"}))
    assert text_of(whole.find("h1")) == "Warehouse" and whole.find(id="usage") is not None
    assert [row[2] for row in shown(whole.find("section", id="api-requests"))] == ["401"]


def test_the_latest_requests_are_paged_keeping_the_filter(admin_client, team, key):
    log_rows(team.id, key.id, *(NOW + timedelta(seconds=second) for second in range(27)), status=429)
    log_rows(team.id, key.id, NOW, status=200)

    first = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/requests", query_string={"status": "429"},
                                        headers=HTMX))
    older = first.find("nav", class_="pager").find("a", string="Older")
    assert re.fullmatch(rf"/settings/api-keys/{key.id}/requests\?older_than=\d+&status=429", older["href"])
    second = parse_html(admin_client.get(older["href"], headers=HTMX))
    assert [row[2] for row in shown(second)] == ["429 Rate limited"] * 2


def test_another_teams_key_has_no_request_list(admin_client, make_team, make_user, make_key):
    theirs, _ = make_key(make_user(make_team("Globex"), Role.ADMIN), name="Theirs")

    assert admin_client.get(f"/settings/api-keys/{theirs.id}/requests", headers=HTMX).status_code == 404


# ---------------------------------------------------------------- notices


def test_the_notices_say_what_went_to_whom_and_when_or_that_they_wait(admin_client, team, admin, key, make_user,
                                                                      now):
    sysadmin = make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")
    notify_key_admins(key, NoticeKind.EXPIRES_IN_7_DAYS)
    db.session.commit()
    first, _ = KeyNotice.for_key(key)
    first.sent_at = NOW - timedelta(hours=2)
    db.session.commit()

    rows = shown(page_of(admin_client, key).find("section", id="notices"))

    assert rows == [
        ["Expires within 7 days", f"{admin.name} {admin.email}", "Mar 20, 2026, 9:00 AM"],
        ["Expires within 7 days", f"{sysadmin.name} {sysadmin.email}", "Waiting"],
    ]


def test_a_key_without_notices_says_so(admin_client, key):
    assert "No notices about this key yet." in text_of(page_of(admin_client, key).find("section", id="notices"))


# ---------------------------------------------------------------- what the page costs


def test_the_page_costs_the_same_statements_for_one_day_of_use_as_for_thirty(admin_client, team, admin, key,
                                                                            make_user, now):
    def page_statements() -> int:
        db.session.expire_all()
        with statements_sent() as sent:
            page_of(admin_client, key)
        return len(sent)

    log_rows(team.id, key.id, NOW)
    notify_key_admins(key, NoticeKind.REVOKED)
    db.session.commit()
    one = page_statements()

    log_rows(team.id, key.id, *(NOW - timedelta(days=day, minutes=minute) for day in range(30) for minute in range(3)))
    log_rows(team.id, key.id, *(NOW - timedelta(hours=hour) for hour in range(40)), status=429)
    make_user(team, Role.ADMIN, email="ada@acme.test", name="Ada Admin")
    notify_key_admins(key, NoticeKind.EXPIRED)
    db.session.commit()
    assert page_statements() == one

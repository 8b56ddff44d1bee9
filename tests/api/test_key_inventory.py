"""The key list and its usage as data: GET /api/v1/keys (JSON pages, CSV, allowRedirect, filters) and
GET /api/v1/keys/<id>/usage, for keys holding Key administration; and the API Keys tab's Download key list (CSV),
checked against the list the tab shows."""

import csv
import io
from datetime import datetime, time, timedelta, timezone

import pytest
from flask import json

from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.inventory import CSV_COLUMNS
from floqast.keys.models import ApiKey, Service
from helpers import assert_api_error, log_rows, parse_html, text_of, validate

KEYS = "/api/v1/keys"
OPENAPI = "/api/v1/openapi.json"


@pytest.fixture
def reviewer(admin, make_key):
    """A key that may read the key list, and nothing else."""
    return make_key(admin, name="Access review", services=[Service.KEY_ADMINISTRATION])


def iso(moment) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_records(body: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body)))


def test_the_key_list_gives_every_key_of_the_team_as_the_tab_knows_it(api_get, team, admin, keys_in_every_status,
                                                                      reviewer, make_team, make_user, make_key):
    make_key(make_user(make_team(name="Globex")), name="Globex key")
    review_key, plaintext = reviewer

    response = api_get(KEYS, plaintext)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    validate(api_get(OPENAPI).get_json(), "/keys", "200", body)
    keys = db.session.scalars(db.select(ApiKey).where(ApiKey.team_id == team.id).order_by(ApiKey.id)).all()
    assert [record["id"] for record in body["data"]] == [str(key.id) for key in keys]
    assert body["links"] == {"self": KEYS, "next": None}
    today = team.today()
    for record, key in zip(body["data"], keys, strict=True):
        assert record == {
            "id": str(key.id), "name": key.name, "hint": key.hint, "services": key.services, "entityIds": None,
            "description": key.description,
            "createdBy": {"id": str(admin.id), "name": admin.name, "email": admin.email},
            "createdAt": iso(key.created_at), "expiresAt": iso(key.expires_at), "lastUsedAt": iso(key.last_used_at),
            "lastUsedIp": key.last_used_ip, "status": key.status(today).value,
            "deactivatedAt": iso(key.stopped_at) if key.status(today).value == "deactivated" else None,
        }
    assert {record["status"] for record in body["data"]} == {"active", "expired", "deactivated"}
    text = response.get_data(as_text=True)
    assert plaintext not in text and all(key.digest not in text for key in keys)
    assert "Globex key" not in text


def test_a_key_limited_to_entities_lists_them_in_the_json_and_the_csv(api_get, admin, make_key, reviewer):
    limited, _ = make_key(admin, name="Canada audit", entity_ids=[12, 15])

    [record] = [record for record in api_get(KEYS, reviewer[1]).get_json()["data"] if record["id"] == str(limited.id)]
    [row] = [row for row in csv_records(api_get(KEYS, reviewer[1], headers={"Accept": "text/csv"}).get_data(
        as_text=True)) if row["id"] == str(limited.id)]

    assert record["entityIds"] == ["12", "15"]
    assert row["entityIds"] == "12;15"
    assert {r["entityIds"] for r in api_get(KEYS, reviewer[1]).get_json()["data"] if r["id"] != str(limited.id)} == {
        None}


@pytest.mark.parametrize("status", ["active", "expired", "deactivated"])
def test_filter_status(api_get, team, keys_in_every_status, reviewer, status):
    body = api_get(f"{KEYS}?filter[status]={status}", reviewer[1]).get_json()
    keys = db.session.scalars(db.select(ApiKey).where(ApiKey.team_id == team.id)).all()
    expected = {str(key.id) for key in keys if key.status(team.today()).value == status}
    assert expected and {record["id"] for record in body["data"]} == expected


def test_filter_last_used_before_gives_keys_unused_since_then_and_never_used(api_get, team, admin, make_key,
                                                                            reviewer):
    today = team.today()
    start_of_today = datetime.combine(today, time(), timezone.utc)
    stale, _ = make_key(admin, name="Stale", last_used_at=start_of_today - timedelta(days=40))
    never, _ = make_key(admin, name="Never used")
    make_key(admin, name="Busy", last_used_at=start_of_today - timedelta(days=2))
    before = (today - timedelta(days=30)).isoformat()

    body = api_get(f"{KEYS}?filter[lastUsedBefore]={before}", reviewer[1]).get_json()

    # the reviewer's own key has been used by now: not in the list
    assert [record["name"] for record in body["data"]] == ["Stale", "Never used"]


def test_pages_follow_links_next_to_every_key(api_get, admin, make_key, reviewer):
    for number in range(5):
        make_key(admin, name=f"Key {number}")
    url, names = f"{KEYS}?page[size]=2", []
    while url:
        body = api_get(url, reviewer[1]).get_json()
        assert len(body["data"]) <= 2
        names += [record["name"] for record in body["data"]]
        url = body["links"]["next"]
    assert names == ["Access review", *(f"Key {number}" for number in range(5))]


def test_the_csv_holds_the_same_keys_as_the_json(api_get, keys_in_every_status, reviewer):
    json_records = api_get(KEYS, reviewer[1]).get_json()["data"]

    response = api_get(KEYS, reviewer[1], headers={"Accept": "text/csv"})

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = csv_records(response.get_data(as_text=True))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [row["id"] for row in rows] == [record["id"] for record in json_records]
    for row, record in zip(rows, json_records, strict=True):
        assert row["createdBy.email"] == record["createdBy"]["email"]
        assert row["status"] == record["status"]
        assert row["services"] == ";".join(record["services"])
        assert row["expiresAt"] == (record["expiresAt"] or "")


def test_csv_text_cells_cannot_run_as_formulas(api_get, admin, make_key, reviewer):
    make_key(admin, name="=HYPERLINK(\"http://evil\")", description="@SUM(1)")
    rows = csv_records(api_get(KEYS, reviewer[1], headers={"Accept": "text/csv"}).get_data(as_text=True))
    assert rows[-1]["name"] == "'=HYPERLINK(\"http://evil\")"
    assert rows[-1]["description"] == "'@SUM(1)"


def test_allow_redirect_gives_a_download_link_of_the_same_list(client, api_get, keys_in_every_status, reviewer):
    response = api_get(f"{KEYS}?filter[status]=active&allowRedirect=true", reviewer[1],
                       headers={"Accept": "text/csv"})

    assert response.status_code == 303
    download = client.get(response.headers["Location"])
    assert download.status_code == 200
    direct = api_get(f"{KEYS}?filter[status]=active", reviewer[1], headers={"Accept": "text/csv"})
    assert download.get_data() == direct.get_data()


@pytest.mark.parametrize("query, parameter", [
    ("filter[status]=paused", "filter[status]"),
    ("filter[lastUsedBefore]=yesterday", "filter[lastUsedBefore]"),
    ("filter[month]=May", "filter[month]"),
    ("page[size]=0", "page[size]"),
    ("page[cursor]=forged", "page[cursor]"),
])
def test_bad_parameters_are_a_400_naming_them(api_get, reviewer, query, parameter):
    error = assert_api_error(api_get(f"{KEYS}?{query}", reviewer[1]), 400)
    assert error["detail"].startswith(f"{parameter}:")


def test_a_key_without_key_administration_gets_a_403(api_get, admin, make_key):
    _, plaintext = make_key(admin, services=[Service.RECONCILIATIONS, Service.CHECKLISTS])
    for path in (KEYS, f"{KEYS}/1/usage"):
        assert "Key administration" in assert_api_error(api_get(path, plaintext), 403)["detail"]


# ---------------------------------------------------------------- usage


def test_usage_gives_each_days_succeeded_refused_and_other_requests(api_get, team, admin, make_key, reviewer):
    key, _ = make_key(admin, name="Counted")
    now = utcnow()
    yesterday = now - timedelta(days=1)
    log_rows(team.id, key.id, yesterday, yesterday, status=200)
    log_rows(team.id, key.id, yesterday, status=403)
    log_rows(team.id, key.id, now, status=400)
    log_rows(team.id, key.id, now - timedelta(days=60), status=200)  # before the default 30 days

    response = api_get(f"{KEYS}/{key.id}/usage", reviewer[1])

    assert response.status_code == 200
    validate(api_get(OPENAPI).get_json(), "/keys/{key_id}/usage", "200", response.get_json())
    assert response.get_json() == {"data": [
        {"date": team.today(yesterday).isoformat(), "succeeded": 2, "refused": 1, "other": 0},
        {"date": team.today(now).isoformat(), "succeeded": 0, "refused": 0, "other": 1},
    ]}
    older = team.today(now - timedelta(days=60)).isoformat()
    ranged = api_get(f"{KEYS}/{key.id}/usage?filter[startDate]={older}&filter[endDate]={older}", reviewer[1])
    assert ranged.get_json() == {"data": [{"date": older, "succeeded": 1, "refused": 0, "other": 0}]}


def test_usage_of_another_teams_key_is_a_404(api_get, make_team, make_user, make_key, reviewer):
    other, _ = make_key(make_user(make_team(name="Globex")), name="Globex key")
    assert_api_error(api_get(f"{KEYS}/{other.id}/usage", reviewer[1]), 404)


def test_usage_dates_are_checked(api_get, reviewer):
    key_id = reviewer[0].id
    error = assert_api_error(api_get(f"{KEYS}/{key_id}/usage?filter[startDate]=2026-12-05&filter[endDate]=2026-12-01",
                                     reviewer[1]), 400)
    assert error["detail"].startswith("filter[endDate]:")


# ---------------------------------------------------------------- the tab's download


def test_the_tab_downloads_the_key_list_as_the_api_gives_it(admin_client, api_get, keys_in_every_status, reviewer):
    page = parse_html(admin_client.get("/settings/api-keys"))
    link = page.find("a", string="Download key list (CSV)")
    assert link is not None

    response = admin_client.get(link["href"])

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    tab = csv_records(response.get_data(as_text=True))
    api = csv_records(api_get(KEYS, reviewer[1], headers={"Accept": "text/csv"}).get_data(as_text=True))
    for row in (*tab, *api):  # the reviewer's key was used by the pull itself meanwhile
        row.pop("lastUsedAt"), row.pop("lastUsedIp")
    assert tab == api
    all_tab = parse_html(admin_client.get("/settings/api-keys?status=all"))
    assert {text_of(cell) for cell in all_tab.select("th.key-name a")} == {row["name"] for row in tab}
    assert json.dumps(tab).count("fq_") == len(tab)  # each row's hint, never more of a key

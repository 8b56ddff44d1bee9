"""Keyed answers tell the script about its key: X-API-Key-Expires-At on every answer to a working key, and during a
roll's overlap Sunset (RFC 8594) with its Link; the OpenAPI document describes them."""

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from werkzeug.http import parse_date

from floqast.analytics.generate import Profile, generate
from floqast.extensions import db
from floqast.keys import actions as key_actions
from helpers import AUDIT_TRAIL, ME, RECONCILIATIONS, freeze, statements_sent

RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=5, months=2, through=(2025, 3), seed=13,
                people=("Ann", "Ben"))
KEY_HEADERS = ("X-API-Key-Expires-At", "Sunset", "Link")


@pytest.fixture
def books(team):
    generate(team, BOOKS)


@pytest.fixture
def la_key(team, admin, make_key):
    """A key of a Los Angeles team that expires on Jan 5, 2027: it works until 08:00 UTC on Jan 6."""
    team.timezone = "America/Los_Angeles"
    db.session.commit()
    return make_key(admin, name="Looker", expires_on=date(2027, 1, 5))


@pytest.mark.parametrize(("path", "params"), [
    (ME, {}),
    (RECONCILIATIONS, {"filter[month]": "March", "filter[year]": "2025"}),
    (RECONCILIATIONS, {"filter[month]": "Smarch", "filter[year]": "2025"}),  # a 400 is an answer to the key too
    (RECONCILIATIONS, {"filter[month]": "March", "filter[year]": "2025", "allowRedirect": "true"}),
    (AUDIT_TRAIL, {}),
], ids=["me", "records", "bad parameter", "redirect", "audit trail"])
def test_every_answer_to_a_working_key_says_when_it_expires(api_get, books, la_key, path, params):
    _, plaintext = la_key

    response = api_get(path, plaintext, query_string=params)

    assert response.status_code in (200, 303, 400)
    assert response.headers["X-API-Key-Expires-At"] == "2027-01-06T08:00:00Z"
    assert RFC_3339.fullmatch(response.headers["X-API-Key-Expires-At"])
    assert "Sunset" not in response.headers and "Link" not in response.headers


def test_csv_and_download_answers_say_it_too(api_get, client, books, la_key):
    _, plaintext = la_key
    march = {"filter[month]": "March", "filter[year]": "2025"}

    csv = api_get(RECONCILIATIONS, plaintext, headers={"Accept": "text/csv"}, query_string=march)
    link = api_get(RECONCILIATIONS, plaintext, query_string={**march, "allowRedirect": "true"}).headers["Location"]
    download = client.get(link)

    assert csv.status_code == download.status_code == 200
    assert csv.headers["X-API-Key-Expires-At"] == download.headers["X-API-Key-Expires-At"] == "2027-01-06T08:00:00Z"


def test_a_key_without_expiration_gets_no_header(api_get, admin, make_key):
    _, plaintext = make_key(admin, name="Forever")

    response = api_get(ME, plaintext)

    assert response.status_code == 200
    assert not any(name in response.headers for name in KEY_HEADERS)


def test_refusals_say_nothing_about_the_key(api_get, admin, make_key, team):
    _, expired = make_key(admin, name="Lapsed", expires_on=team.today() - timedelta(days=1))
    _, elsewhere = make_key(admin, name="Office only", expires_on=team.today() + timedelta(days=9),
                            allowed_ips="198.51.100.0/24")

    for plaintext, status in ((expired, 401), (elsewhere, 403)):
        response = api_get(ME, plaintext)
        assert response.status_code == status
        assert not any(name in response.headers for name in KEY_HEADERS)


@pytest.mark.parametrize("base_url", [None, "https://keys.example.com"])
def test_during_a_rolls_overlap_the_old_key_is_told_when_it_stops(app, api_get, admin, la_key, monkeypatch, base_url):
    key, old_plaintext = la_key
    app.config["APP_BASE_URL"] = base_url
    rolled_at = datetime(2026, 12, 2, 10, 30, 15, tzinfo=timezone.utc)
    freeze(monkeypatch, rolled_at)
    _, new_plaintext = key_actions.roll_key(key, admin, timedelta(days=7), date(2027, 3, 1))
    db.session.commit()

    old_answer = api_get(ME, old_plaintext)

    assert old_answer.status_code == 200
    assert old_answer.headers["Sunset"] == "Wed, 09 Dec 2026 10:30:15 GMT"
    assert parse_date(old_answer.headers["Sunset"]) == rolled_at + timedelta(days=7)
    assert old_answer.headers["Link"] == f'<{base_url or ""}/settings/api-docs>; rel="sunset"'
    assert old_answer.headers["X-API-Key-Expires-At"] == "2027-01-06T08:00:00Z"
    # The new key has no sunset, and its own expiry.
    new_answer = api_get(ME, new_plaintext)
    assert "Sunset" not in new_answer.headers and "Link" not in new_answer.headers
    assert new_answer.headers["X-API-Key-Expires-At"] == "2027-03-02T08:00:00Z"
    # Once the overlap is over, the old key is refused, and says nothing more about itself.
    freeze(monkeypatch, rolled_at + timedelta(days=7))
    late = api_get(ME, old_plaintext)
    assert late.status_code == 401 and "Sunset" not in late.headers


def test_the_headers_cost_a_pull_no_statement(api_get, la_key, key_read_every_pull):
    _, plaintext = la_key
    api_get(ME, plaintext)  # Last used written once
    with statements_sent() as sent:
        response = api_get(ME, plaintext)
    assert response.headers["X-API-Key-Expires-At"]
    assert len(sent) == 1  # the key's one SELECT


def test_the_openapi_document_describes_the_headers_on_keyed_answers(client):
    document = client.get("/api/v1/openapi.json").get_json()

    headers = document["components"]["headers"]
    assert set(headers) == set(KEY_HEADERS)
    assert headers["X-API-Key-Expires-At"]["schema"]["format"] == "date-time"
    assert "RFC 8594" in headers["Sunset"]["description"]
    assert 'rel="sunset"' in headers["Link"]["description"]
    for path in ("/me", "/analytics/reconciliations", "/analytics/checklists", "/audit-trail"):
        answer = document["paths"][path]["get"]["responses"]["200"]
        assert {name: ref["$ref"] for name, ref in answer["headers"].items()} == {
            name: f"#/components/headers/{name}" for name in KEY_HEADERS}
    assert "headers" not in document["paths"]["/credentials/revoke"]["post"]["responses"]["202"]

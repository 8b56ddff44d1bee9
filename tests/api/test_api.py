"""The key-authenticated /api/v1: who gets in, and what they are told when not."""

from datetime import datetime, time, timedelta, timezone

import pytest

from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import tokens
from floqast.keys.models import Service
from helpers import (
    CHECKLISTS,
    ME,
    RECONCILIATIONS,
    assert_api_error,
    freeze,
    issue_key,
    mistyped,
    only_the_audit_insert,
    statements_sent,
)

# ---------------------------------------------------------------- the happy path


def test_valid_key_gets_me(api_get, team, admin, make_key):
    key, plaintext = make_key(admin, name="Power BI", services=[Service.CHECKLISTS], expires_on=None)
    response = api_get(ME, plaintext)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "data": {
            "apiKeyId": str(key.id),
            "userId": str(admin.id),
            "name": "Power BI",
            "teamId": str(team.id),
            "services": ["checklists"],
            "expiresAt": None,
            "entityIds": None,
            "rateLimitPerMinute": None,
        }
    }
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "zone, expires_on, expires_at",
    [
        ("UTC", "2030-01-15", "2030-01-16T00:00:00Z"),
        ("America/Los_Angeles", "2030-01-15", "2030-01-16T08:00:00Z"),  # PST, UTC-8
        ("America/Los_Angeles", "2030-07-01", "2030-07-02T07:00:00Z"),  # PDT, UTC-7
        ("Pacific/Auckland", "2030-01-15", "2030-01-15T11:00:00Z"),  # NZDT, UTC+13
        ("Pacific/Auckland", "2030-07-01", "2030-07-01T12:00:00Z"),  # NZST, UTC+12
    ],
)
def test_expires_at_is_the_end_of_the_expiration_date_in_the_teams_zone(
    api_get, make_team, make_user, make_key, zone, expires_on, expires_at
):
    team = make_team(name=f"Team in {zone}", timezone=zone)
    _, plaintext = make_key(make_user(team), expires_on=datetime.fromisoformat(expires_on).date())
    response = api_get(ME, plaintext)
    assert response.status_code == 200
    assert response.get_json()["data"]["expiresAt"] == expires_at


def test_key_with_surrounding_whitespace_in_the_header_still_works(client, admin, make_key):
    _, plaintext = make_key(admin)
    assert client.get(ME, headers={"x-api-key": f"  {plaintext} "}).status_code == 200
    assert client.get(ME, headers={"Authorization": f"bearer {plaintext}"}).status_code == 200


@pytest.mark.parametrize(("path", "service"),
                         [(RECONCILIATIONS, Service.RECONCILIATIONS), (CHECKLISTS, Service.CHECKLISTS)])
def test_key_with_the_service_may_pull_it(api_get, admin, make_key, path, service):
    _, plaintext = make_key(admin, services=[service])
    response = api_get(path, plaintext)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "Set-Cookie" not in response.headers


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"x-api-key": "   "},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["none", "empty-x-api-key", "blank-x-api-key", "bearer-only", "bearer-blank", "basic-scheme"],
)
def test_missing_key_is_401(client, headers, team):
    response = client.get(ME, headers=headers)
    error = assert_api_error(response, 401)
    assert "No API key was sent" in error["detail"]
    assert "x-api-key" in error["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "presented",
    ["not-a-key", "fq_", "fq_short", "Bearer fq_abc", "fq_" + "!" * 38, "sk_" + "a" * 38, "fq_" + "a" * 39],
)
def test_malformed_key_is_401(api_get, team, presented):
    error = assert_api_error(api_get(ME, presented), 401)
    assert "malformed" in error["detail"]


def test_key_with_a_bad_checksum_is_refused_before_any_query(api_get, admin, make_key):
    _, plaintext = make_key(admin)
    last = plaintext[-1]
    tampered = plaintext[:-1] + ("0" if last != "0" else "1")
    with statements_sent() as statements:
        response = api_get(ME, tampered)
    error = assert_api_error(response, 401)
    assert "malformed" in error["detail"]
    assert only_the_audit_insert(statements)


def test_mistyped_key_is_refused_before_any_query(api_get, admin, make_key):
    _, plaintext = make_key(admin)
    with statements_sent() as statements:
        assert_api_error(api_get(ME, mistyped(plaintext)), 401)
    assert only_the_audit_insert(statements)


def test_well_formed_but_never_issued_key_is_401(api_get, admin, make_key):
    make_key(admin)
    never_issued = tokens.generate()
    assert tokens.is_well_formed(never_issued)
    error = assert_api_error(api_get(ME, never_issued), 401, "The API key is not valid.")
    assert never_issued not in str(error)


def test_key_issued_under_another_pepper_is_401(api_get, app, admin):
    _, plaintext = issue_key(admin, pepper=b"some other pepper")
    db.session.commit()
    assert_api_error(api_get(ME, plaintext), 401, "The API key is not valid.")


def test_expired_key_is_401_with_its_date(api_get, team, admin, make_key):
    expired_on = team.today() - timedelta(days=1)
    _, plaintext = make_key(admin, expires_on=expired_on)
    assert_api_error(api_get(ME, plaintext), 401, f"This API key expired on {expired_on.isoformat()}.")


def test_key_expiring_today_still_works(api_get, team, admin, make_key):
    _, plaintext = make_key(admin, expires_on=team.today())
    assert api_get(ME, plaintext).status_code == 200


@pytest.mark.parametrize(("zone", "expires_on"),
                         [("Pacific/Auckland", "2030-01-15"), ("America/Los_Angeles", "2030-07-01")])
def test_key_works_until_the_end_of_its_last_local_day(api_get, monkeypatch, make_team, make_user, make_key, zone,
                                                        expires_on):
    team = make_team(name="Far away", timezone=zone)
    last_day = datetime.fromisoformat(expires_on).date()
    _, plaintext = make_key(make_user(team), expires_on=last_day)
    end = team.end_of_day(last_day)
    # The local day does not end at UTC midnight, so a check on the UTC date gets one side wrong:
    # in Los Angeles the last local second is already the next UTC date, in Auckland the first
    # refused second is still the last day in UTC.
    assert end.astimezone(timezone.utc).time() != time(0)

    freeze(monkeypatch, end - timedelta(seconds=1))
    assert team.today() == last_day
    assert api_get(ME, plaintext).status_code == 200

    freeze(monkeypatch, end)
    assert team.today() == last_day + timedelta(days=1)
    assert_api_error(api_get(ME, plaintext), 401, f"This API key expired on {expires_on}.")


def test_deactivated_key_is_401(api_get, team, admin, make_key):
    _, plaintext = make_key(admin, deleted_at=utcnow(), deleted_by=admin)
    deactivated_on = team.today().isoformat()
    error = assert_api_error(api_get(ME, plaintext), 401, f"This API key was deactivated on {deactivated_on}.")
    assert plaintext not in error["detail"]


def test_deactivated_key_that_also_expired_is_401(api_get, team, admin, make_key):
    _, plaintext = make_key(admin, expires_on=team.today() - timedelta(days=3), deleted_at=utcnow(),
                            deleted_by=admin)
    error = assert_api_error(api_get(ME, plaintext), 401)
    assert "deactivated" in error["detail"]


def test_team_without_open_api_is_403(api_get, make_team, make_user, make_key):
    team = make_team(name="Closed Co", open_api=False)
    _, plaintext = make_key(make_user(team))
    for path in (ME, RECONCILIATIONS, CHECKLISTS):
        assert_api_error(api_get(path, plaintext), 403, "Open API is not enabled for this team.")


def test_switching_open_api_off_stops_existing_keys(api_get, team, admin, make_key):
    _, plaintext = make_key(admin)
    assert api_get(ME, plaintext).status_code == 200
    team.open_api_enabled = False
    db.session.commit()
    assert_api_error(api_get(ME, plaintext), 403, "Open API is not enabled for this team.")


@pytest.mark.parametrize(
    ("path", "held", "label"),
    [
        (CHECKLISTS, Service.RECONCILIATIONS, "Checklist Analytics"),
        (RECONCILIATIONS, Service.CHECKLISTS, "Reconciliation Analytics"),
    ],
)
def test_key_without_the_service_is_403(api_get, admin, make_key, path, held, label):
    _, plaintext = make_key(admin, services=[held])
    assert_api_error(api_get(path, plaintext), 403, f"This API key does not have access to {label}.")
    # The key still works for what it holds, and for /me.
    assert api_get(ME, plaintext).status_code == 200


@pytest.mark.parametrize("path", [RECONCILIATIONS, CHECKLISTS])
@pytest.mark.parametrize(
    "query", ["filter[month]=1&filter[year]=2026", "filter[month]=January&filter[year]=2026&page[size]=10",
              "filter[modifiedSince]=2026-01-01"],
)
def test_ordinary_filters_are_not_mistaken_for_a_key(api_get, admin, make_key, path, query):
    _, plaintext = make_key(admin)
    assert api_get(f"{path}?{query}", plaintext).status_code == 200


@pytest.mark.parametrize("path", [RECONCILIATIONS, CHECKLISTS])
def test_analytics_refuse_every_bad_key_the_same_way_as_me(api_get, team, admin, make_key, path):
    assert_api_error(api_get(path), 401)
    assert_api_error(api_get(path, "fq_nope"), 401)
    assert_api_error(api_get(path, tokens.generate()), 401)
    assert_api_error(api_get(path, make_key(admin, expires_on=team.today() - timedelta(days=1))[1]), 401)


# ---------------------------------------------------------------- the two header styles


@pytest.mark.parametrize("style", ["x-api-key", "bearer"])
def test_both_header_styles_authenticate_and_are_refused_alike(client, team, admin, make_key, style):
    """One function reads either header; every other test sends x-api-key."""
    def pull(key):
        headers = {"x-api-key": key} if style == "x-api-key" else {"Authorization": f"Bearer {key}"}
        return client.get(ME, headers=headers)

    key, plaintext = make_key(admin)
    assert pull(plaintext).get_json()["data"]["apiKeyId"] == str(key.id)
    assert "malformed" in assert_api_error(pull("fq_short"), 401)["detail"]
    assert_api_error(pull(tokens.generate()), 401, "The API key is not valid.")
    _, expired = make_key(admin, name="Old", expires_on=team.today() - timedelta(days=1))
    assert "expired on" in assert_api_error(pull(expired), 401)["detail"]

"""The key-authenticated /api/v1: who gets in, what they are told when not, and Last used."""

import logging
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

import floqast.models
from conftest import log_in, statements_sent
from floqast import keys
from floqast.extensions import db
from floqast.models import ApiKey, Service, utcnow

ME = "/api/v1/me"
RECONCILIATIONS = "/api/v1/analytics/reconciliations"
CHECKLISTS = "/api/v1/analytics/checklists"
CLIENT_IP = "203.0.113.7"


# ---------------------------------------------------------------- helpers


def auth_headers(style: str, key: str) -> dict:
    """The headers a curl user would send, in FloQast's style or the Bearer style."""
    if style == "x-api-key":
        return {"x-api-key": key}
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(params=["x-api-key", "bearer"])
def style(request):
    return request.param


@pytest.fixture
def get(client, style):
    """GET with the key in the header style under test, from CLIENT_IP."""

    def call(path, key=None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers.update(auth_headers(style, key))
        return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": CLIENT_IP}, **kwargs)

    return call


def only_the_audit_insert(statements) -> bool:
    """No lookup at all: the one statement is the refusal's INSERT into the audit trail."""
    return len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")


def assert_error(response, status: int, detail: str | None = None) -> dict:
    """The response is a JSON error in the documented shape; returns the one error."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert "Set-Cookie" not in response.headers
    body = response.get_json()
    assert list(body) == ["errors"]
    [error] = body["errors"]
    assert set(error) == {"status", "title", "detail"}
    assert error["status"] == str(status)
    assert error["title"] and error["detail"]
    if detail is not None:
        assert error["detail"] == detail
    return error


def reload(key: ApiKey) -> ApiKey:
    db.session.expire_all()
    return db.session.get(ApiKey, key.id)


def freeze(monkeypatch, moment: datetime) -> None:
    """Make the app's clock (floqast.models.utcnow) read `moment`."""
    monkeypatch.setattr(floqast.models, "utcnow", lambda: moment)


# ---------------------------------------------------------------- the happy path


def test_valid_key_gets_me(get, team, admin, make_key):
    key, plaintext = make_key(admin, name="Power BI", services=[Service.CHECKLISTS], expires_on=None)
    response = get(ME, plaintext)
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
    get, make_team, make_user, make_key, zone, expires_on, expires_at
):
    team = make_team(name=f"Team in {zone}", timezone=zone)
    _, plaintext = make_key(make_user(team), expires_on=datetime.fromisoformat(expires_on).date())
    response = get(ME, plaintext)
    assert response.status_code == 200
    assert response.get_json()["data"]["expiresAt"] == expires_at


def test_key_with_surrounding_whitespace_in_the_header_still_works(client, admin, make_key):
    _, plaintext = make_key(admin)
    assert client.get(ME, headers={"x-api-key": f"  {plaintext} "}).status_code == 200
    assert client.get(ME, headers={"Authorization": f"bearer {plaintext}"}).status_code == 200


@pytest.mark.parametrize(("path", "service"), [(RECONCILIATIONS, Service.RECONCILIATIONS), (CHECKLISTS, Service.CHECKLISTS)])
def test_key_with_the_service_may_pull_it(get, admin, make_key, path, service):
    _, plaintext = make_key(admin, services=[service])
    response = get(path, plaintext)
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
    error = assert_error(response, 401)
    assert "No API key was sent" in error["detail"]
    assert "x-api-key" in error["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "presented",
    ["not-a-key", "fq_", "fq_short", "Bearer fq_abc", "fq_" + "!" * 38, "sk_" + "a" * 38, "fq_" + "a" * 39],
)
def test_malformed_key_is_401(get, team, presented):
    error = assert_error(get(ME, presented), 401)
    assert "malformed" in error["detail"]


def test_key_with_a_bad_checksum_is_refused_before_any_query(get, admin, make_key):
    _, plaintext = make_key(admin)
    last = plaintext[-1]
    tampered = plaintext[:-1] + ("0" if last != "0" else "1")
    with statements_sent() as statements:
        response = get(ME, tampered)
    error = assert_error(response, 401)
    assert "malformed" in error["detail"]
    assert only_the_audit_insert(statements)


def test_mistyped_key_is_refused_before_any_query(get, admin, make_key):
    _, plaintext = make_key(admin)
    typo = plaintext[:10] + ("A" if plaintext[10] != "A" else "B") + plaintext[11:]
    with statements_sent() as statements:
        assert_error(get(ME, typo), 401)
    assert only_the_audit_insert(statements)


def test_well_formed_but_never_issued_key_is_401(get, admin, make_key):
    make_key(admin)
    never_issued = keys.generate()
    assert keys.is_well_formed(never_issued)
    error = assert_error(get(ME, never_issued), 401, "The API key is not valid.")
    assert never_issued not in str(error)


def test_key_issued_under_another_pepper_is_401(get, app, admin):
    key, plaintext = ApiKey.issue(creator=admin, name="Other server", services=list(Service), expires_on=None,
                                  pepper=b"some other pepper")
    db.session.add(key)
    db.session.commit()
    assert_error(get(ME, plaintext), 401, "The API key is not valid.")


def test_expired_key_is_401_with_its_date(get, team, admin, make_key):
    expired_on = team.today() - timedelta(days=1)
    _, plaintext = make_key(admin, expires_on=expired_on)
    assert_error(get(ME, plaintext), 401, f"This API key expired on {expired_on.isoformat()}.")


def test_key_expiring_today_still_works(get, team, admin, make_key):
    _, plaintext = make_key(admin, expires_on=team.today())
    assert get(ME, plaintext).status_code == 200


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "America/Los_Angeles"])
@pytest.mark.parametrize("expires_on", ["2030-01-15", "2030-07-01"], ids=["january", "july"])
def test_key_works_until_the_end_of_its_last_local_day(get, monkeypatch, make_team, make_user, make_key, zone,
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
    assert get(ME, plaintext).status_code == 200

    freeze(monkeypatch, end)
    assert team.today() == last_day + timedelta(days=1)
    assert_error(get(ME, plaintext), 401, f"This API key expired on {expires_on}.")


def test_deactivated_key_is_401(get, team, admin, make_key):
    _, plaintext = make_key(admin, deleted_at=utcnow(), deleted_by=admin)
    error = assert_error(get(ME, plaintext), 401, f"This API key was deactivated on {team.today().isoformat()}.")
    assert plaintext not in error["detail"]


def test_deactivated_key_that_also_expired_is_401(get, team, admin, make_key):
    _, plaintext = make_key(admin, expires_on=team.today() - timedelta(days=3), deleted_at=utcnow(),
                            deleted_by=admin)
    error = assert_error(get(ME, plaintext), 401)
    assert "deactivated" in error["detail"]


def test_team_without_open_api_is_403(get, make_team, make_user, make_key):
    team = make_team(name="Closed Co", open_api=False)
    _, plaintext = make_key(make_user(team))
    for path in (ME, RECONCILIATIONS, CHECKLISTS):
        assert_error(get(path, plaintext), 403, "Open API is not enabled for this team.")


def test_switching_open_api_off_stops_existing_keys(get, team, admin, make_key):
    _, plaintext = make_key(admin)
    assert get(ME, plaintext).status_code == 200
    team.open_api_enabled = False
    db.session.commit()
    assert_error(get(ME, plaintext), 403, "Open API is not enabled for this team.")


@pytest.mark.parametrize(
    ("path", "held", "label"),
    [
        (CHECKLISTS, Service.RECONCILIATIONS, "Checklist Analytics"),
        (RECONCILIATIONS, Service.CHECKLISTS, "Reconciliation Analytics"),
    ],
)
def test_key_without_the_service_is_403(get, admin, make_key, path, held, label):
    _, plaintext = make_key(admin, services=[held])
    assert_error(get(path, plaintext), 403, f"This API key does not have access to {label}.")
    # The key still works for what it holds, and for /me.
    assert get(ME, plaintext).status_code == 200


@pytest.mark.parametrize(
    "query",
    ["api_key={key}", "key={key}", "token={key}", "access_token={key}", "x-api-key={key}", "API_KEY={key}",
     "q={key}", "filter[month]=1&whatever={key}", "api_key=not-even-a-key", "{key}", "filter[entityIds]={key}",
     "filter[entityIds]=%20{key}"],
)
@pytest.mark.parametrize("path", [ME, RECONCILIATIONS, CHECKLISTS])
def test_key_in_the_query_string_is_400(get, admin, make_key, query, path):
    _, plaintext = make_key(admin)
    # Refused even when a valid key is also in the header: the URL has leaked it into logs already.
    response = get(f"{path}?{query.format(key=plaintext)}", plaintext)
    error = assert_error(response, 400)
    assert "header" in error["detail"]
    assert "x-api-key" in error["detail"]
    assert plaintext not in response.get_data(as_text=True)
    assert plaintext not in str(response.headers)


def test_key_in_the_query_string_without_a_header_is_400_not_401(client, admin, make_key):
    _, plaintext = make_key(admin)
    assert_error(client.get(f"{ME}?api_key={plaintext}"), 400)


def test_a_refused_query_string_key_does_not_count_as_use(client, admin, make_key):
    key, plaintext = make_key(admin)
    client.get(f"{ME}?api_key={plaintext}", headers={"x-api-key": plaintext})
    assert reload(key).last_used_at is None


# ---------------------------------------------------------------- every error is JSON


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "valid-key"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/", "/api/v1/analytics", "/api/v1/me/extra", "/api/v2/me"])
def test_unknown_api_path_is_json_404(client, admin, make_key, path, with_key):
    _, plaintext = make_key(admin)
    headers = {"x-api-key": plaintext, "Accept": "text/html"} if with_key else {"Accept": "text/html"}
    response = client.get(path, headers=headers)
    assert_error(response, 404)
    assert "<html" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", [ME, RECONCILIATIONS, CHECKLISTS])
def test_wrong_method_is_json_405(client, admin, make_key, method, path):
    _, plaintext = make_key(admin)
    response = client.open(path, method=method, headers={"x-api-key": plaintext, "Accept": "text/html"})
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_browser_outside_the_api_still_gets_html_errors(client):
    """The JSON errors are for /api only: a browser's 404 stays a page."""
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.fixture
def key_zoo(make_team, make_user, make_key, team, admin):
    """Plaintexts of keys in every state, and a few keys that were never valid."""
    closed = make_team(name="Closed Co", open_api=False)
    good_key, good = make_key(admin, name="Good", services=[Service.RECONCILIATIONS])
    return {
        "good": good,
        "expired": make_key(admin, name="Expired", expires_on=team.today() - timedelta(days=1))[1],
        "deactivated": make_key(admin, name="Gone", deleted_at=utcnow(), deleted_by=admin)[1],
        "closed": make_key(make_user(closed), name="Closed")[1],
        "bad-checksum": good[:-1] + ("0" if good[-1] != "0" else "1"),
        "unknown": keys.generate(),
    }


def zoo_requests(client, zoo):
    """A mix of good and bad requests, each with a key; the responses."""
    responses = []
    for plaintext in zoo.values():
        for headers in ({"x-api-key": plaintext}, {"Authorization": f"Bearer {plaintext}"}):
            for path in (ME, RECONCILIATIONS, CHECKLISTS, "/api/v1/nope"):
                responses.append(client.get(path, headers=headers))
            responses.append(client.post(ME, headers=headers))
        responses.append(client.get(f"{ME}?api_key={plaintext}"))
        responses.append(client.get(f"{CHECKLISTS}?filter[month]={plaintext}"))
    return responses


def test_no_api_response_sets_a_cookie_or_is_html(client, key_zoo):
    responses = zoo_requests(client, key_zoo)
    assert {response.status_code for response in responses} == {200, 400, 401, 403, 404, 405}
    for response in responses:
        assert "Set-Cookie" not in response.headers
        assert response.mimetype == "application/json"
    assert client.get_cookie("session") is None


def test_the_api_neither_reads_nor_touches_a_browser_session(client, admin, make_key):
    _, plaintext = make_key(admin)
    log_in(client, admin)

    without_key = client.get(ME)
    with_key = client.get(ME, headers={"x-api-key": plaintext})

    assert without_key.status_code == 401, "a signed-in browser's cookie is not an API credential"
    assert with_key.status_code == 200
    for response in (without_key, with_key):
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    assert client.get("/settings/api-keys").status_code == 200, "the browser is still signed in"


def test_the_plaintext_key_is_never_in_an_error_response(client, key_zoo):
    for response in zoo_requests(client, key_zoo):
        if response.status_code >= 400:
            text = response.get_data(as_text=True) + str(response.headers)
            for plaintext in key_zoo.values():
                assert plaintext not in text
                assert plaintext[3:35] not in text


def test_a_database_error_in_the_key_check_arrives_as_sqlalchemys_and_leaves_the_pool_working(app, get, admin,
                                                                                             make_key):
    # The key check runs on the driver's own cursor; its errors must still be SQLAlchemy's, which the error
    # handlers know (a lost database is answered 503, not 500).
    _, plaintext = make_key(admin)
    db.session.execute(text("ALTER TABLE api_keys RENAME TO api_keys_away"))
    db.session.commit()
    try:
        with pytest.raises(DBAPIError) as raised:
            ApiKey.check(plaintext, app.config["API_KEY_PEPPER"].encode())
        assert isinstance(raised.value.orig, db.engine.dialect.loaded_dbapi.Error)
        assert "api_keys" in str(raised.value)
    finally:
        db.session.rollback()
        db.session.execute(text("ALTER TABLE api_keys_away RENAME TO api_keys"))
        db.session.commit()
    assert get(ME, plaintext).status_code == 200


def test_the_plaintext_key_is_never_logged(client, key_zoo, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    db.engine.echo = False  # logging by level, not by echo's own handler
    with statements_sent() as statements:
        zoo_requests(client, key_zoo)
    assert statements, "the requests reached the database"
    assert any(record.name.startswith("sqlalchemy.engine") for record in caplog.records), "SQL was logged"
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for plaintext in key_zoo.values():
        assert plaintext not in logged
        assert plaintext[3:35] not in logged


# ---------------------------------------------------------------- Last used


def test_an_accepted_pull_records_when_and_from_where(get, admin, make_key):
    key, plaintext = make_key(admin)
    before = utcnow()
    assert get(ME, plaintext).status_code == 200
    key = reload(key)
    assert before <= key.last_used_at <= utcnow()
    assert key.last_used_at.tzinfo is not None
    assert key.last_used_ip == CLIENT_IP


def test_a_second_pull_within_the_interval_writes_nothing(app, get, admin, make_key):
    key, plaintext = make_key(admin)
    assert get(ME, plaintext).status_code == 200
    first = reload(key).last_used_at
    db.session.expire_all()

    with statements_sent() as statements:
        assert get(ME, plaintext).status_code == 200
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert reload(key).last_used_at == first


def test_a_pull_after_the_interval_updates_last_used(app, client, admin, make_key):
    key, plaintext = make_key(admin)
    interval = app.config["LAST_USED_INTERVAL_SECONDS"]
    stale = utcnow() - timedelta(seconds=interval + 5)
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=stale, last_used_ip="198.51.100.1"))
    db.session.commit()

    with statements_sent() as statements:
        response = client.get(ME, headers={"x-api-key": plaintext}, environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert response.status_code == 200
    assert sum(statement.lstrip().upper().startswith("UPDATE") for statement in statements) == 1
    key = reload(key)
    assert key.last_used_at > stale + timedelta(seconds=interval)
    assert key.last_used_ip == "192.0.2.44"


def test_a_pull_just_inside_the_interval_does_not_update(app, get, admin, make_key):
    key, plaintext = make_key(admin)
    recent = utcnow() - timedelta(seconds=app.config["LAST_USED_INTERVAL_SECONDS"] - 10)
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=recent, last_used_ip="198.51.100.1"))
    db.session.commit()
    assert get(ME, plaintext).status_code == 200
    key = reload(key)
    assert key.last_used_at == recent
    assert key.last_used_ip == "198.51.100.1"


@pytest.mark.parametrize("state", ["expired", "deactivated", "open-api-off", "missing-service"])
def test_a_refused_pull_does_not_update_last_used(get, make_team, make_user, make_key, team, admin, state):
    owner = make_user(make_team(name="Closed Co", open_api=False)) if state == "open-api-off" else admin
    fields = {
        "expired": {"expires_on": team.today() - timedelta(days=1)},
        "deactivated": {"deleted_at": utcnow(), "deleted_by": admin},
        "open-api-off": {},
        "missing-service": {"services": [Service.RECONCILIATIONS]},
    }[state]
    key, plaintext = make_key(owner, **fields)
    response = get(CHECKLISTS, plaintext)
    assert response.status_code in (401, 403)
    key = reload(key)
    assert key.last_used_at is None
    assert key.last_used_ip is None


@pytest.mark.parametrize("path", [RECONCILIATIONS, CHECKLISTS])
@pytest.mark.parametrize(
    "query", ["filter[month]=1&filter[year]=2026", "filter[month]=January&filter[year]=2026&page[size]=10",
              "filter[modifiedSince]=2026-01-01"],
)
def test_ordinary_filters_are_not_mistaken_for_a_key(get, admin, make_key, path, query):
    _, plaintext = make_key(admin)
    assert get(f"{path}?{query}", plaintext).status_code == 200


@pytest.mark.parametrize("path", [RECONCILIATIONS, CHECKLISTS])
def test_analytics_refuse_every_bad_key_the_same_way_as_me(get, team, admin, make_key, path):
    assert_error(get(path), 401)
    assert_error(get(path, "fq_nope"), 401)
    assert_error(get(path, keys.generate()), 401)
    assert_error(get(path, make_key(admin, expires_on=team.today() - timedelta(days=1))[1]), 401)


# ---------------------------------------------------------------- caches


def assert_never_stored(response, name: str = "") -> None:
    assert response.headers.get("Cache-Control") == "no-store", name
    assert {"x-api-key", "authorization", "accept"} <= {value.lower() for value in response.vary}, name


def test_no_api_answer_may_be_stored_by_a_cache(app, client, key_zoo):
    responses = zoo_requests(client, key_zoo)
    assert {response.status_code for response in responses} == {200, 400, 401, 403, 404, 405}
    good = {"x-api-key": key_zoo["good"]}
    responses += [
        client.get(RECONCILIATIONS, headers={**good, "Accept": "text/csv"}),
        client.get("/api/v1/openapi.json"),
        client.get("/api/v2/me", headers=good),
    ]
    assert responses[-3].mimetype == "text/csv"
    app.config["API_RATE_LIMIT"] = "1 per minute"
    client.get(ME, headers=good)
    responses.append(client.get(ME, headers=good))
    assert responses[-1].status_code == 429
    for response in responses:
        assert_never_stored(response, f"{response.status_code} {response.mimetype}")


def test_pages_outside_the_api_do_not_vary_on_api_keys(client):
    assert "x-api-key" not in client.get("/login").vary


# ---------------------------------------------------------------- a key seen in a URL


def test_a_working_key_in_the_url_is_refused_marked_as_exposed_and_kept_working(get, team, admin, make_key):
    key, plaintext = make_key(admin)
    before = utcnow()
    response = get(f"{ME}?api_key={plaintext}")
    error = assert_error(response, 400)
    assert "not accepted in the URL" in error["detail"] and "replace it with a new key" in error["detail"]
    assert plaintext not in response.get_data(as_text=True)
    exposed_at = reload(key).exposed_in_url_at
    assert before <= exposed_at <= utcnow() and exposed_at.tzinfo is not None
    assert reload(key).deleted_at is None
    assert get(ME, plaintext).status_code == 200, "not revoked: a mistyped curl must not stop a nightly load"


def test_the_first_exposure_is_the_one_kept(get, admin, make_key):
    key, plaintext = make_key(admin)
    assert_error(get(f"{RECONCILIATIONS}?filter[entityIds]={plaintext}"), 400)
    first = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(exposed_in_url_at=first))
    db.session.commit()
    error = assert_error(get(f"{ME}?{plaintext}"), 400)
    assert "replace it" in error["detail"]
    assert reload(key).exposed_in_url_at == first


@pytest.mark.parametrize("query", ["api_key=not-even-a-key", "token={unknown}", "key={typo}"])
def test_a_url_without_a_key_of_ours_is_refused_without_saying_to_replace_anything(get, admin, make_key, query):
    key, plaintext = make_key(admin)
    typo = plaintext[:-1] + ("0" if plaintext[-1] != "0" else "1")
    error = assert_error(get(f"{ME}?{query.format(unknown=keys.generate(), typo=typo)}"), 400)
    assert "replace" not in error["detail"]
    assert reload(key).exposed_in_url_at is None


def test_a_url_with_no_well_formed_key_is_refused_without_a_lookup(get, admin, make_key):
    _, plaintext = make_key(admin)
    with statements_sent() as statements:
        assert_error(get(f"{ME}?api_key=not-even-a-key", plaintext), 400)
    assert only_the_audit_insert(statements)


def test_accepted_pulls_never_look_for_exposed_keys(get, admin, make_key):
    key, plaintext = make_key(admin)
    assert get(ME, plaintext).status_code == 200
    with statements_sent() as statements:
        assert get(f"{RECONCILIATIONS}?filter[month]=1&filter[year]=2026", plaintext).status_code == 200
    assert not any("exposed_in_url_at" in statement for statement in statements)
    assert reload(key).exposed_in_url_at is None

"""What every /api/v1 answer is: JSON errors, no cookie or session, never the plaintext key (in answers or logs),
never stored by a cache; and a database error in the key check."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import lookup, tokens
from floqast.keys.models import Service
from helpers import CHECKLISTS, ME, RECONCILIATIONS, assert_api_error, log_in, statements_sent

# ---------------------------------------------------------------- every error is JSON


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "valid-key"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/", "/api/v1/analytics", "/api/v1/me/extra", "/api/v2/me"])
def test_unknown_api_path_is_json_404(client, admin, make_key, path, with_key):
    _, plaintext = make_key(admin)
    headers = {"x-api-key": plaintext, "Accept": "text/html"} if with_key else {"Accept": "text/html"}
    response = client.get(path, headers=headers)
    assert_api_error(response, 404)
    assert "<html" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(("method", "path"), [("POST", ME), ("PUT", RECONCILIATIONS), ("PATCH", CHECKLISTS),
                                              ("DELETE", ME)])
def test_wrong_method_is_json_405(client, admin, make_key, method, path):
    _, plaintext = make_key(admin)
    response = client.open(path, method=method, headers={"x-api-key": plaintext, "Accept": "text/html"})
    assert_api_error(response, 405)
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
        "unknown": tokens.generate(),
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


def test_a_database_error_in_the_key_check_arrives_as_sqlalchemys_and_leaves_the_pool_working(app, api_get, admin,
                                                                                             make_key):
    # The key check runs on the driver's own cursor; its errors must still be SQLAlchemy's, which the error
    # handlers know (a lost database is answered 503, not 500).
    _, plaintext = make_key(admin)
    db.session.execute(text("ALTER TABLE api_keys RENAME TO api_keys_away"))
    db.session.commit()
    try:
        with pytest.raises(DBAPIError) as raised:
            lookup.check_digests((tokens.digest(plaintext, app.config["API_KEY_PEPPER"].encode()),))
        assert isinstance(raised.value.orig, db.engine.dialect.loaded_dbapi.Error)
        assert "api_keys" in str(raised.value)
    finally:
        db.session.rollback()
        db.session.execute(text("ALTER TABLE api_keys_away RENAME TO api_keys"))
        db.session.commit()
    assert api_get(ME, plaintext).status_code == 200


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

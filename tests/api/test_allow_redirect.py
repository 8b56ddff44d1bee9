"""allowRedirect=true on the list endpoints: a 303 to a short-lived signed download link of ours, which streams
the same answer without a key header, and only while the key it was given for still works."""

import time
from datetime import timedelta
from types import SimpleNamespace

import itsdangerous.timed
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from floqast.accounts.models import Role, Team
from floqast.analytics.generate import Profile
from floqast.api import lists
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import ANALYTICS_SERVICES, ApiKey, Service
from helpers import CHECKLISTS, PATHS, RECONCILIATIONS, assert_api_error, logged_requests, validate

BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=5, months=2, through=(2025, 3), seed=13,
                people=("Ann", "Ben"))
MARCH = {"filter[month]": "March", "filter[year]": "2025"}
FORMATS = ["application/json", "text/csv"]


@pytest.fixture
def acme(key_to_books, team):
    """The plaintext of a key to Acme's books, and the key."""
    plaintext = key_to_books(BOOKS)
    return plaintext, db.session.scalars(select(ApiKey).where(ApiKey.team_id == team.id)).one()


@pytest.fixture
def key(acme):
    return acme[0]


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


def pull(client, path, key, accept="application/json", **params):
    headers = {"Accept": accept, **({"x-api-key": key} if key else {})}
    return client.get(path, query_string=params, headers=headers)


def redirected(client, path, key, accept="application/json", **params) -> str:
    """The download link that allowRedirect=true answers with."""
    response = pull(client, path, key, accept, allowRedirect="true", **params)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def tampered(token: str) -> str:
    """The token with one character of its payload changed."""
    payload, stamp, signature = token.rsplit(".", 2)
    changed = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    return f"{changed}.{stamp}.{signature}"


@pytest.mark.parametrize("accept", FORMATS)
@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_allow_redirect_answers_303_with_the_link_in_location_and_data_url(client, key, document, service, accept):
    response = pull(client, PATHS[service], key, accept, allowRedirect="true", **MARCH)
    assert response.status_code == 303 and response.mimetype == "application/json"
    url = response.headers["Location"]
    assert response.get_json() == {"data": {"url": url}}
    assert url.startswith("/api/v1/downloads/") and "?" not in url
    assert response.headers["Cache-Control"] == "no-store"
    validate(document, PATHS[service].removeprefix("/api/v1"), "303", response.get_json())


def test_the_link_is_a_path_of_this_site_whatever_the_host_header_says(client, key):
    response = client.get(RECONCILIATIONS, query_string={"allowRedirect": "true"},
                          headers={"x-api-key": key, "Host": "evil.example"})
    assert response.headers["Location"].startswith("/api/v1/downloads/")
    assert "evil.example" not in response.get_data(as_text=True)


def test_the_link_never_contains_the_key(client, acme):
    plaintext, key = acme
    response = client.get(f"{RECONCILIATIONS}?filter[month]=March&allowRedirect=true&filter[year]=2025",
                          headers={"x-api-key": plaintext})
    url = response.headers["Location"]
    for secret in (plaintext, plaintext.removeprefix("fq_"), key.digest):
        assert secret not in url
    # What it holds instead: the key's id, the list, the query as it was sent (without allowRedirect), the format.
    token = url.rsplit("/", 1)[1]
    assert lists.links().loads(token) == [key.id, "api.reconciliations", "filter[month]=March&filter[year]=2025",
                                          "application/json"]


@pytest.mark.parametrize("accept", FORMATS)
@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_the_download_streams_exactly_what_the_direct_request_answers(client, key, service, accept):
    query = {**MARCH, "page[size]": "5", "filter[entityIds]": "1,2"}
    direct = pull(client, PATHS[service], key, accept, **query)
    download = client.get(redirected(client, PATHS[service], key, accept, **query))  # no key header
    assert download.status_code == direct.status_code == 200
    assert download.mimetype == direct.mimetype == accept
    assert download.headers.get("Content-Disposition") == direct.headers.get("Content-Disposition")
    assert download.get_data() == direct.get_data() and len(download.get_data()) > 500
    assert download.headers["Cache-Control"] == "no-store"


def test_a_json_download_links_to_the_list_and_its_next_page_continues_it(client, key, document):
    first = client.get(redirected(client, RECONCILIATIONS, key, **{"page[size]": "4"})).get_json()
    validate(document, "/downloads/{token}", "200", first)
    assert first["links"]["self"] == f"{RECONCILIATIONS}?page%5Bsize%5D=4"
    second = client.get(first["links"]["next"], headers={"x-api-key": key}).get_json()
    direct = pull(client, RECONCILIATIONS, key, **{"page[size]": "8"}).get_json()["data"]
    assert first["data"] + second["data"] == direct


def test_a_next_page_can_be_redirected_too(client, key):
    next_page = pull(client, RECONCILIATIONS, key, **{"page[size]": "3"}).get_json()["links"]["next"]
    link = client.get(f"{next_page}&allowRedirect=true", headers={"x-api-key": key}).headers["Location"]
    assert client.get(link).get_data() == client.get(next_page, headers={"x-api-key": key}).get_data()


def test_the_download_is_the_links_whatever_key_header_comes_with_it(client, key, make_team, make_user, make_key):
    # curl -L and requests send the key header again; a download never reads it, another team's key included.
    globex_key = make_key(make_user(make_team("Globex"), Role.ADMIN))[1]
    url = redirected(client, RECONCILIATIONS, key, **MARCH)
    expected = pull(client, RECONCILIATIONS, key, **MARCH).get_data()
    for headers in ({"x-api-key": key}, {"x-api-key": globex_key}, {"Authorization": "Bearer fq_nonsense"}):
        assert client.get(url, headers=headers).get_data() == expected


@pytest.mark.parametrize("value", ["true", "TRUE", "True", " tRuE "])
def test_allow_redirect_true_in_any_case_redirects(client, key, value):
    assert pull(client, RECONCILIATIONS, key, allowRedirect=value).status_code == 303


@pytest.mark.parametrize("accept", FORMATS)
@pytest.mark.parametrize("value", ["false", "FALSE", "False"])
def test_allow_redirect_false_answers_as_if_it_were_absent(client, key, value, accept):
    answer = pull(client, RECONCILIATIONS, key, accept, allowRedirect=value, **{**MARCH, "page[size]": "5"})
    assert answer.status_code == 200
    assert answer.get_data() == pull(client, RECONCILIATIONS, key, accept, **{**MARCH, "page[size]": "5"}).get_data()


@pytest.mark.parametrize("query", ["allowRedirect=yes", "allowRedirect=1", "allowRedirect=", "allowRedirect",
                                   "allowRedirect=true&allowRedirect=true"])
def test_any_other_allow_redirect_is_a_400_naming_it(client, key, query):
    response = client.get(f"{RECONCILIATIONS}?{query}", headers={"x-api-key": key})
    assert assert_api_error(response, 400)["detail"].startswith("allowRedirect:")
    assert "Location" not in response.headers


@pytest.mark.parametrize("accept", FORMATS)
@pytest.mark.parametrize(("params", "name"), [
    ({"filter[month]": "Smarch", "filter[year]": "2025"}, "filter[month]"),
    ({"page[size]": "0"}, "page[size]"),
    ({"page[cursor]": "made-up"}, "page[cursor]"),
    ({"filter[status]": "open"}, "filter[status]"),
])
def test_a_bad_other_parameter_is_a_400_before_any_link_is_given(client, key, params, name, accept):
    response = pull(client, RECONCILIATIONS, key, accept, allowRedirect="true", **params)
    assert assert_api_error(response, 400)["detail"].startswith(f"{name}:")
    assert "Location" not in response.headers


def test_an_unknown_parameter_is_told_allow_redirect_is_allowed(client, key):
    detail = assert_api_error(pull(client, CHECKLISTS, key, allowredirect="true"), 400)["detail"]
    assert detail.startswith("allowredirect:") and detail.endswith("page[cursor], allowRedirect.")


def test_the_first_request_still_needs_a_working_key(client):
    assert_api_error(pull(client, RECONCILIATIONS, None, allowRedirect="true"), 401)
    assert_api_error(pull(client, RECONCILIATIONS, "fq_nonsense", allowRedirect="true"), 401)


def signed_with_another_signature(token: str) -> str:
    value, _, signature = token.rpartition(".")
    return f"{value}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_a_changed_or_made_up_link_is_a_404_saying_so(client, key, document):
    token = redirected(client, RECONCILIATIONS, key).rsplit("/", 1)[1]
    other_secret = URLSafeTimedSerializer("another-secret", salt=lists.SALT)
    cursor_salt = URLSafeTimedSerializer(client.application.config["SECRET_KEY"], salt="floqast.analytics.cursor")
    made_up = [
        tampered(token),
        # The signature's first character (its last one also carries base64 padding bits, which may not count).
        signed_with_another_signature(token),
        "not-a-token",
        other_secret.dumps(lists.links().loads(token)),  # the same contents, signed without our secret
        cursor_salt.dumps(lists.links().loads(token)),  # signed with our secret, for something else
    ]
    for forged in made_up:
        response = client.get(f"/api/v1/downloads/{forged}")
        error = assert_api_error(response, 404)
        assert error["detail"].startswith("This is not a download link this API gave, or it was changed.")
        assert "allowRedirect=true" in error["detail"]
        validate(document, "/downloads/{token}", "404", response.get_json())


def test_a_link_is_tied_to_its_key_query_and_list(client, acme, make_team, make_user, make_key):
    plaintext, key = acme
    globex = make_team("Globex")
    globex_key = make_key(make_user(globex, Role.ADMIN))[0]
    token = redirected(client, RECONCILIATIONS, plaintext, **MARCH).rsplit("/", 1)[1]
    _, endpoint, query, chosen = lists.links().loads(token)
    # Neither another key, nor another query or list, can be put in a link without our secret.
    for changed in ([globex_key.id, endpoint, query, chosen], [key.id, endpoint, "", chosen],
                    [key.id, "api.checklists", query, chosen], [key.id, endpoint, query, "text/csv"]):
        forged = URLSafeTimedSerializer("guessed-secret", salt=lists.SALT).dumps(changed)
        assert_api_error(client.get(f"/api/v1/downloads/{forged}"), 404)
    # Nor can the link take parameters of its own.
    response = client.get(f"/api/v1/downloads/{token}", query_string={"filter[month]": "January"})
    assert assert_api_error(response, 400)["detail"].startswith("filter[month]: a download link takes no parameters")


def test_a_key_in_the_links_url_is_refused_as_on_every_route(client, key):
    url = redirected(client, RECONCILIATIONS, key)
    response = client.get(url, query_string={"api_key": key})
    assert "not accepted in the URL" in assert_api_error(response, 400)["detail"]


@pytest.mark.parametrize(("setting", "seconds"), [(None, 300), (60, 60)])
def test_a_link_works_for_download_url_seconds_then_is_a_404_saying_it_expired(app, client, key, monkeypatch,
                                                                              setting, seconds):
    if setting is not None:
        app.config["DOWNLOAD_URL_SECONDS"] = setting
    # The link is signed at a whole second between these two: a slow request must not move either check.
    before = time.time()
    url = redirected(client, RECONCILIATIONS, key)
    after = time.time()
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: before + seconds - 1))
    assert client.get(url).status_code == 200
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: after + seconds + 1))
    detail = assert_api_error(client.get(url), 404)["detail"]
    assert detail == (f"This download link has expired: links work for {seconds} seconds. "
                      "Ask for the list again with allowRedirect=true for a new link.")


def stop_working(key: ApiKey, how: str, admin) -> None:
    """Make the key stop working for the reconciliations list, as an admin or the operator would."""
    changes = {
        "deactivated": {"deleted_at": utcnow(), "deleted_by_id": admin.id},
        "expired": {"expires_on": key.team.today() - timedelta(days=1)},
        "without the service": {"services": [Service.CHECKLISTS.value]},
    }
    if how == "open api off":
        db.session.execute(update(Team).where(Team.id == key.team_id).values(open_api_enabled=False))
    elif how == "suspended":
        actions.suspend_key(key, admin, "Vendor dispute")
    else:
        db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(**changes[how]))
    db.session.commit()


@pytest.mark.parametrize("accept", FORMATS)
@pytest.mark.parametrize("how", ["deactivated", "suspended", "expired", "open api off", "without the service"])
def test_a_key_that_stops_working_after_the_redirect_is_refused_as_a_pull_would_be(client, acme, admin, document,
                                                                                   how, accept):
    plaintext, key = acme
    url = redirected(client, RECONCILIATIONS, plaintext, accept, **MARCH)
    stop_working(key, how, admin)
    db.session.expire_all()
    refused_pull = pull(client, RECONCILIATIONS, plaintext, accept, **MARCH)
    download = client.get(url, headers={"Accept": accept})
    assert download.status_code == refused_pull.status_code in (401, 403)
    assert assert_api_error(download, download.status_code) == assert_api_error(refused_pull, download.status_code)
    validate(document, "/downloads/{token}", str(download.status_code), download.get_json())


def test_a_refused_download_is_in_the_teams_trail_under_its_key(client, acme, admin, team):
    plaintext, key = acme
    url = redirected(client, RECONCILIATIONS, plaintext)
    stop_working(key, "deactivated", admin)
    detail = assert_api_error(client.get(url), 401)["detail"]
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.API_REFUSED)).all()
    assert (event.team_id, event.api_key_id, event.key_hint, event.detail) == (team.id, key.id, key.hint, detail)


def test_the_download_counts_as_a_pull_of_the_key(app, client, key):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    url = redirected(client, RECONCILIATIONS, key)
    download = client.get(url)
    assert (download.status_code, download.headers["X-RateLimit-Remaining"]) == (200, "1")
    assert pull(client, CHECKLISTS, key).status_code == 200
    limited = client.get(url)
    assert limited.status_code == 429 and "Retry-After" in limited.headers


def test_the_download_notes_last_used(client, acme):
    plaintext, key = acme
    url = redirected(client, RECONCILIATIONS, plaintext)
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=None, last_used_ip=None))
    db.session.commit()
    assert client.get(url, environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_ip == "198.51.100.9"


def test_the_request_log_shows_the_list_its_query_and_service_never_the_link(client, acme):
    plaintext, key = acme
    url = redirected(client, RECONCILIATIONS, plaintext, **{**MARCH, "page[size]": "10"})
    assert client.get(url).status_code == 200
    key.services = [Service.CHECKLISTS]  # the same link, refused now
    db.session.commit()
    assert client.get(url).status_code == 403

    *_, accepted, refused = logged_requests()
    query = "filter%5Bmonth%5D=March&filter%5Byear%5D=2025&page%5Bsize%5D=10"
    for row, status in ((accepted, 200), (refused, 403)):
        assert (row.api_key_id, row.uri, row.service, row.status) == (
            key.id, f"{RECONCILIATIONS}?{query}", "Reconciliation Analytics", status)
        assert "downloads" not in row.uri


def test_the_longest_query_a_list_takes_still_makes_a_link_that_works(client, key):
    # 100 entity ids (98 long ones, and Acme's two) and a cursor that carries them: the link must stay within
    # the URL length the API reads.
    ids = ",".join(str(number) for number in range(100_000_001, 100_000_099)) + ",1,2"
    second_page = pull(client, RECONCILIATIONS, key, **{"filter[entityIds]": ids, "page[size]": "1", **MARCH})
    response = client.get(second_page.get_json()["links"]["next"] + "&allowRedirect=true",
                          headers={"x-api-key": key})
    assert response.status_code == 303
    download = client.get(response.headers["Location"])
    assert download.status_code == 200 and len(download.get_json()["data"]) == 1

"""A key in a URL: refused with a 400 whatever else the request holds, and a working key of ours seen there is
marked as exposed (and kept working)."""

from datetime import datetime, timezone
from itertools import cycle

import pytest
from sqlalchemy import update

from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import tokens
from floqast.keys.models import ApiKey
from helpers import (
    AUDIT_TRAIL,
    CHECKLISTS,
    ME,
    RECONCILIATIONS,
    assert_api_error,
    only_the_audit_insert,
    reload,
    statements_sent,
)

QUERIES = ["api_key={key}", "key={key}", "token={key}", "access_token={key}", "x-api-key={key}", "API_KEY={key}",
           "q={key}", "filter[month]=1&whatever={key}", "api_key=not-even-a-key", "{key}", "filter[entityIds]={key}",
           "filter[entityIds]=%20{key}"]


# Each query once, the three paths in turn: one check guards every route.
@pytest.mark.parametrize(("query", "path"), list(zip(QUERIES, cycle([ME, RECONCILIATIONS, CHECKLISTS]))))
def test_key_in_the_query_string_is_400(api_get, admin, make_key, query, path):
    _, plaintext = make_key(admin)
    # Refused even when a valid key is also in the header: the URL has leaked it into logs already.
    response = api_get(f"{path}?{query.format(key=plaintext)}", plaintext)
    error = assert_api_error(response, 400)
    assert "header" in error["detail"]
    assert "x-api-key" in error["detail"]
    assert plaintext not in response.get_data(as_text=True)
    assert plaintext not in str(response.headers)


def test_key_in_the_query_string_without_a_header_is_400_not_401(client, admin, make_key):
    _, plaintext = make_key(admin)
    assert_api_error(client.get(f"{ME}?api_key={plaintext}"), 400)


def test_a_refused_query_string_key_does_not_count_as_use(client, admin, make_key):
    key, plaintext = make_key(admin)
    client.get(f"{ME}?api_key={plaintext}", headers={"x-api-key": plaintext})
    assert reload(key).last_used_at is None


# ---------------------------------------------------------------- a key seen in a URL


def test_a_working_key_in_the_url_is_refused_marked_as_exposed_and_kept_working(api_get, team, admin, make_key):
    key, plaintext = make_key(admin)
    before = utcnow()
    response = api_get(f"{ME}?api_key={plaintext}")
    error = assert_api_error(response, 400)
    assert "not accepted in the URL" in error["detail"] and "replace it with a new key" in error["detail"]
    assert plaintext not in response.get_data(as_text=True)
    exposed_at = reload(key).exposed_in_url_at
    assert before <= exposed_at <= utcnow() and exposed_at.tzinfo is not None
    assert reload(key).deleted_at is None
    assert api_get(ME, plaintext).status_code == 200, "not revoked: a mistyped curl must not stop a nightly load"


def test_the_first_exposure_is_the_one_kept(api_get, admin, make_key):
    key, plaintext = make_key(admin)
    assert_api_error(api_get(f"{RECONCILIATIONS}?filter[entityIds]={plaintext}"), 400)
    first = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(exposed_in_url_at=first))
    db.session.commit()
    error = assert_api_error(api_get(f"{ME}?{plaintext}"), 400)
    assert "replace it" in error["detail"]
    assert reload(key).exposed_in_url_at == first


@pytest.mark.parametrize("query", ["api_key=not-even-a-key", "token={unknown}", "key={typo}"])
def test_a_url_without_a_key_of_ours_is_refused_without_saying_to_replace_anything(api_get, admin, make_key, query):
    key, plaintext = make_key(admin)
    typo = plaintext[:-1] + ("0" if plaintext[-1] != "0" else "1")
    error = assert_api_error(api_get(f"{ME}?{query.format(unknown=tokens.generate(), typo=typo)}"), 400)
    assert "replace" not in error["detail"]
    assert reload(key).exposed_in_url_at is None


def test_a_url_with_no_well_formed_key_is_refused_without_a_lookup(api_get, admin, make_key):
    _, plaintext = make_key(admin)
    with statements_sent() as statements:
        assert_api_error(api_get(f"{ME}?api_key=not-even-a-key", plaintext), 400)
    assert only_the_audit_insert(statements)


def test_accepted_pulls_never_look_for_exposed_keys(api_get, admin, make_key):
    key, plaintext = make_key(admin)
    assert api_get(ME, plaintext).status_code == 200
    with statements_sent() as statements:
        assert api_get(f"{RECONCILIATIONS}?filter[month]=1&filter[year]=2026", plaintext).status_code == 200
    assert not any("exposed_in_url_at" in statement for statement in statements)
    assert reload(key).exposed_in_url_at is None


# A key inside a parameter's value or name, not at its start: each (query, what the trail shows in its place).
KEYS_INSIDE = [
    ("authorization=Bearer%20{key}", {"authorization": "REDACTED"}),
    ("filter[month]=%22{key}%22&filter[year]=2026", {"filter[month]": "REDACTED", "filter[year]": "2026"}),
    ("filter[entityIds]=1,{key}", {"filter[entityIds]": "REDACTED"}),
    ("filter[{key}]=1", {"REDACTED": "1"}),
    ("note=key:{key}.", {"note": "REDACTED"}),
]


@pytest.mark.parametrize(("query", "shown"), KEYS_INSIDE)
def test_a_key_anywhere_in_a_parameter_is_refused_marked_exposed_and_redacted_in_the_trail(
        api_get, admin, make_key, query, shown):
    key, plaintext = make_key(admin, name="Leaked")
    _, reader = make_key(admin, name="Reader")
    response = api_get(f"{RECONCILIATIONS}?{query.format(key=plaintext)}", plaintext)
    error = assert_api_error(response, 400)
    assert "not accepted in the URL" in error["detail"] and "replace it with a new key" in error["detail"]
    assert reload(key).exposed_in_url_at is not None
    answer = api_get(AUDIT_TRAIL, reader)
    assert plaintext not in answer.get_data(as_text=True)
    [refused] = answer.get_json()["data"]
    assert refused["meta"]["status"] == "400" and refused["apiKeyId"] == str(key.id)
    assert refused["meta"]["queryParameters"] == shown


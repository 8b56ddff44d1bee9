"""Last used: when and from where a key was last accepted, written at most once an interval."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.models import USER_AGENT_LENGTH, ApiKey, Service
from helpers import CHECKLISTS, CLIENT_IP, ME, reload, statements_sent

# ---------------------------------------------------------------- Last used


def test_an_accepted_pull_records_when_from_where_and_with_what(api_get, admin, make_key):
    key, plaintext = make_key(admin)
    before = utcnow()
    assert api_get(ME, plaintext, headers={"User-Agent": "python-requests/2.32.3"}).status_code == 200
    key = reload(key)
    assert before <= key.last_used_at <= utcnow()
    assert key.last_used_at.tzinfo is not None
    assert key.last_used_ip == CLIENT_IP
    assert key.last_used_user_agent == "python-requests/2.32.3"


@pytest.mark.parametrize(("sent", "kept"), [
    ("x" * 1000, "x" * USER_AGENT_LENGTH),
    ("curl\x00/8", "curl\ufffd/8"),
    ("", None),
], ids=["long", "NUL", "empty"])
def test_the_user_agent_is_kept_clipped_and_nul_safe(api_get, admin, make_key, sent, kept):
    key, plaintext = make_key(admin)
    assert api_get(ME, plaintext, headers={"User-Agent": sent}).status_code == 200
    assert reload(key).last_used_user_agent == kept


def test_a_second_pull_within_the_interval_writes_nothing(app, api_get, admin, make_key, key_read_every_pull):
    key, plaintext = make_key(admin)
    assert api_get(ME, plaintext).status_code == 200
    first = reload(key).last_used_at
    db.session.expire_all()

    with statements_sent() as statements:
        assert api_get(ME, plaintext).status_code == 200
    assert len(statements) == 1
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert reload(key).last_used_at == first


def test_a_pull_after_the_interval_updates_last_used(app, client, admin, make_key):
    key, plaintext = make_key(admin)
    interval = app.config["LAST_USED_INTERVAL_SECONDS"]
    stale = utcnow() - timedelta(seconds=interval + 5)
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(
        last_used_at=stale, last_used_ip="198.51.100.1", last_used_user_agent="curl/7.0"))
    db.session.commit()

    with statements_sent() as statements:
        response = client.get(ME, headers={"x-api-key": plaintext, "User-Agent": "curl/8.5.0"},
                              environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert response.status_code == 200
    assert sum(statement.lstrip().upper().startswith("UPDATE") for statement in statements) == 1
    key = reload(key)
    assert key.last_used_at > stale + timedelta(seconds=interval)
    assert (key.last_used_ip, key.last_used_user_agent) == ("192.0.2.44", "curl/8.5.0")


def test_a_pull_just_inside_the_interval_does_not_update(app, api_get, admin, make_key):
    key, plaintext = make_key(admin)
    recent = utcnow() - timedelta(seconds=app.config["LAST_USED_INTERVAL_SECONDS"] - 10)
    db.session.execute(update(ApiKey).where(ApiKey.id == key.id).values(
        last_used_at=recent, last_used_ip="198.51.100.1", last_used_user_agent="curl/7.0"))
    db.session.commit()
    assert api_get(ME, plaintext, headers={"User-Agent": "curl/8.5.0"}).status_code == 200
    key = reload(key)
    assert key.last_used_at == recent
    assert (key.last_used_ip, key.last_used_user_agent) == ("198.51.100.1", "curl/7.0")


@pytest.mark.parametrize("state", ["expired", "deactivated", "open-api-off", "missing-service"])
def test_a_refused_pull_does_not_update_last_used(api_get, make_team, make_user, make_key, team, admin, state):
    owner = make_user(make_team(name="Closed Co", open_api=False)) if state == "open-api-off" else admin
    fields = {
        "expired": {"expires_on": team.today() - timedelta(days=1)},
        "deactivated": {"deleted_at": utcnow(), "deleted_by": admin},
        "open-api-off": {},
        "missing-service": {"services": [Service.RECONCILIATIONS]},
    }[state]
    key, plaintext = make_key(owner, **fields)
    response = api_get(CHECKLISTS, plaintext)
    assert response.status_code in (401, 403)
    key = reload(key)
    assert key.last_used_at is None
    assert key.last_used_ip is None and key.last_used_user_agent is None

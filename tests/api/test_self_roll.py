"""A key rolls itself: POST /api/v1/me/roll with an Idempotency-Key, as a script would send it with curl."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import allowlist
from floqast.keys.models import ApiKey, Service
from floqast.keys.self_roll import SelfRoll
from floqast.notices.outbox import KeyNotice, NoticeKind
from helpers import CLIENT_IP, ME, assert_api_error, freeze, key_by_plaintext, logged_requests, reload

ROLL = "/api/v1/me/roll"


@pytest.fixture
def roll(client):
    """POST /api/v1/me/roll as curl would: the key in x-api-key, the Idempotency-Key given (None: not sent)."""

    def post(key, idempotency_key="4f1c2b7e-roll-1"):
        headers = {"x-api-key": key, **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
        return client.post(ROLL, headers=headers, environ_base={"REMOTE_ADDR": CLIENT_IP})

    return post


@pytest.fixture
def script_key(admin, make_key, team):
    """A key made 30 days ago, expiring in 60, that scripts may roll, with everything a roll carries over."""
    key, plaintext = make_key(admin, name="Nightly load", services=[Service.CHECKLISTS],
                              expires_on=team.today() + timedelta(days=60), self_roll_allowed=True,
                              description="Warehouse", allowed_ips=allowlist.parse(f"{CLIENT_IP}, 198.51.100.0/24"),
                              created_at=utcnow() - timedelta(days=30))
    return key, plaintext


def test_a_key_rolls_itself_and_the_new_key_keeps_everything_but_its_secret(roll, api_get, script_key, team):
    key, plaintext = script_key

    response = roll(plaintext)

    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()["data"]
    new = key_by_plaintext(data["apiKey"])
    assert data["apiKeyId"] == str(new.id) != str(key.id)
    # the old key's lifetime (90 days, from its creation 30 days ago) counted from today
    assert new.expires_on == team.today() + timedelta(days=90)
    assert data["expiresAt"] == new.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    old = reload(key)
    assert data["previousKeyStopsAt"] == old.roll_ends_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert timedelta(hours=23, minutes=59) < old.roll_ends_at - utcnow() <= timedelta(hours=24)
    assert (new.name, new.services, new.description, new.allowed_ips, new.self_roll_allowed) == (
        "Nightly load", ["checklists"], "Warehouse", key.allowed_ips, True)
    assert old.replaced_by_id == new.id
    # both work until the new one is used
    assert api_get(ME, plaintext).status_code == 200
    assert "Sunset" in api_get(ME, plaintext).headers


def test_the_roll_is_audited_as_rolled_by_itself_and_its_admins_get_a_notice(roll, script_key, team, admin,
                                                                              make_user):
    key, plaintext = script_key
    sysadmin = make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam")
    make_user(team, Role.USER, email="uma@acme.test")

    new_id = int(roll(plaintext).get_json()["data"]["apiKeyId"])

    events = db.session.scalars(select(AuditEvent).where(AuditEvent.api_key_id == key.id)).all()
    [rolled] = [event for event in events if event.kind is AuditKind.KEY_ROLLED_BY_ITSELF]
    assert rolled.kind.label == "Key rolled by itself"
    assert rolled.user_id is None and rolled.ip == CLIENT_IP
    assert db.session.get(ApiKey, new_id).hint in rolled.detail
    notices = db.session.scalars(select(KeyNotice).where(KeyNotice.api_key_id == key.id)).all()
    assert {(notice.kind, notice.user_id) for notice in notices} == {
        (NoticeKind.ROLLED_BY_ITSELF, admin.id), (NoticeKind.ROLLED_BY_ITSELF, sysadmin.id)}


def test_the_first_use_of_the_new_key_ends_the_overlap(roll, api_get, script_key):
    key, plaintext = script_key
    new_plaintext = roll(plaintext).get_json()["data"]["apiKey"]
    assert api_get(ME, plaintext).status_code == 200  # the old key works while the new one is unused

    assert api_get(ME, new_plaintext).status_code == 200

    assert "This API key was rolled on" in assert_api_error(api_get(ME, plaintext), 401)["detail"]
    assert api_get(ME, new_plaintext).status_code == 200
    ended = db.session.scalar(select(AuditEvent).where(AuditEvent.api_key_id == key.id,
                                                       AuditEvent.kind == AuditKind.ROLL_ENDED))
    assert "was first used" in ended.detail


def test_an_admins_roll_is_not_ended_by_the_new_keys_first_use(api_get, admin, make_key):
    from floqast.keys.actions import roll_key

    key, plaintext = make_key(admin, name="Admin rolled", self_roll_allowed=True)
    _, new_plaintext = roll_key(key, admin, timedelta(hours=24), None)
    db.session.commit()

    assert api_get(ME, new_plaintext).status_code == 200

    assert api_get(ME, plaintext).status_code == 200  # the 24 hours the admin chose


def test_a_retried_request_gets_the_same_key(roll, api_get, script_key):
    _, plaintext = script_key
    first = roll(plaintext, "retry-me")

    again = roll(plaintext, "retry-me")

    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert db.session.scalar(select(db.func.count()).select_from(ApiKey)) == 2
    assert api_get(ME, again.get_json()["data"]["apiKey"]).status_code == 200


def test_another_idempotency_key_after_a_roll_is_a_409_naming_the_replacement(roll, script_key):
    _, plaintext = script_key
    new_id = roll(plaintext, "first").get_json()["data"]["apiKeyId"]

    response = roll(plaintext, "second")

    hint = db.session.get(ApiKey, int(new_id)).hint
    assert f"This API key was rolled already: its replacement is {hint}…" in assert_api_error(response, 409)["detail"]


def test_the_kept_key_is_erased_after_ten_minutes_and_a_retry_then_gets_a_409(roll, script_key, monkeypatch):
    _, plaintext = script_key
    new_id = roll(plaintext, "slow-retry").get_json()["data"]["apiKeyId"]
    kept = db.session.scalar(select(SelfRoll))
    assert kept.sealed_key is not None and plaintext not in kept.sealed_key

    freeze(monkeypatch, utcnow() + timedelta(minutes=10, seconds=1))
    response = roll(plaintext, "slow-retry")

    assert db.session.get(ApiKey, int(new_id)).hint in assert_api_error(response, 409)["detail"]
    db.session.expire_all()
    assert db.session.scalar(select(SelfRoll)).sealed_key is None


def test_keys_notify_erases_kept_keys_past_their_minutes(runner, roll, script_key, monkeypatch, mail_server):
    _, plaintext = script_key
    roll(plaintext)
    freeze(monkeypatch, utcnow() + timedelta(minutes=11))

    runner.invoke(args=["keys", "notify"])

    db.session.expire_all()
    assert db.session.scalar(select(SelfRoll)).sealed_key is None


def test_a_key_without_the_option_gets_a_403(roll, api_get, admin, make_key):
    key, plaintext = make_key(admin, name="Not allowed")

    response = roll(plaintext)

    assert "This API key may not roll itself" in assert_api_error(response, 403)["detail"]
    assert reload(key).replaced_by_id is None
    assert db.session.scalar(select(db.func.count()).select_from(ApiKey)) == 1


@pytest.mark.parametrize("idempotency_key", [None, "", "x" * 256])
def test_the_idempotency_key_is_required(roll, script_key, idempotency_key):
    key, plaintext = script_key
    response = roll(plaintext, idempotency_key)
    assert "Idempotency-Key" in assert_api_error(response, 400)["detail"]
    assert reload(key).replaced_by_id is None


def test_a_key_an_admin_rolled_cannot_roll_itself_again(roll, admin, script_key):
    from floqast.keys.actions import roll_key

    key, plaintext = script_key
    replacement, _ = roll_key(key, admin, timedelta(hours=1), None)
    db.session.commit()

    assert replacement.hint in assert_api_error(roll(plaintext), 409)["detail"]


def test_the_new_key_is_in_no_log_audit_row_notice_or_stored_column(roll, api_get, script_key, caplog):
    _, plaintext = script_key
    caplog.set_level(logging.DEBUG)

    new_plaintext = roll(plaintext).get_json()["data"]["apiKey"]
    api_get(ME, new_plaintext)

    stored = [str(vars(row)) for row in logged_requests()]  # written first: then read like the other tables
    for model in (ApiKey, AuditEvent, KeyNotice, SelfRoll):
        stored += [str(vars(row)) for row in db.session.scalars(select(model))]
    for secret in (plaintext, new_plaintext):
        assert not any(secret in value for value in stored)
        assert secret not in caplog.text

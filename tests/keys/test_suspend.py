"""Suspending and resuming a key: refused at once with the day and the admin's reason on every path that takes a key,
working again once resumed, audited, mailed to its creator and admins, announced; it still expires, can be deleted,
and cannot be rolled while suspended."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.events import KeyEvent, announced
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.actions import CannotRoll, NameTaken
from floqast.keys.models import KeyStatus
from floqast.notices.outbox import KeyNotice
from floqast.usage.models import Refusal
from helpers import AUDIT_TRAIL, ME, RECONCILIATIONS, assert_api_error, freeze, logged_requests, reload

REASON = "Vendor dispute: do not use until legal signs off"


@pytest.fixture
def people(team, admin, make_user):
    """The key's creator (an Admin), another Admin who suspends it, and a Manager, who hears of no key."""
    other = make_user(team, Role.ADMIN, email="other@acme.test", name="Olga Other")
    make_user(team, Role.MANAGER, email="morgan@acme.test")
    return admin, other


@pytest.fixture
def vendor_key(people, make_key):
    creator, _ = people
    return make_key(creator, name="BI vendor")


def suspend(key, by, reason=REASON) -> bool:
    suspended = actions.suspend_key(key, by, reason)
    db.session.commit()
    return suspended


def resume(key, by) -> bool:
    resumed = actions.resume_key(key, by)
    db.session.commit()
    return resumed


def test_a_suspended_key_is_refused_at_once_with_the_day_and_reason_and_works_again_once_resumed(
        api_get, people, vendor_key):
    key, plaintext = vendor_key
    _, other = people
    assert api_get(ME, plaintext).status_code == 200  # kept by this worker from now on

    assert suspend(key, other)
    day = key.suspended_at.astimezone(key.team.zone).date().isoformat()
    assert_api_error(api_get(ME, plaintext), 401, f"This API key was suspended on {day}: {REASON}.")

    assert resume(reload(key), other)
    assert api_get(ME, plaintext).status_code == 200


@pytest.mark.parametrize("path, accept", [(RECONCILIATIONS, "application/json"), (RECONCILIATIONS, "text/csv"),
                                          (AUDIT_TRAIL, "application/json")])
def test_every_path_that_takes_a_key_refuses_a_suspended_one(api_get, people, vendor_key, path, accept):
    key, plaintext = vendor_key
    suspend(key, people[1])
    response = api_get(path, plaintext, headers={"Accept": accept})
    assert_api_error(response, 401)
    assert "was suspended on" in response.get_json()["errors"][0]["detail"]


def test_the_request_log_keeps_why_a_suspended_keys_pull_was_refused(api_get, people, vendor_key):
    key, plaintext = vendor_key
    suspend(key, people[1])
    api_get(ME, plaintext)
    [row] = logged_requests()
    assert (row.api_key_id, row.status, row.refusal_reason) == (key.id, 401, Refusal.SUSPENDED.label)


def test_a_reason_that_ends_a_sentence_gets_no_second_stop(api_get, people, vendor_key):
    key, plaintext = vendor_key
    suspend(key, people[1], "Paused by the controller!")
    assert api_get(ME, plaintext).get_json()["errors"][0]["detail"].endswith(": Paused by the controller!")


def test_suspend_and_resume_are_audited_with_who_and_why(people, vendor_key):
    key, _ = vendor_key
    _, other = people
    suspend(key, other)
    resume(key, other)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.api_key_id == key.id,
                                                         AuditEvent.kind != AuditKind.KEY_CREATED)
                                .order_by(AuditEvent.id)).all()
    assert [(event.kind, event.email, event.detail) for event in events] == [
        (AuditKind.KEY_SUSPENDED, "other@acme.test", f"Reason: “{REASON}”"),
        (AuditKind.KEY_RESUMED, "other@acme.test", None),
    ]


def test_suspend_and_resume_notify_the_creator_and_the_teams_admins(people, vendor_key):
    key, _ = vendor_key
    suspend(key, people[1])
    resume(key, people[1])
    notices = KeyNotice.for_key(key)
    assert sorted((notice.kind.value, notice.user.email, notice.reason) for notice in notices) == [
        ("resumed", "admin@acme.test", None), ("resumed", "other@acme.test", None),
        ("suspended", "admin@acme.test", REASON), ("suspended", "other@acme.test", REASON),
    ]


def test_the_creator_is_mailed_the_reason_when_another_admin_suspends_the_key(runner, mail_server, people,
                                                                             vendor_key):
    key, _ = vendor_key
    suspend(key, people[1])
    assert runner.invoke(args=["keys", "notify"]).output == "Sent 2 notices.\n"
    [to_creator] = [message for recipients, message in mail_server.received if recipients == ["admin@acme.test"]]
    assert to_creator["Subject"] == 'API key "BI vendor" was suspended'
    plain = to_creator.get_body(("plain",)).get_content()
    assert f"with this reason: {REASON}" in " ".join(plain.split())
    assert "because you created this key" in " ".join(plain.split())


def test_suspend_and_resume_are_announced_in_their_transaction(people, vendor_key):
    key, _ = vendor_key
    heard = []

    def listener(event, **subjects):
        heard.append((event, subjects["team_id"], subjects["api_key"].id, subjects["api_key"].suspended_reason))

    with announced.connected_to(listener):
        suspend(key, people[1])
        suspend(key, people[1])  # already suspended: nothing happens, nothing is announced
        resume(key, people[1])
    assert heard == [(KeyEvent.KEY_SUSPENDED, key.team_id, key.id, REASON),
                     (KeyEvent.KEY_RESUMED, key.team_id, key.id, None)]


def test_a_key_is_suspended_once_and_resumed_once(people, vendor_key):
    key, _ = vendor_key
    assert suspend(key, people[1])
    assert not suspend(key, people[0], "Another reason")
    assert reload(key).suspended_reason == REASON
    assert resume(key, people[1])
    assert not resume(key, people[1])
    kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.api_key_id == key.id)).all()
    assert sorted(kinds) == sorted([AuditKind.KEY_SUSPENDED, AuditKind.KEY_RESUMED])


def test_only_a_working_key_can_be_suspended(people, make_key, team):
    _, other = people
    expired, _ = make_key(people[0], name="Lapsed", expires_on=team.today() - timedelta(days=1))
    assert not suspend(expired, other)
    assert reload(expired).status(team.today()) is KeyStatus.EXPIRED


def test_a_suspended_key_can_be_deleted_and_not_resumed_after(api_get, people, vendor_key):
    key, plaintext = vendor_key
    suspend(key, people[1])
    assert actions.deactivate_key(key, people[1])
    db.session.commit()
    assert reload(key).status(key.team.today()) is KeyStatus.DEACTIVATED
    assert "was deactivated on" in api_get(ME, plaintext).get_json()["errors"][0]["detail"]
    assert not resume(key, people[1])


def test_a_suspended_key_cannot_be_rolled_until_resumed(people, vendor_key):
    key, _ = vendor_key
    suspend(key, people[1])
    with pytest.raises(CannotRoll):
        actions.roll_key(key, people[1], timedelta(hours=1), None)
    db.session.rollback()
    resume(reload(key), people[1])
    replacement, _ = actions.roll_key(reload(key), people[1], timedelta(hours=1), None)
    assert replacement.name == "BI vendor"


def test_a_suspended_key_still_expires_on_its_date(api_get, monkeypatch, people, make_key, team):
    today = team.today()
    key, plaintext = make_key(people[0], name="Short", expires_on=today + timedelta(days=1))
    suspend(key, people[1])
    later = datetime.combine(today + timedelta(days=3), datetime.min.time(), timezone.utc)
    freeze(monkeypatch, later)
    assert resume(reload(key), people[1])
    assert reload(key).status(team.today(later)) is KeyStatus.EXPIRED
    assert_api_error(api_get(ME, plaintext), 401, f"This API key expired on {key.expires_on.isoformat()}.")


def test_a_suspended_key_keeps_its_name_from_new_keys(people, vendor_key):
    key, _ = vendor_key
    suspend(key, people[1])
    with pytest.raises(NameTaken):
        actions.create_key(people[1], "BI vendor", ["reconciliations"], None)

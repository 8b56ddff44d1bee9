"""One transaction per action: a key change and its audit row are stored together or not at all, so an audit
row that cannot be written leaves the key as it was and the user an error, never a half-done change."""

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from floqast.accounts.models import User
from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys import actions, queries
from floqast.keys.actions import NAME_TAKEN, NameTaken, create_key, deactivate_key
from floqast.keys.models import ApiKey, KeyStatus, Service
from helpers import csrf_token, log_in

HTMX = {"HX-Request": "true"}
ME = "/api/v1/me"


@pytest.fixture
def failing_audit_insert(app):
    """Every INSERT into audit_events fails as a lost database connection would."""

    def refuse(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            raise OperationalError(statement, parameters, Exception("audit insert refused by the test"))

    event.listen(db.engine, "before_cursor_execute", refuse)
    yield
    event.remove(db.engine, "before_cursor_execute", refuse)


def audit_rows() -> int:
    return db.session.scalar(select(func.count(AuditEvent.id)))


def reload(key_id: int) -> ApiKey:
    db.session.expire_all()
    return db.session.get(ApiKey, key_id)


@pytest.mark.parametrize("how", ["htmx", "confirmation page"])
def test_a_delete_whose_audit_row_fails_leaves_the_key_working(admin_client, admin, make_key, how,
                                                                failing_audit_insert):
    key_id = make_key(admin)[0].id
    token = csrf_token(admin_client, "/settings/api-keys")
    if how == "htmx":
        response = admin_client.delete(f"/settings/api-keys/{key_id}", headers={**HTMX, "X-CSRFToken": token})
        assert response.headers["HX-Retarget"] == "#flash"
    else:
        response = admin_client.post(f"/settings/api-keys/{key_id}/delete", data={"csrf_token": token})
    assert response.status_code == 503
    assert "deactivated" not in response.get_data(as_text=True)
    assert reload(key_id).deleted_at is None
    assert audit_rows() == 0


@pytest.mark.parametrize("headers", [HTMX, {}])
def test_a_create_whose_audit_row_fails_stores_no_key(admin_client, headers, failing_audit_insert):
    token = csrf_token(admin_client, "/settings/api-keys")
    data = {"name": "Nightly load", "expiration": "90", "services": ["reconciliations"], "csrf_token": token}
    response = admin_client.post("/settings/api-keys", data=data, headers=headers)
    assert response.status_code == 503
    assert "fq_" not in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ApiKey.id))) == 0
    assert audit_rows() == 0


def test_a_logout_whose_audit_row_fails_ends_no_session(client, admin, failing_audit_insert):
    log_in(client, admin)
    token = csrf_token(client, "/settings/api-keys")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 503
    db.session.expire_all()
    assert db.session.get(User, admin.id).session_version == 0


def test_a_key_in_a_url_whose_audit_row_fails_is_not_marked_exposed(client, admin, make_key, failing_audit_insert):
    key, plaintext = make_key(admin)
    key_id = key.id
    assert client.get(f"{ME}?api_key={plaintext}").status_code == 503
    assert reload(key_id).exposed_in_url_at is None


def test_the_model_and_the_actions_leave_the_commit_to_the_caller(app, admin, make_key):
    key, _ = make_key(admin)
    assert deactivate_key(key, by=admin)
    actions.record_use(key, "203.0.113.9", "curl/8.5.0", timedelta(0))
    create_key(admin, "Nightly load", [Service.CHECKLISTS], None)
    db.session.rollback()
    key = reload(key.id)
    assert (key.deleted_at, key.last_used_at) == (None, None)
    assert [name for (name,) in db.session.execute(select(ApiKey.name))] == ["Power BI"]
    assert audit_rows() == 0


def test_the_actions_record_who_did_what(app, admin, make_key):
    key, _ = make_key(admin)
    created, _ = create_key(admin, "Nightly load", [Service.CHECKLISTS], None)
    assert deactivate_key(key, by=admin)
    assert not deactivate_key(key, by=admin)  # already deactivated: nothing more to record
    db.session.commit()
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(row.kind, row.api_key_id, row.user_id, row.ip) for row in rows] == [
        (AuditKind.KEY_CREATED, created.id, admin.id, None),  # no request: a command or the demo
        (AuditKind.KEY_DELETED, key.id, admin.id, None),
    ]


@pytest.mark.parametrize("typed", ["Power BI", " power bi ", "ＰＯＷＥＲ ＢＩ"])
def test_creating_a_key_refuses_a_working_keys_name(app, admin, make_key, typed):
    make_key(admin, name="Power BI")
    with pytest.raises(NameTaken, match=NAME_TAKEN):
        create_key(admin, typed, [Service.CHECKLISTS], None)


def test_a_name_taken_while_the_create_waited_for_the_lock_is_a_form_error(admin_client, admin, team, monkeypatch):
    """Another admin's create with the same name commits between this form's check and the name lock."""
    hold_names = queries.hold_names

    def another_create_commits_first(locked_team):
        key, _ = ApiKey.issue(creator=admin, name="nightly LOAD", services=list(Service), expires_on=None,
                              pepper=admin_client.application.config["API_KEY_PEPPER"].encode())
        db.session.add(key)
        db.session.commit()
        hold_names(locked_team)

    monkeypatch.setattr(queries, "hold_names", another_create_commits_first)
    token = csrf_token(admin_client, "/settings/api-keys")
    data = {"name": "Nightly load", "expiration": "90", "services": ["reconciliations"], "csrf_token": token}
    response = admin_client.post("/settings/api-keys", data=data, headers=HTMX)
    assert response.status_code == 422
    assert NAME_TAKEN in response.get_data(as_text=True)
    assert queries.count_by_status(team, team.today())[KeyStatus.ACTIVE] == 1
    assert audit_rows() == 0


def test_the_demo_keys_come_with_their_audit_events(app, runner, empty_db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    for team_id, in db.session.execute(select(ApiKey.team_id).distinct()):
        keys = db.session.scalars(select(ApiKey).where(ApiKey.team_id == team_id)).all()
        created = {row.api_key_id for row in AuditEvent.for_team(team_id) if row.kind is AuditKind.KEY_CREATED}
        deleted = {row.api_key_id for row in AuditEvent.for_team(team_id) if row.kind is AuditKind.KEY_DELETED}
        assert created == {key.id for key in keys}
        assert deleted == {key.id for key in keys if key.deleted_at is not None} != set()
        rolled = {row.api_key_id for row in AuditEvent.for_team(team_id) if row.kind is AuditKind.KEY_ROLLED}
        assert rolled == {key.id for key in keys if key.replaced_by_id is not None} != set()

"""Key requests on PostgreSQL: two reveals of one approval at once make one key, and two admins deciding one request
at once record one decision and mail the requester once."""

import os
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from floqast.accounts.models import Role
from floqast.extensions import db
from floqast.keys import request_actions
from floqast.keys.models import ApiKey
from floqast.keys.requests import ApiKeyRequest
from floqast.notices.outbox import KeyNotice
from helpers import KEY_PATTERN, csrf_token, log_in, run_together

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="concurrency is tested on PostgreSQL: set DATABASE_URL=postgresql://... (CI does)",
)


@pytest.fixture
def pending(team, make_user):
    """A Manager's pending request for a key of the team."""
    manager = make_user(team, Role.MANAGER, email="mia@acme.test", name="Mia Manager")
    key_request = request_actions.submit(manager, "Power BI refresh", ["checklists"], None,
                                         team.today() + timedelta(days=30), "The month-end refresh.")
    db.session.commit()
    return key_request


def signed_in(app, user, page: str):
    client = app.test_client()
    log_in(client, user)
    return client, csrf_token(client, page)


def test_two_reveals_at_once_make_one_key(app, team, admin, pending):
    request_actions.approve(pending, admin, ["checklists"], None, pending.expires_on)
    db.session.commit()
    tabs = [signed_in(app, pending.requested_by, "/key-requests") for _ in range(2)]

    def reveal(index):
        client, token = tabs[index]
        answer = client.post(f"/key-requests/{pending.id}/reveal", data={"csrf_token": token})
        return answer.status_code, answer.get_data(as_text=True)

    results = run_together(2, reveal)

    assert all(not isinstance(result, Exception) for result in results), results
    assert sorted(status for status, _ in results) == [201, 409]
    assert sum(KEY_PATTERN.search(body) is not None for _, body in results) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 1
    assert db.session.get(ApiKeyRequest, pending.id).api_key_id is not None


def test_two_admins_deciding_at_once_record_one_decision(app, team, admin, make_user, pending):
    other = make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")
    admins = [signed_in(app, user, "/settings/key-requests") for user in (admin, other)]
    prefix = {0: f"approve-{pending.id}", 1: f"deny-{pending.id}"}
    forms = {0: {f"{prefix[0]}-services": "checklists", f"{prefix[0]}-entities": "all",
                 f"{prefix[0]}-expires_on": pending.expires_on.isoformat()},
             1: {f"{prefix[1]}-reason": "One key is enough."}}

    def decide(index):
        client, token = admins[index]
        action = "approve" if index == 0 else "deny"
        answer = client.post(f"/settings/key-requests/{pending.id}/{action}",
                             data={**forms[index], "csrf_token": token})
        return answer.status_code

    results = run_together(2, decide)

    assert results == [303, 303]
    db.session.expire_all()
    decided = db.session.get(ApiKeyRequest, pending.id)
    assert decided.decision is not None and decided.decided_by_id in (admin.id, other.id)
    assert db.session.scalar(select(func.count()).select_from(KeyNotice)) == 1

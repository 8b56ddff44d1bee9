"""A key rolling itself twice at once on PostgreSQL: two threads, each its own connection, make one new key."""

import os

import pytest
from sqlalchemy import func, select

from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.keys.self_roll import SelfRoll
from helpers import CLIENT_IP, ME, run_together

DATABASE_URL = os.environ.get("DATABASE_URL", "")
on_postgresql = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="concurrency is tested on PostgreSQL: set DATABASE_URL=postgresql://... (CI does)",
)


def roll_at_once(app, plaintext: str, idempotency_keys: list[str]) -> list:
    """POST /api/v1/me/roll with the key from as many threads as Idempotency-Keys, at the same instant."""

    def roll(index):
        response = app.test_client().post("/api/v1/me/roll", environ_base={"REMOTE_ADDR": CLIENT_IP},
                                          headers={"x-api-key": plaintext, "Idempotency-Key": idempotency_keys[index]})
        return response.status_code, response.get_json()

    results = run_together(len(idempotency_keys), roll)
    assert all(not isinstance(result, Exception) for result in results), results
    return results


def assert_one_new_key(key_id: int) -> ApiKey:
    db.session.expire_all()
    [replacement] = db.session.scalars(select(ApiKey).where(ApiKey.id != key_id)).all()
    assert db.session.get(ApiKey, key_id).replaced_by_id == replacement.id
    assert db.session.scalar(select(func.count()).select_from(SelfRoll)) == 1
    rolled = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.KEY_ROLLED_BY_ITSELF)).all()
    assert len(rolled) == 1
    return replacement


@on_postgresql
def test_a_retry_sent_while_the_first_roll_runs_gets_the_same_new_key(app, admin, make_key):
    key, plaintext = make_key(admin, name="Nightly load", self_roll_allowed=True)

    results = roll_at_once(app, plaintext, ["same"] * 4)

    assert [status for status, _ in results] == [201] * 4
    assert len({body["data"]["apiKey"] for _, body in results}) == 1
    replacement = assert_one_new_key(key.id)
    assert results[0][1]["data"]["apiKeyId"] == str(replacement.id)
    assert app.test_client().get(ME, headers={"x-api-key": results[0][1]["data"]["apiKey"]}).status_code == 200


@on_postgresql
def test_two_rolls_at_once_make_one_key_and_the_other_is_told_which(app, admin, make_key):
    key, plaintext = make_key(admin, name="Nightly load", self_roll_allowed=True)

    results = roll_at_once(app, plaintext, ["first", "second"])

    assert sorted(status for status, _ in results) == [201, 409]
    replacement = assert_one_new_key(key.id)
    refused = next(body for status, body in results if status == 409)
    assert replacement.hint in refused["errors"][0]["detail"]

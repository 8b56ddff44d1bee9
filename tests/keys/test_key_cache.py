"""Keys a worker keeps between pulls (floqast/keys/cache.py): a kept key costs a pull no query, and every change that
could refuse it (a delete, Open API turned off, allowed addresses, a row removed) reaches the other workers at their
next pull, through the change mark beside the SQLite file or in Redis."""

import logging
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase

from floqast.accounts.models import Role, Team, User
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import cache as key_cache
from floqast.keys.actions import deactivate_key
from floqast.keys.changes import AffectsKeyChecks
from floqast.keys.models import ApiKey
from helpers import (
    CLIENT_IP,
    ME,
    REDIS_URL,
    assert_api_error,
    free_port,
    issue_key,
    on_redis,
    record_at_the_driver,
    sqlite_file_app,
    statements_sent,
)


class Workers:
    """Two apps on one SQLite file, as two gunicorn workers would be, with a team, its admin and a key."""

    def __init__(self, directory, **settings):
        database = directory / "app.sqlite"
        self.apps = [sqlite_file_app(database, **settings), sqlite_file_app(database, **settings)]
        for app in self.apps:
            with app.app_context():
                event.listen(db.engine, "connect", record_at_the_driver)
                db.engine.dispose()  # its connections are made anew, recorded
        with self.apps[1].app_context():
            team = Team(name="Acme Corp", open_api_enabled=True)
            admin = User(team=team, email="admin@acme.test", name="Alex Admin", role=Role.ADMIN, password_hash="-")
            key, self.plaintext = issue_key(admin)
            db.session.commit()
            self.key_id, self.team_id = key.id, team.id
            db.session.remove()

    def pull(self, number: int):
        """GET /api/v1/me with the key from worker `number`, as curl from CLIENT_IP."""
        app = self.apps[number]
        with app.app_context():
            return app.test_client().get(ME, headers={"x-api-key": self.plaintext},
                                         environ_base={"REMOTE_ADDR": CLIENT_IP})

    def change(self, number: int, change) -> None:
        """Run `change(key)` in worker `number` and commit, as an admin's request does."""
        with self.apps[number].app_context():
            change(db.session.get(ApiKey, self.key_id))
            db.session.commit()
            db.session.remove()

    def close(self) -> None:
        for app in self.apps:
            with app.app_context():
                db.engine.dispose()


def assert_deactivated(response) -> None:
    assert assert_api_error(response, 401)["detail"].startswith("This API key was deactivated on")


@pytest.fixture
def workers(tmp_path):
    built = Workers(tmp_path)
    yield built
    built.close()


def test_a_key_pulled_moments_ago_is_not_read_again(workers):
    assert workers.pull(0).status_code == 200  # read, kept, and its Last used written
    with statements_sent() as statements:
        assert workers.pull(0).status_code == 200
        assert workers.pull(0).status_code == 200
    assert statements == []


def test_a_key_deleted_in_another_worker_is_refused_at_its_next_pull(workers):
    assert workers.pull(0).status_code == 200
    workers.change(1, lambda key: deactivate_key(key, by=key.created_by))
    assert_deactivated(workers.pull(0))


def test_open_api_turned_off_for_the_team_is_refused_at_the_next_pull(workers):
    assert workers.pull(0).status_code == 200
    workers.change(1, lambda key: setattr(key.team, "open_api_enabled", False))
    assert_api_error(workers.pull(0), 403, "Open API is not enabled for this team.")


def test_new_allowed_addresses_are_checked_at_the_next_pull(workers):
    assert workers.pull(0).status_code == 200
    workers.change(1, lambda key: setattr(key, "allowed_ips", "198.51.100.0/24"))
    assert_api_error(workers.pull(0), 403, f"This API key cannot be used from {CLIENT_IP}.")
    workers.change(1, lambda key: setattr(key, "allowed_ips", None))
    assert workers.pull(0).status_code == 200


def test_a_key_removed_from_the_database_is_refused_at_the_next_pull(workers):
    assert workers.pull(0).status_code == 200
    workers.change(1, db.session.delete)
    assert_api_error(workers.pull(0), 401, "The API key is not valid.")


def test_a_model_that_declares_it_affects_key_checks_has_its_changes_refuse_kept_keys(workers):
    """A new model whose rows a check reads joins the cache's invalidation by declaring it, and nothing else: here one
    mapped over the keys' own table (as a feature's model of keys might be), beside one that does not declare it."""

    class Base(DeclarativeBase):
        pass

    class Undeclared(Base):
        __table__ = ApiKey.__table__
        __mapper_args__ = {"include_properties": ["id", "deleted_at"]}

    class Declared(AffectsKeyChecks, Base):
        __table__ = ApiKey.__table__
        __mapper_args__ = {"include_properties": ["id", "deleted_at"]}

    def delete_through(model):
        with workers.apps[1].app_context():
            db.session.get(model, workers.key_id).deleted_at = utcnow()
            db.session.commit()

    assert workers.pull(0).status_code == 200
    delete_through(Undeclared)
    assert workers.pull(0).status_code == 200  # the kept copy: no mark was written for a model that did not declare
    delete_through(Declared)
    assert_deactivated(workers.pull(0))


def test_another_workers_last_used_write_keeps_the_key_kept(workers):
    assert workers.pull(0).status_code == 200
    workers.change(1, lambda key: setattr(key, "last_used_at", key.last_used_at - timedelta(hours=1)))
    assert workers.pull(1).status_code == 200  # writes Last used again
    with statements_sent() as statements:
        assert workers.pull(0).status_code == 200
    assert statements == []


def test_a_mark_not_written_stops_the_kept_key_after_key_cache_seconds(workers, monkeypatch, caplog):
    """The bound on a lost mark: the change is committed, the failure logged, and the copy read again once it is
    KEY_CACHE_SECONDS old."""
    now = [1000.0]
    monkeypatch.setattr(key_cache, "clock", lambda: now[0])
    assert workers.pull(0).status_code == 200

    def unwritable(mark):
        raise OSError("disk full")

    monkeypatch.setattr(key_cache.FileMark, "write", unwritable)
    with caplog.at_level(logging.ERROR, logger="floqast.keys.cache"):
        workers.change(1, lambda key: deactivate_key(key, by=key.created_by))
    assert "key change mark not written" in caplog.text
    assert workers.pull(0).status_code == 200
    now[0] += workers.apps[0].config["KEY_CACHE_SECONDS"]
    assert_deactivated(workers.pull(0))


def test_with_key_cache_seconds_zero_every_pull_reads_its_key(tmp_path):
    workers = Workers(tmp_path, KEY_CACHE_SECONDS=0)
    try:
        assert workers.pull(0).status_code == 200
        with statements_sent() as statements:
            assert workers.pull(0).status_code == 200
        assert any("FROM api_keys" in statement for statement in statements)
    finally:
        workers.close()


# ---------------------------------------------------------------- the mark in Redis


@pytest.fixture
def redis_workers(tmp_path):
    """Workers counting in Redis under a namespace of their own, which holds their change mark; `redis_workers(
    **settings)` builds them."""
    import redis

    namespace = f"test-key-cache-{uuid.uuid4().hex}"
    built = []

    def build(**settings) -> Workers:
        built.append(Workers(tmp_path, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_NAMESPACE=namespace, **settings))
        return built[-1]

    yield build
    for workers in built:
        workers.close()
    server = redis.Redis.from_url(REDIS_URL)
    for name in server.scan_iter(f"*{namespace}*"):
        server.delete(name)


@on_redis
def test_on_redis_a_kept_key_costs_one_redis_command_and_no_query(redis_workers, monkeypatch):
    redis_workers = redis_workers()
    assert redis_workers.pull(0).status_code == 200
    import redis

    commands = []
    execute = redis.Redis.execute_command
    monkeypatch.setattr(redis.Redis, "execute_command",
                        lambda self, *args, **options: commands.append(args[0]) or execute(self, *args, **options))
    with statements_sent() as statements:
        response = redis_workers.pull(0)
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"]
    assert statements == []
    assert commands == ["EVALSHA"]  # the pull's count, with the mark read in the same script


@on_redis
def test_on_redis_a_delete_reaches_a_worker_whose_connections_were_killed(redis_workers):
    import redis

    redis_workers = redis_workers()
    assert redis_workers.pull(0).status_code == 200
    redis.Redis.from_url(REDIS_URL).client_kill_filter(_type="normal", skipme=True)
    redis_workers.change(1, lambda key: deactivate_key(key, by=key.created_by))
    assert_deactivated(redis_workers.pull(0))


@on_redis
def test_on_redis_a_key_deleted_right_before_redis_lost_its_data_is_refused(redis_workers):
    """A flush or a failover to an empty replica takes the mark with it: a missing mark means "ask the database"."""
    import redis

    workers = redis_workers()
    assert workers.pull(0).status_code == 200  # kept; no key has changed yet, so no mark has been written
    workers.change(1, lambda key: deactivate_key(key, by=key.created_by))
    server = redis.Redis.from_url(REDIS_URL)
    namespace = workers.apps[0].config["RATELIMIT_NAMESPACE"]
    for name in server.scan_iter(f"*{namespace}*"):
        server.delete(name)
    assert_deactivated(workers.pull(0))
    assert_deactivated(workers.pull(1))


@on_redis
def test_on_redis_the_pull_after_a_change_is_counted_once(redis_workers):
    workers = redis_workers(API_RATE_LIMIT="5 per minute")
    assert workers.pull(0).headers["X-RateLimit-Remaining"] == "4"
    workers.change(1, lambda key: setattr(key, "name", "Power BI (renamed)"))
    response = workers.pull(0)  # the kept copy is stale: not counted on it, read again and counted then
    assert response.get_json()["data"]["name"] == "Power BI (renamed)"
    assert response.headers["X-RateLimit-Remaining"] == "3"


@on_redis
def test_on_redis_a_key_deleted_past_its_limit_gets_its_401_not_a_429(redis_workers):
    workers = redis_workers(API_RATE_LIMIT="1 per minute")
    assert workers.pull(0).status_code == 200
    workers.change(1, lambda key: deactivate_key(key, by=key.created_by))
    refused = workers.pull(0)
    assert_deactivated(refused)
    assert "X-RateLimit-Remaining" not in refused.headers


def test_with_redis_unreachable_every_pull_reads_its_key_and_a_delete_is_refused_at_once(tmp_path):
    workers = Workers(tmp_path, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}")
    try:
        assert workers.pull(0).status_code == 200
        with statements_sent() as statements:
            assert workers.pull(0).status_code == 200
        assert any("FROM api_keys" in statement for statement in statements)
        workers.change(1, lambda key: deactivate_key(key, by=key.created_by))
        assert_deactivated(workers.pull(0))
    finally:
        workers.close()

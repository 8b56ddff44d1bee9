"""Fixtures: the app and its schema built once (SQLite in memory, or PostgreSQL via DATABASE_URL) and emptied
after each test, other apps a test builds, and factories."""

import logging
import os
from datetime import date, timedelta

import pytest
from flask import Flask, g, request_started
from hypothesis import HealthCheck, settings
from sqlalchemy import event, inspect, text

from floqast import create_app
from floqast.accounts.models import Role, Team, User
from floqast.analytics.generate import generate
from floqast.columns import utcnow
from floqast.config import TestConfig
from floqast.extensions import db, limiter
from floqast.keys.models import ANALYTICS_SERVICES
from helpers import CLIENT_IP, PASSWORD, MailServer, free_port, issue_key, log_in, record_at_the_driver

# Property-based tests (hypothesis): bounded everywhere, and the same examples on every CI run, so a red
# build is reproducible and a green one is not luck. HYPOTHESIS_PROFILE picks a profile by hand.
# Each example reuses the test's app and database, which is what these tests want.
_HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, **_HYPOTHESIS)
settings.register_profile("ci", max_examples=100, derandomize=True, print_blob=True, **_HYPOTHESIS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def _app():
    """The app and its schema, built once for the whole run."""
    app = create_app(TestConfig)
    with app.app_context():
        event.listen(db.engine, "connect", record_at_the_driver)
        db.drop_all()
        db.create_all()
    request_started.connect(_fresh_g, app)
    yield app
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def _fresh_g(sender, **extra):
    """Give every test request an empty `flask.g`, as a real server does.

    The `app` fixture holds an app context open for the whole test, and Flask reuses an open app
    context for test-client requests, so `g` (Flask-Login's cached user, Flask-WTF's CSRF token)
    would leak from one request to the next: an anonymous client would be served as the admin who
    made the previous request, and a logout would look effective whatever the session held.
    """
    g.__dict__.clear()


def _empty_every_table() -> None:
    """Delete every row and restart the ids, so that the next test starts from an empty database."""
    tables = db.metadata.sorted_tables
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # A connection left open elsewhere would make TRUNCATE wait forever: fail the test instead.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            names = ", ".join(connection.dialect.identifier_preparer.quote(table.name) for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:  # SQLite: no table is AUTOINCREMENT, so ids start again from 1 once the rows are gone
            for table in reversed(tables):
                connection.execute(table.delete())


@pytest.fixture
def app(_app):
    """The app in a fresh app context, on an empty database, with its rate-limit counts and settings as built.

    Tests may change app.config as they like: every setting is put back afterwards.
    """
    settings = dict(_app.config)
    with _app.app_context():
        limiter.init_app(_app)  # new empty counts, and the limiter back on this app after one a test built
        _app.extensions["key_cache"].clear()  # emptying the tables below writes no change mark
        yield _app
        _app.extensions["request_log"].take()  # rows a test logged and never read are not the next test's
        db.session.remove()
        _empty_every_table()
    _app.config.clear()
    _app.config.update(settings)


@pytest.fixture
def key_read_every_pull(app, monkeypatch):
    """No key kept between pulls, as on PostgreSQL without Redis: for tests of what reading a key costs."""
    from floqast.keys.cache import KeyCache

    monkeypatch.setitem(app.extensions, "key_cache", KeyCache(None, 0, 0))


@pytest.fixture
def make_app(app):
    """Build another app with some settings changed (TestConfig's, by name); its connections are closed after
    the test. Its database gets the schema unless `schema=False` (an in-memory SQLite database is its engine's
    own, so it starts empty)."""
    built = []

    def make(schema=True, **settings) -> Flask:
        other = create_app(type("ChangedConfig", (TestConfig,), settings))
        built.append(other)
        if schema:
            with other.app_context():
                db.create_all()
        return other

    yield make
    for other in built:
        other.extensions["request_log"].take()  # its unread rows are not for a later flush to write
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api_get(client):
    """GET an /api/v1 path as curl would, the key (if any) in x-api-key, from CLIENT_IP."""

    def get(path, key=None, headers=(), **kwargs):
        headers = {**dict(headers), **({"x-api-key": key} if key is not None else {})}
        return client.get(path, headers=headers, environ_base={"REMOTE_ADDR": CLIENT_IP}, **kwargs)

    return get


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def mail_server(app):
    """A real SMTP server, running, that the app sends its mail to (links in it go to https://keys.example.com)."""
    server = MailServer(free_port())
    server.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port, MAIL_FROM="FloQast Open API <keys@floqast.test>",
                      APP_BASE_URL="https://keys.example.com")
    yield server
    server.stop()


@pytest.fixture
def make_team(app):
    def make(name="Acme Corp", open_api=True, timezone="UTC") -> Team:
        team = Team(name=name, open_api_enabled=open_api, timezone=timezone)
        db.session.add(team)
        db.session.commit()
        return team

    return make


@pytest.fixture
def make_user(app):
    def make(team: Team, role=Role.ADMIN, email=None, name=None) -> User:
        role = Role(role)
        email = email or f"{role.value}-{team.id}@example.test"
        user = User(team=team, role=role, email=email, name=name or f"{role.label} of {team.name}")
        user.set_password(PASSWORD, app.config["BCRYPT_ROUNDS"])
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_key(app):
    def make(creator: User, name="Power BI", services=ANALYTICS_SERVICES, expires_on: date | None = None, **fields):
        """A key and its plaintext, committed; extra fields (deleted_at, last_used_at, ...) are set as given."""
        key, plaintext = issue_key(creator, name, services, expires_on, **fields)
        db.session.commit()
        return key, plaintext

    return make


@pytest.fixture
def key_to_books(team, admin, make_key):
    """Give the team the close data of a generator Profile; returns a plaintext key of its admin for both services."""

    def make(profile) -> str:
        generate(team, profile)
        return make_key(admin)[1]

    return make


@pytest.fixture
def empty_db(app):
    """The test database with no tables, not even alembic_version, so migrations can run from nothing."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers)

    def drop_everything():
        db.session.remove()
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))

    drop_everything()
    assert inspect(db.engine).get_table_names() == []
    yield
    drop_everything()
    db.create_all()  # the schema every other test shares
    # Alembic's env.py configures logging from alembic.ini; put the test run's logging back.
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]


@pytest.fixture
def team(make_team):
    return make_team()


@pytest.fixture
def admin(team, make_user):
    return make_user(team, Role.ADMIN, email="admin@acme.test", name="Alex Admin")


@pytest.fixture
def keys_in_every_status(admin, make_key, team):
    """By name: two active keys (one expiring today), one expired, two deactivated (one of them also expired)."""
    today = team.today()
    yesterday = today - timedelta(days=1)
    made = {
        "Forever": make_key(admin, name="Forever")[0],
        "Last day": make_key(admin, name="Last day", expires_on=today)[0],
        "Lapsed": make_key(admin, name="Lapsed", expires_on=yesterday)[0],
        "Revoked": make_key(admin, name="Revoked", deleted_at=utcnow(), deleted_by_id=admin.id)[0],
        "Lapsed and revoked": make_key(
            admin, name="Lapsed and revoked", expires_on=yesterday, deleted_at=utcnow(), deleted_by_id=admin.id
        )[0],
    }
    return made


@pytest.fixture
def admin_client(client, admin):
    """A client signed in as the Acme admin."""
    log_in(client, admin)
    return client

"""Fixtures: an app on a fresh schema (SQLite in memory, or PostgreSQL via DATABASE_URL), and factories."""

import logging
import os
import re
import sqlite3
from contextlib import contextmanager
from datetime import date

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine

from floqast import create_app
from floqast.config import TestConfig
from floqast.extensions import db
from floqast.models import ApiKey, Role, Service, Team, User

PASSWORD = "correct horse battery staple"

# Property-based tests (hypothesis): bounded everywhere, and the same examples on every CI run, so a red
# build is reproducible and a green one is not luck. HYPOTHESIS_PROFILE picks a profile by hand.
# Each example reuses the test's app and database, which is what these tests want.
_HYPOTHESIS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, **_HYPOTHESIS)
settings.register_profile("ci", max_examples=100, derandomize=True, print_blob=True, **_HYPOTHESIS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


# The open statements_sent() blocks, each the list of statements it has seen.
_RECORDERS: list[list[str]] = []
# Not statements of the app's: the driver's transaction control and the pool's pre-ping (SQLAlchemy pings
# PostgreSQL with an empty statement, other databases with SELECT 1).
_NOT_THE_APPS = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SELECT 1\s*$|;\s*$)", re.IGNORECASE)


def _record(sql) -> None:
    sql = sql if isinstance(sql, str) else str(sql)
    if _RECORDERS and not _NOT_THE_APPS.match(sql):
        for sent in _RECORDERS:
            sent.append(" ".join(sql.split()))


def _recording(cursor_class):
    """A psycopg cursor class that records what it executes."""

    class Recording(cursor_class):
        def execute(self, query, *args, **kwargs):
            _record(query)
            return super().execute(query, *args, **kwargs)

        def executemany(self, query, *args, **kwargs):
            _record(query)
            return super().executemany(query, *args, **kwargs)

    return Recording


def _record_at_the_driver(dbapi_connection, connection_record) -> None:
    """Record every statement a new connection runs, at the driver: the key check runs on the driver's own
    cursor (models.KeyLookup), past SQLAlchemy's execution events."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.set_trace_callback(_record)
    else:
        dbapi_connection.cursor_factory = _recording(dbapi_connection.cursor_factory)
        dbapi_connection.server_cursor_factory = _recording(dbapi_connection.server_cursor_factory)


@contextmanager
def statements_sent():
    """The SQL statements the app's database receives while the block runs, in order (without transaction
    control and pool pings), whichever layer sent them."""
    sent: list[str] = []
    _RECORDERS.append(sent)
    try:
        yield sent
    finally:
        _RECORDERS.remove(sent)


@pytest.fixture
def app():
    app = create_app(TestConfig)
    with app.app_context():
        event.listen(db.engine, "connect", _record_at_the_driver)
        db.drop_all()
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


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
    def make(creator: User, name="Power BI", services=tuple(Service), expires_on: date | None = None, **fields):
        """A key and its plaintext; extra fields (deleted_at, last_used_at, ...) are set as given."""
        key, plaintext = ApiKey.issue(
            creator=creator, name=name, services=services, expires_on=expires_on,
            pepper=app.config["API_KEY_PEPPER"].encode(),
        )
        for field, value in fields.items():
            setattr(key, field, value)
        db.session.add(key)
        db.session.commit()
        return key, plaintext

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
    db.create_all()  # leave the schema the app fixture expects to tear down
    # Alembic's env.py configures logging from alembic.ini; put the test run's logging back.
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]


@pytest.fixture
def team(make_team):
    return make_team()


@pytest.fixture
def admin(team, make_user):
    return make_user(team, Role.ADMIN, email="admin@acme.test", name="Alex Admin")


def log_in(client, user: User) -> None:
    """Sign the test client in as `user`, the way Flask-Login records it in the session."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def csrf_token(client, path="/") -> str:
    """The CSRF token that every page hands the browser (for htmx, in the body's hx-headers)."""
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


@pytest.fixture
def admin_client(client, admin):
    """A client signed in as the Acme admin."""
    log_in(client, admin)
    return client


@pytest.fixture(autouse=True)
def fresh_g_per_request(app):
    """Give every test request an empty `flask.g`, as a real server does.

    The `app` fixture holds an app context open for the whole test, and Flask reuses an open app
    context for test-client requests, so `g` (Flask-Login's cached user, Flask-WTF's CSRF token)
    would leak from one request to the next: an anonymous client would be served as the admin who
    made the previous request, and a logout would look effective whatever the session held.
    """
    from flask import g, request_started

    def clear_g(sender, **extra):
        g.__dict__.clear()

    request_started.connect(clear_g, app)
    yield
    request_started.disconnect(clear_g, app)



@pytest.fixture(scope="module", autouse=True)
def close_database_connections():
    """Close the connections each test's app opened, once that app has been torn down.

    Each test builds its own app and engine; left to the garbage collector, their pooled
    connections pile up on a shared PostgreSQL server until it refuses new clients. The app
    fixture tears down after any test-level fixture here, so engines are closed at the next
    test's start (and at the end of the module).
    """
    engines = set()

    def remember(connection):
        engines.add(connection.engine)

    event.listen(Engine, "engine_connect", remember)
    yield engines
    event.remove(Engine, "engine_connect", remember)
    for engine in engines:
        engine.dispose()


@pytest.fixture(autouse=True)
def _close_previous_tests_connections(app, close_database_connections):
    with app.app_context():  # the browser tests' app keeps no context open
        current = db.engine
    for engine in list(close_database_connections):
        if engine is not current and getattr(engine.pool, "checkedout", lambda: 0)() == 0:
            engine.dispose()
            close_database_connections.discard(engine)


class Element:
    """A parsed HTML element: enough of a DOM for tests to find elements and read their text."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, tag: str, attrs: dict, parent=None):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def get(self, name: str, default=None):
        return self.attrs.get(name, default)

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, attrs: dict | None = None, **kwargs) -> list["Element"]:
        """Descendants with this tag and these attribute values (class_ matches one class word)."""
        wanted = {**(attrs or {}), **{k.rstrip("_").replace("_", "-"): v for k, v in kwargs.items()}}

        def matches(element):
            if tag and element.tag != tag:
                return False
            for name, value in wanted.items():
                if name == "class":
                    if value not in (element.get("class") or "").split():
                        return False
                elif value is True:
                    if name not in element.attrs:
                        return False
                elif element.get(name) != value:
                    return False
            return True

        return [element for element in self.iter() if matches(element)]

    def find(self, tag: str | None = None, attrs: dict | None = None, **kwargs) -> "Element | None":
        found = self.find_all(tag, attrs, **kwargs)
        return found[0] if found else None

    def by_id(self, element_id: str) -> "Element | None":
        return self.find(id=element_id)

    @property
    def text(self) -> str:
        """The text inside, with runs of whitespace collapsed to one space."""
        parts = []

        def walk(node):
            for child in node.children:
                parts.append(child) if isinstance(child, str) else walk(child)

        walk(self)
        return " ".join("".join(parts).split())

    def __repr__(self):
        return f"<{self.tag} {self.attrs}>"


def parse_html(source) -> Element:
    """The document (or fragment) as a tree of Elements; accepts a str or a test response."""
    from html.parser import HTMLParser

    if not isinstance(source, str):
        source = source.get_data(as_text=True)
    root = Element("#document", {})

    class Builder(HTMLParser):
        current = root

        def handle_starttag(self, tag, attrs):
            element = Element(tag, {name: "" if value is None else value for name, value in attrs}, self.current)
            self.current.children.append(element)
            if tag not in Element.VOID:
                self.current = element

        def handle_startendtag(self, tag, attrs):
            self.current.children.append(
                Element(tag, {name: "" if value is None else value for name, value in attrs}, self.current)
            )

        def handle_endtag(self, tag):
            node = self.current
            while node is not root and node.tag != tag:
                node = node.parent
            if node is not root:
                self.current = node.parent

        def handle_data(self, data):
            self.current.children.append(data)

    builder = Builder(convert_charrefs=True)
    builder.feed(source)
    builder.close()
    return root

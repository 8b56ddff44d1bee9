"""Fixtures: an app on a fresh schema (SQLite in memory, or PostgreSQL via DATABASE_URL), and factories."""

import re
from datetime import date

import pytest

from floqast import create_app
from floqast.config import TestConfig
from floqast.extensions import db
from floqast.models import ApiKey, Role, Service, Team, User

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app():
    app = create_app(TestConfig)
    with app.app_context():
        db.drop_all()
        db.create_all()
        yield app
        db.session.remove()
        db.drop_all()


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

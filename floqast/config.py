"""Settings read from the environment in one place; test settings as a subclass."""

import json
import os
import secrets
from pathlib import Path

REQUIRED_SECRETS = ("SECRET_KEY", "API_KEY_PEPPER")


class ConfigError(RuntimeError):
    """The environment does not hold what the app needs to start."""


def database_url(url: str | None) -> str | None:
    """Point plain PostgreSQL URLs at the psycopg 3 driver."""
    if url and url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    API_KEY_PEPPER = os.environ.get("API_KEY_PEPPER")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # Where dev secrets and the default SQLite file live; unset: instance/ in the checkout.
    INSTANCE_PATH = os.environ.get("FLOQAST_INSTANCE_PATH")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    DEMO = os.environ.get("FLOQAST_DEMO") == "1"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # CSRF is checked by our own before_request so that the key-authenticated API is left out.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT = None
    BCRYPT_ROUNDS = 12
    LAST_USED_INTERVAL_SECONDS = 60


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    API_KEY_PEPPER = "test-pepper"
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL")) or "sqlite://"
    BCRYPT_ROUNDS = 4


def require_secrets(app) -> None:
    """Refuse to start without secrets, except in debug and demo runs, which keep generated ones."""
    missing = [name for name in REQUIRED_SECRETS if not app.config.get(name)]
    if not missing:
        return
    if not (app.debug or app.config.get("DEMO")):
        names = " and ".join(missing)
        raise ConfigError(
            f"{names} {'is' if len(missing) == 1 else 'are'} not set: export "
            f"{'it' if len(missing) == 1 else 'each'} with a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    path = Path(app.instance_path) / "dev-secrets.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for name in missing:
        app.config[name] = stored.setdefault(name, secrets.token_urlsafe(48))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(stored))


def key_pepper() -> bytes:
    """The running app's pepper for API key digests."""
    from flask import current_app

    return current_app.config["API_KEY_PEPPER"].encode()

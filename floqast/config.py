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


def env_flag(name: str, default: bool) -> bool:
    """A yes/no setting from the environment: 1/true/yes/on or 0/false/no/off; unset gives `default`."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    API_KEY_PEPPER = os.environ.get("API_KEY_PEPPER")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    # Where dev secrets and the default SQLite file live; unset: instance/ in the checkout.
    INSTANCE_PATH = os.environ.get("FLOQAST_INSTANCE_PATH")
    # A pooled connection idle longer than this is pinged before use (floqast/pool.py): HikariCP's 500 ms.
    DATABASE_PING_AFTER_IDLE_SECONDS = float(os.environ.get("DATABASE_PING_AFTER_IDLE_SECONDS") or 0.5)
    DEMO = os.environ.get("FLOQAST_DEMO") == "1"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Secure (HTTPS only) unless SESSION_COOKIE_SECURE=0; debug and demo runs on plain http turn it off.
    SESSION_COOKIE_SECURE = env_flag("SESSION_COOKIE_SECURE", default=not DEMO)
    # CSRF is checked by our own before_request so that the key-authenticated API is left out.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT = None
    BCRYPT_ROUNDS = 12
    LAST_USED_INTERVAL_SECONDS = 60
    # How long an allowRedirect download link works after it is given.
    DOWNLOAD_URL_SECONDS = int(os.environ.get("DOWNLOAD_URL_SECONDS") or 300)
    # Every form is a few hundred bytes: a larger body is refused (413) before it is read.
    MAX_CONTENT_LENGTH = 64 * 1024
    # Rate limits (Flask-Limiter notation); counts in memory, or in Redis at RATELIMIT_STORAGE_URI.
    # Failed logins only: per client IP, per account from one IP, and per account from every IP together (a
    # backstop against guessing from many addresses, high because it refuses the account's owner too).
    LOGIN_FAILURES_PER_IP = os.environ.get("LOGIN_FAILURES_PER_IP", "30 per minute")
    LOGIN_FAILURES_PER_ACCOUNT_AND_IP = os.environ.get("LOGIN_FAILURES_PER_ACCOUNT_AND_IP", "5 per minute")
    LOGIN_FAILURES_PER_ACCOUNT = os.environ.get("LOGIN_FAILURES_PER_ACCOUNT", "50 per minute")
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600 per minute")
    API_REFUSAL_LIMIT = os.environ.get("API_REFUSAL_LIMIT", "60 per minute")
    # Reports of leaked keys (POST /api/v1/credentials/revoke, no key needed) per client IP.
    REVOKE_RATE_LIMIT = os.environ.get("REVOKE_RATE_LIMIT", "30 per minute")
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "inprocess://")
    RATELIMIT_NAMESPACE = "floqast"
    # Keys a worker checked, kept between its pulls while no key or team changes (floqast/key_cache.py), for at
    # most KEY_CACHE_SECONDS (0: never kept), at most KEY_CACHE_SIZE of them.
    KEY_CACHE_SECONDS = float(os.environ.get("KEY_CACHE_SECONDS") or 10)
    KEY_CACHE_SIZE = int(os.environ.get("KEY_CACHE_SIZE") or 10_000)
    # How many proxies of ours (TLS terminator, load balancer) stand before the app; 0 trusts no
    # X-Forwarded-* header. Set it behind a proxy, or every client has the proxy's IP.
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT") or 0)
    # The host names this site answers to (comma-separated; ".example.com" takes its subdomains too); a
    # request for any other Host is a 400. Unset: any host (Flask's own check, TRUSTED_HOSTS).
    # The API request log (floqast/request_log.py): on unless REQUEST_LOG_ENABLED=0; each worker writes its rows
    # in batches of REQUEST_LOG_BATCH_ROWS, or when the oldest is REQUEST_LOG_FLUSH_SECONDS old; kept for
    # REQUEST_LOG_RETENTION_DAYS by `flask --app wsgi api-log prune`.
    REQUEST_LOG_ENABLED = env_flag("REQUEST_LOG_ENABLED", default=True)
    REQUEST_LOG_BATCH_ROWS = int(os.environ.get("REQUEST_LOG_BATCH_ROWS") or 500)
    REQUEST_LOG_FLUSH_SECONDS = float(os.environ.get("REQUEST_LOG_FLUSH_SECONDS") or 1.0)
    REQUEST_LOG_RETENTION_DAYS = int(os.environ.get("REQUEST_LOG_RETENTION_DAYS") or 90)
    REQUEST_LOG_BACKGROUND_FLUSH = True
    TRUSTED_HOSTS = [host.strip() for host in os.environ.get("TRUSTED_HOSTS", "").split(",") if host.strip()] or None
    # Mail (key notices). Without MAIL_SERVER, demo runs write each message to instance/outbox/ instead.
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT") or 587)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    # STARTTLS before logging in; on by default when there is a password to protect.
    MAIL_USE_TLS = env_flag("MAIL_USE_TLS", default=bool(MAIL_USERNAME))
    MAIL_FROM = os.environ.get("MAIL_FROM")
    # Where people open the site, for links in mail (no request to take it from in a cron run).
    APP_BASE_URL = os.environ.get("APP_BASE_URL")
    # GitHub's secret scanning public keys (the JSON of GITHUB_SECRET_SCANNING_KEYS_URL), which sign its reports
    # of leaked keys; `flask --app wsgi keys github-public-keys` downloads them. Unset: in the instance folder.
    GITHUB_SECRET_SCANNING_KEYS = os.environ.get("GITHUB_SECRET_SCANNING_KEYS")
    GITHUB_SECRET_SCANNING_KEYS_URL = os.environ.get(
        "GITHUB_SECRET_SCANNING_KEYS_URL", "https://api.github.com/meta/public_keys/secret_scanning"
    )


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    API_KEY_PEPPER = "test-pepper"
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL")) or "sqlite://"
    BCRYPT_ROUNDS = 4
    SESSION_COOKIE_SECURE = False
    RATELIMIT_STORAGE_URI = "inprocess://"
    # High enough for suites that log in and pull a lot; tests of the limits set low ones on their app.
    LOGIN_FAILURES_PER_IP = LOGIN_FAILURES_PER_ACCOUNT_AND_IP = LOGIN_FAILURES_PER_ACCOUNT = "10000 per minute"
    API_RATE_LIMIT = "100000 per minute"
    API_REFUSAL_LIMIT = "100000 per minute"
    # No mail leaves a test run but to the SMTP server a test starts and names.
    MAIL_SERVER = MAIL_USERNAME = MAIL_PASSWORD = MAIL_FROM = APP_BASE_URL = None
    MAIL_USE_TLS = False
    REVOKE_RATE_LIMIT = "100000 per minute"
    # Tests write the request log when they read it, or move the clock: no thread writing on its own (it would
    # share the in-memory database's one connection) and no flush because a slow test took a second.
    REQUEST_LOG_BACKGROUND_FLUSH = False
    REQUEST_LOG_FLUSH_SECONDS = 3600.0


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
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'); for a demo run, export FLOQAST_DEMO=1 "
            "instead, which keeps generated ones in the instance folder"
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

"""Every setting in one table (name, environment variable, how its value is read, default), read when an app is
made, so that what the environment holds then is what the app gets; TestConfig: the test suite's overrides."""

import json
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUIRED_SECRETS = ("SECRET_KEY", "API_KEY_PEPPER")
# Where debug and demo runs keep the secrets they made, in the instance folder.
DEV_SECRETS = "dev-secrets.json"


class ConfigError(RuntimeError):
    """The environment does not hold what the app needs to start."""


def database_url(url: str | None) -> str | None:
    """Point plain PostgreSQL URLs at the psycopg 3 driver."""
    if url and url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def flag(value: str) -> bool:
    """A yes/no setting: 1/true/yes/on is yes, anything else no."""
    return value.strip().lower() in ("1", "true", "yes", "on")


def only_one(value: str) -> bool:
    """A switch that only `1` turns on."""
    return value == "1"


def pepper_pairs(value: str) -> tuple[tuple[int, str], ...]:
    """`id:secret` pairs, comma-separated, newest last: each id a whole number from 1, each once, each secret not
    empty."""
    pairs = []
    for item in value.split(","):
        number, colon, secret = item.strip().partition(":")
        if not (colon and number.isdecimal() and int(number) >= 1 and secret):
            raise ConfigError("API_KEY_PEPPERS holds an entry that is not id:secret (a whole number from 1, a colon, "
                              "the secret): write them as 1:first-secret,2:second-secret, newest last")
        if int(number) in dict(pairs):
            raise ConfigError(f"API_KEY_PEPPERS gives pepper {int(number)} twice: each id names one pepper")
        pairs.append((int(number), secret))
    return tuple(pairs)


def host_names(value: str) -> list[str] | None:
    """Comma-separated host names; none given is None."""
    return [host.strip() for host in value.split(",") if host.strip()] or None


@dataclass(frozen=True)
class Setting:
    """One setting: read from `env` (None: fixed) by `parse` when set and not empty, else `default`, which may be
    a function of the settings above it in the table."""

    name: str
    env: str | None
    parse: Callable[[str], Any] = str
    default: Any = None


@dataclass(frozen=True)
class EnvironmentOr:
    """An override that gives way to the setting's environment variable: `value` only when that is unset."""

    value: Any


SETTINGS = (
    Setting("SECRET_KEY", "SECRET_KEY"),
    Setting("API_KEY_PEPPER", "API_KEY_PEPPER"),
    # Peppers by id, `id:secret` pairs, newest last (pepper_pairs); API_KEY_PEPPER, when set, is pepper 1.
    Setting("API_KEY_PEPPERS", "API_KEY_PEPPERS", pepper_pairs),
    # Unset: the SQLite file floqast.sqlite in the instance folder (create_app).
    Setting("SQLALCHEMY_DATABASE_URI", "DATABASE_URL", database_url),
    # Where dev secrets and the default SQLite file live; unset: instance/ in the checkout.
    Setting("INSTANCE_PATH", "FLOQAST_INSTANCE_PATH"),
    # A pooled connection idle longer than this is pinged before use (floqast/pool.py): HikariCP's 500 ms.
    Setting("DATABASE_PING_AFTER_IDLE_SECONDS", "DATABASE_PING_AFTER_IDLE_SECONDS", float, 0.5),
    Setting("DEMO", "FLOQAST_DEMO", only_one, False),
    Setting("SESSION_COOKIE_HTTPONLY", None, default=True),
    Setting("SESSION_COOKIE_SAMESITE", None, default="Lax"),
    # Secure (HTTPS only) unless SESSION_COOKIE_SECURE=0; debug and demo runs on plain http turn it off.
    Setting("SESSION_COOKIE_SECURE", "SESSION_COOKIE_SECURE", flag, lambda settings: not settings["DEMO"]),
    # CSRF is checked by our own before_request so that the key-authenticated API is left out.
    Setting("WTF_CSRF_CHECK_DEFAULT", None, default=False),
    Setting("WTF_CSRF_TIME_LIMIT", None, default=None),
    Setting("BCRYPT_ROUNDS", None, default=12),
    Setting("LAST_USED_INTERVAL_SECONDS", None, default=60),
    # How long an allowRedirect download link works after it is given.
    Setting("DOWNLOAD_URL_SECONDS", "DOWNLOAD_URL_SECONDS", int, 300),
    # Every form is a few hundred bytes: a larger body is refused (413) before it is read.
    Setting("MAX_CONTENT_LENGTH", None, default=64 * 1024),
    # Rate limits (Flask-Limiter notation); counts in memory, or in Redis at RATELIMIT_STORAGE_URI.
    # Failed logins only: per client IP, per account from one IP, and per account from every IP together (a
    # backstop against guessing from many addresses, high because it refuses the account's owner too).
    Setting("LOGIN_FAILURES_PER_IP", "LOGIN_FAILURES_PER_IP", default="30 per minute"),
    Setting("LOGIN_FAILURES_PER_ACCOUNT_AND_IP", "LOGIN_FAILURES_PER_ACCOUNT_AND_IP", default="5 per minute"),
    Setting("LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_FAILURES_PER_ACCOUNT", default="50 per minute"),
    Setting("API_RATE_LIMIT", "API_RATE_LIMIT", default="600 per minute"),
    # How long a password typed at login or at Confirm access lets an admin create, roll or widen keys without
    # typing it again (floqast/settings/access.py).
    Setting("CONFIRM_ACCESS_SECONDS", "CONFIRM_ACCESS_SECONDS", int, 900),
    # The most requests a minute an admin may give one key of its own.
    Setting("API_RATE_LIMIT_MAX", "API_RATE_LIMIT_MAX", int, 6000),
    Setting("API_REFUSAL_LIMIT", "API_REFUSAL_LIMIT", default="60 per minute"),
    # Reports of leaked keys (POST /api/v1/credentials/revoke, no key needed) per client IP.
    Setting("REVOKE_RATE_LIMIT", "REVOKE_RATE_LIMIT", default="30 per minute"),
    Setting("RATELIMIT_STORAGE_URI", "RATELIMIT_STORAGE_URI", default="inprocess://"),
    Setting("RATELIMIT_NAMESPACE", None, default="floqast"),
    # Keys a worker checked, kept between its pulls while no key or team changes (floqast/keys/cache.py), for at
    # most KEY_CACHE_SECONDS (0: never kept), at most KEY_CACHE_SIZE of them.
    Setting("KEY_CACHE_SECONDS", "KEY_CACHE_SECONDS", float, 10.0),
    Setting("KEY_CACHE_SIZE", "KEY_CACHE_SIZE", int, 10_000),
    # How many proxies of ours (TLS terminator, load balancer) stand before the app; 0 trusts no
    # X-Forwarded-* header. Set it behind a proxy, or every client has the proxy's IP.
    Setting("TRUSTED_PROXY_COUNT", "TRUSTED_PROXY_COUNT", int, 0),
    # The host names this site answers to (comma-separated; ".example.com" takes its subdomains too); a
    # request for any other Host is a 400. Unset: any host (Flask's own check, TRUSTED_HOSTS).
    Setting("TRUSTED_HOSTS", "TRUSTED_HOSTS", host_names),
    # The API request log (floqast/usage/): on unless REQUEST_LOG_ENABLED=0; each worker writes its rows in
    # batches of REQUEST_LOG_BATCH_ROWS, or when the oldest is REQUEST_LOG_FLUSH_SECONDS old; kept for
    # REQUEST_LOG_RETENTION_DAYS by `flask --app wsgi api-log prune`.
    Setting("REQUEST_LOG_ENABLED", "REQUEST_LOG_ENABLED", flag, True),
    Setting("REQUEST_LOG_BATCH_ROWS", "REQUEST_LOG_BATCH_ROWS", int, 500),
    Setting("REQUEST_LOG_FLUSH_SECONDS", "REQUEST_LOG_FLUSH_SECONDS", float, 1.0),
    Setting("REQUEST_LOG_RETENTION_DAYS", "REQUEST_LOG_RETENTION_DAYS", int, 90),
    Setting("REQUEST_LOG_BACKGROUND_FLUSH", None, default=True),
    # Mail (key notices). Without MAIL_SERVER, demo runs write each message to instance/outbox/ instead.
    Setting("MAIL_SERVER", "MAIL_SERVER"),
    Setting("MAIL_PORT", "MAIL_PORT", int, 587),
    Setting("MAIL_USERNAME", "MAIL_USERNAME"),
    Setting("MAIL_PASSWORD", "MAIL_PASSWORD"),
    # STARTTLS before logging in; on by default when there is a password to protect.
    Setting("MAIL_USE_TLS", "MAIL_USE_TLS", flag, lambda settings: bool(settings["MAIL_USERNAME"])),
    Setting("MAIL_FROM", "MAIL_FROM"),
    # Where people open the site, for links in mail (no request to take it from in a cron run).
    Setting("APP_BASE_URL", "APP_BASE_URL"),
    # GitHub's secret scanning public keys (the JSON of GITHUB_SECRET_SCANNING_KEYS_URL), which sign its reports
    # of leaked keys; `flask --app wsgi keys github-public-keys` downloads them. Unset: in the instance folder.
    Setting("GITHUB_SECRET_SCANNING_KEYS", "GITHUB_SECRET_SCANNING_KEYS"),
    # Webhooks go only to https:// URLs of public addresses; 1 lets them go to plain http:// and to loopback and
    # private addresses too, for development and tests.
    Setting("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", only_one, False),
    Setting("GITHUB_SECRET_SCANNING_KEYS_URL", "GITHUB_SECRET_SCANNING_KEYS_URL",
            default="https://api.github.com/meta/public_keys/secret_scanning"),
)


def overrides_of(config: object | None) -> dict[str, Any]:
    """The UPPERCASE attributes of a class of overrides, as Flask's from_object reads them."""
    return {name: getattr(config, name) for name in dir(config) if name.isupper()} if config is not None else {}


def read_settings(environ: Mapping[str, str], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of the table, from `environ` unless overridden, and the overrides' other settings."""
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        chosen = overrides.get(setting.name, EnvironmentOr(setting.default))
        if isinstance(chosen, EnvironmentOr):
            given = environ.get(setting.env, "") if setting.env else ""
            if given.strip():
                chosen = setting.parse(given)
            else:
                chosen = chosen.value(settings) if callable(chosen.value) else chosen.value
        settings[setting.name] = chosen
    return {**overrides, **settings}


class TestConfig:
    TESTING = True
    SECRET_KEY = "test-secret-key"
    API_KEY_PEPPER = "test-pepper"
    # The database the environment names (DATABASE_URL, PostgreSQL in CI), else one in memory.
    SQLALCHEMY_DATABASE_URI = EnvironmentOr("sqlite://")
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
    """Refuse to start without secrets, except in debug and demo runs, which keep generated ones (their pepper stays
    pepper 1 beside API_KEY_PEPPERS); elsewhere API_KEY_PEPPERS stands in for API_KEY_PEPPER."""
    missing = [name for name in REQUIRED_SECRETS if not app.config.get(name)]
    if not missing:
        return
    if not (app.debug or app.config.get("DEMO")):
        missing = [name for name in missing if not (name == "API_KEY_PEPPER" and app.config.get("API_KEY_PEPPERS"))]
        if not missing:
            return
        names = " and ".join(missing)
        raise ConfigError(
            f"{names} {'is' if len(missing) == 1 else 'are'} not set: export "
            f"{'it' if len(missing) == 1 else 'each'} with a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'); for a demo run, export FLOQAST_DEMO=1 "
            "instead, which keeps generated ones in the instance folder"
        )
    path = Path(app.instance_path) / DEV_SECRETS
    stored = dev_secrets(path)
    for name in missing:
        if not isinstance(stored.get(name), str) or not stored[name]:
            raise ConfigError(f"{path} holds no {name}: export {name}, or delete the file to have new secrets "
                              "made (sessions end, and keys made with the old pepper stop working)")
        app.config[name] = stored[name]


def key_peppers(config: Mapping[str, Any]) -> dict[int, bytes]:
    """The peppers API keys may be stored under, by id, oldest first: API_KEY_PEPPER as pepper 1 (when set), then
    API_KEY_PEPPERS. New keys take the last one."""
    peppers = {} if not config.get("API_KEY_PEPPER") else {1: config["API_KEY_PEPPER"]}
    for number, secret in config.get("API_KEY_PEPPERS") or ():
        if peppers.get(number, secret) != secret:
            raise ConfigError(f"API_KEY_PEPPER is pepper {number}, and API_KEY_PEPPERS gives pepper {number} another "
                              f"secret: give pepper 1 once, or number the new pepper 2")
        peppers.pop(number, None)
        peppers[number] = secret
    return {number: secret.encode() for number, secret in peppers.items()}


def dev_secrets(path: Path) -> dict[str, str]:
    """The secrets of debug and demo runs in `path`, made and written the first time, whole or not at all, and
    never written again: every starter (gunicorn's workers at once) reads the same ones, and none reads half a
    file. The file holds a secret for each of REQUIRED_SECRETS, only its owner may read it (0600), and a secret
    given in the environment is used instead of the file's."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        made = {name: secrets.token_urlsafe(48) for name in REQUIRED_SECRETS}
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(made, file)
                file.flush()
                os.fsync(file.fileno())
            # A hard link appears whole, at once, and only where no file is: of starters racing, the first wins
            # and the others read its file. (os.replace would let a later one overwrite secrets already in use.)
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read ({error}): delete it to have new secrets made") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{path} does not hold an object of secrets: delete it to have new secrets made")
    return stored


def current_peppers() -> dict[int, bytes]:
    """The running app's peppers for API key digests, by id, oldest first."""
    from flask import current_app

    return current_app.config["KEY_PEPPERS"]


def key_pepper() -> tuple[int, bytes]:
    """The running app's newest pepper, which new keys are stored under, and its id."""
    return next(reversed(current_peppers().items()))

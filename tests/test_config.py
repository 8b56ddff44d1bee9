"""Settings: the app refuses to start without its secrets, except in debug and demo runs."""

import json
import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from limits import parse

from floqast import create_app
from floqast.config import (
    SETTINGS,
    ConfigError,
    EnvironmentOr,
    TestConfig,
    database_url,
    key_pepper,
    read_settings,
    require_secrets,
)

ROOT = Path(__file__).resolve().parent.parent


def settings(instance: Path, **values) -> type:
    """A production-like config (no debug, no demo, both secrets) with `values` on top."""
    base = {
        "SECRET_KEY": "a-secret-key-for-tests",
        "API_KEY_PEPPER": "a-pepper-for-tests",
        "SQLALCHEMY_DATABASE_URI": "sqlite://",
        "INSTANCE_PATH": str(instance),
        "DEBUG": False,
        "DEMO": False,
    }
    return type("Settings", (), {**base, **values})


@pytest.fixture
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


def test_starts_with_both_secrets_and_writes_no_secrets_file(instance):
    app = create_app(settings(instance))
    assert app.instance_path == str(instance)
    assert app.config["SECRET_KEY"] == "a-secret-key-for-tests"
    assert not (instance / "dev-secrets.json").exists()


@pytest.mark.parametrize("name", ["SECRET_KEY", "API_KEY_PEPPER"])
@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_refuses_to_start_without_a_secret(instance, name, value):
    with pytest.raises(ConfigError) as raised:
        create_app(settings(instance, **{name: value}))
    message = str(raised.value)
    assert name in message
    other = ({"SECRET_KEY", "API_KEY_PEPPER"} - {name}).pop()
    assert other not in message
    assert "export" in message
    assert "for a demo run, export FLOQAST_DEMO=1 instead" in message
    assert not (instance / "dev-secrets.json").exists()


def test_refusal_names_every_missing_secret(instance):
    with pytest.raises(ConfigError, match="SECRET_KEY and API_KEY_PEPPER"):
        create_app(settings(instance, SECRET_KEY=None, API_KEY_PEPPER=None))


def test_wsgi_exits_with_one_line_when_a_secret_is_missing(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in {"SECRET_KEY", "API_KEY_PEPPER", "FLOQAST_DEMO", "FLASK_DEBUG"}}
    env.update(API_KEY_PEPPER="set", FLOQAST_INSTANCE_PATH=str(tmp_path / "instance"))
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: SECRET_KEY is not set")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "instance" / "dev-secrets.json").exists()


@pytest.mark.parametrize("mode", [{"DEMO": True}, {"DEBUG": True}], ids=["demo", "debug"])
def test_demo_and_debug_runs_generate_secrets_and_keep_them(instance, mode):
    config = settings(instance, SECRET_KEY=None, API_KEY_PEPPER=None, **mode)
    app = create_app(config)
    secret, pepper = app.config["SECRET_KEY"], app.config["API_KEY_PEPPER"]
    assert len(secret) >= 32 and len(pepper) >= 32
    assert secret != pepper

    path = instance / "dev-secrets.json"
    assert json.loads(path.read_text()) == {"SECRET_KEY": secret, "API_KEY_PEPPER": pepper}
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0  # readable by its owner only

    # A restart keeps them: sessions stay signed in and issued keys keep working.
    again = create_app(config)
    assert (again.config["SECRET_KEY"], again.config["API_KEY_PEPPER"]) == (secret, pepper)


def test_demo_run_keeps_a_secret_that_was_given(instance):
    app = create_app(settings(instance, API_KEY_PEPPER=None, DEMO=True))
    assert app.config["SECRET_KEY"] == "a-secret-key-for-tests"
    stored = json.loads((instance / "dev-secrets.json").read_text())
    assert stored["API_KEY_PEPPER"] == app.config["API_KEY_PEPPER"]
    # The file is written once, so it holds a secret for each name; a given one is used, and never written.
    assert set(stored) == {"SECRET_KEY", "API_KEY_PEPPER"}
    assert "a-secret-key-for-tests" not in stored.values()
    later = create_app(settings(instance, SECRET_KEY=None, API_KEY_PEPPER=None, DEMO=True))
    assert (later.config["SECRET_KEY"], later.config["API_KEY_PEPPER"]) == (stored["SECRET_KEY"],
                                                                            app.config["API_KEY_PEPPER"])


def start_demo_worker(instance: Path, barrier, results) -> None:
    """A demo worker's start: the secrets it reads, or the error it met, once every worker is ready."""
    app = SimpleNamespace(config={"DEMO": True}, debug=False, instance_path=str(instance))
    barrier.wait()
    try:
        require_secrets(app)
        results.put((app.config["SECRET_KEY"], app.config["API_KEY_PEPPER"]))
    except Exception as error:  # reported to the test, which fails on it
        results.put(repr(error))


def test_demo_workers_starting_together_all_get_the_same_secrets_from_one_whole_file(instance):
    """gunicorn's workers start at once: each made and wrote its own secrets, so that they signed sessions and
    digested keys differently, and one crashed reading another's half-written file."""
    workers = 12
    context = multiprocessing.get_context("fork")  # started as gunicorn's workers are, and in a moment
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=start_demo_worker, args=(instance, barrier, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert len(set(outcomes)) == 1, outcomes  # one pair of secrets, and no error
    path = instance / "dev-secrets.json"
    assert tuple(json.loads(path.read_text()).values()) == outcomes[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in instance.iterdir()] == ["dev-secrets.json"]  # no temporary file left


def test_an_existing_secrets_file_is_never_written_again(instance):
    first = create_app(settings(instance, SECRET_KEY=None, API_KEY_PEPPER=None, DEMO=True))
    path = instance / "dev-secrets.json"
    before = path.stat()
    for mode in ({"DEMO": True}, {"DEBUG": True}):
        again = create_app(settings(instance, SECRET_KEY=None, API_KEY_PEPPER=None, **mode))
        assert again.config["API_KEY_PEPPER"] == first.config["API_KEY_PEPPER"]
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)


@pytest.mark.parametrize(("content", "said"), [
    ('{"API_KEY_PEPPER": "kept"}', "holds no SECRET_KEY"),
    ('{"SECRET_KEY": "half', "cannot be read"),
    ("[]", "does not hold an object"),
])
def test_a_secrets_file_without_what_is_needed_is_refused_and_left_as_it_is(instance, content, said):
    instance.mkdir()
    path = instance / "dev-secrets.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=said) as raised:
        create_app(settings(instance, SECRET_KEY=None, API_KEY_PEPPER=None, DEMO=True))
    assert str(path) in str(raised.value)
    assert path.read_text() == content


def test_separate_instance_folders_get_separate_secrets(tmp_path):
    one = create_app(settings(tmp_path / "one", SECRET_KEY=None, API_KEY_PEPPER=None, DEMO=True))
    two = create_app(settings(tmp_path / "two", SECRET_KEY=None, API_KEY_PEPPER=None, DEMO=True))
    assert one.config["API_KEY_PEPPER"] != two.config["API_KEY_PEPPER"]


def test_default_database_is_sqlite_in_the_instance_folder(instance):
    app = create_app(settings(instance, SQLALCHEMY_DATABASE_URI=None))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'floqast.sqlite'}"
    assert instance.is_dir()


def test_key_pepper_is_the_configured_pepper_as_bytes_with_its_id_1(instance):
    app = create_app(settings(instance))
    with app.app_context():
        assert key_pepper() == (1, b"a-pepper-for-tests")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://user:pw@db.example:5432/floqast", "postgresql+psycopg://user:pw@db.example:5432/floqast"),
        ("postgresql://user:pw@db.example:5432/floqast", "postgresql+psycopg://user:pw@db.example:5432/floqast"),
        ("postgresql://postgres@127.0.0.1/x?sslmode=require", "postgresql+psycopg://postgres@127.0.0.1/x?sslmode=require"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///tmp/floqast.sqlite", "sqlite:///tmp/floqast.sqlite"),
        ("sqlite://", "sqlite://"),
        ("", ""),
        (None, None),
    ],
)
def test_database_url_points_postgres_at_psycopg_3(given, expected):
    assert database_url(given) == expected


def from_environment(**environ) -> dict:
    """The settings an app made with nothing overridden reads from `environ`."""
    return read_settings(environ, {})


def test_every_setting_and_every_variable_has_one_row():
    names = [setting.name for setting in SETTINGS]
    variables = [setting.env for setting in SETTINGS if setting.env]
    assert len(names) == len(set(names)) and len(variables) == len(set(variables))


def test_the_readme_documents_every_variable():
    readme = (ROOT / "README.md").read_text()
    assert [setting.env for setting in SETTINGS if setting.env and f"`{setting.env}`" not in readme] == []


def test_the_environment_is_read_when_the_app_is_made_not_at_import(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "API_KEY_PEPPER", "DATABASE_URL", "FLOQAST_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "from-env")
    monkeypatch.setenv("API_KEY_PEPPER", "pepper-from-env")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/floqast")
    monkeypatch.setenv("FLOQAST_INSTANCE_PATH", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("API_RATE_LIMIT", "7 per second")
    app = create_app()
    assert (app.config["SECRET_KEY"], app.config["API_KEY_PEPPER"]) == ("from-env", "pepper-from-env")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/floqast"
    assert app.config["API_RATE_LIMIT"] == "7 per second"
    assert app.instance_path == str(tmp_path / "elsewhere")


def test_overrides_beat_the_environment_unless_they_give_way_to_it(monkeypatch, instance):
    monkeypatch.setenv("API_RATE_LIMIT", "7 per second")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-the-environment.sqlite")
    app = create_app(type("Overrides", (TestConfig,), {"INSTANCE_PATH": str(instance)}))
    assert app.config["API_RATE_LIMIT"] == TestConfig.API_RATE_LIMIT
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///from-the-environment.sqlite"
    assert app.config["TESTING"] is True  # a setting of the overrides' own
    monkeypatch.delenv("DATABASE_URL")
    assert create_app(TestConfig).config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"


@pytest.mark.parametrize(("environ", "overrides", "secure"), [
    ({}, {}, True),
    ({"FLOQAST_DEMO": "1"}, {}, False),
    ({}, {"DEMO": True}, False),
    ({"FLOQAST_DEMO": "1", "SESSION_COOKIE_SECURE": "1"}, {}, True),
])
def test_a_default_may_follow_the_settings_above_it(environ, overrides, secure):
    assert read_settings(environ, overrides)["SESSION_COOKIE_SECURE"] is secure


def test_an_empty_variable_counts_as_unset():
    empty = from_environment(**{setting.env: "" for setting in SETTINGS if setting.env})
    assert empty == from_environment()
    assert empty["API_RATE_LIMIT"] == "600 per minute" and empty["KEY_CACHE_SECONDS"] == 10


def test_an_override_that_gives_way_to_the_environment_is_only_a_default():
    assert read_settings({}, {"MAIL_PORT": EnvironmentOr(25)})["MAIL_PORT"] == 25
    assert read_settings({"MAIL_PORT": "2525"}, {"MAIL_PORT": EnvironmentOr(25)})["MAIL_PORT"] == 2525


def test_config_reads_the_environment(tmp_path):
    settings = from_environment(SECRET_KEY="from-env", API_KEY_PEPPER="pepper-from-env",
                                DATABASE_URL="postgres://u:p@db/floqast", FLOQAST_DEMO="1",
                                FLOQAST_INSTANCE_PATH=str(tmp_path / "elsewhere"))
    assert settings["SECRET_KEY"] == "from-env"
    assert settings["API_KEY_PEPPER"] == "pepper-from-env"
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db/floqast"
    assert settings["DEMO"] is True
    assert settings["INSTANCE_PATH"] == str(tmp_path / "elsewhere")


def test_config_without_environment_has_no_secrets_and_no_demo():
    settings = from_environment()
    assert settings["SECRET_KEY"] is None
    assert settings["API_KEY_PEPPER"] is None
    assert settings["DEMO"] is False
    assert settings["SQLALCHEMY_DATABASE_URI"] is None
    assert settings["BCRYPT_ROUNDS"] >= 12


@pytest.mark.parametrize("value", ["0", "true", "yes", ""])
def test_only_floqast_demo_1_turns_demo_on(value):
    assert from_environment(FLOQAST_DEMO=value)["DEMO"] is False


def test_login_limits_are_read_from_the_environment():
    settings = from_environment(LOGIN_FAILURES_PER_IP="100 per minute",
                                LOGIN_FAILURES_PER_ACCOUNT_AND_IP="3 per minute",
                                LOGIN_FAILURES_PER_ACCOUNT="200 per hour")
    assert settings["LOGIN_FAILURES_PER_IP"] == "100 per minute"
    assert settings["LOGIN_FAILURES_PER_ACCOUNT_AND_IP"] == "3 per minute"
    assert settings["LOGIN_FAILURES_PER_ACCOUNT"] == "200 per hour"


def test_default_login_limits_leave_an_office_and_an_account_owner_room():
    """Per IP and per account (the backstop) are well above one address's failures for one account: an office
    behind one IP, or an owner whose account someone else keeps guessing, is not the one shut out."""
    settings = from_environment()
    per_ip, per_account_and_ip, per_account = (
        parse(settings[name]) for name in
        ("LOGIN_FAILURES_PER_IP", "LOGIN_FAILURES_PER_ACCOUNT_AND_IP", "LOGIN_FAILURES_PER_ACCOUNT"))
    assert per_account_and_ip.amount == 5 and per_account_and_ip.get_expiry() == 60
    assert per_ip.get_expiry() == per_account.get_expiry() == 60
    assert per_ip.amount >= 5 * per_account_and_ip.amount
    assert per_account.amount >= 5 * per_account_and_ip.amount


def test_mail_settings_are_read_from_the_environment():
    settings = from_environment(MAIL_SERVER="smtp.example.com", MAIL_PORT="2525", MAIL_USERNAME="notices",
                                MAIL_PASSWORD="s3cret", MAIL_FROM="keys@example.com",
                                APP_BASE_URL="https://keys.example.com")
    assert [settings[name] for name in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD")] == [
        "smtp.example.com", 2525, "notices", "s3cret"]
    assert (settings["MAIL_FROM"], settings["APP_BASE_URL"]) == ("keys@example.com", "https://keys.example.com")
    assert settings["MAIL_USE_TLS"] is True  # a login is never sent in the clear by default


@pytest.mark.parametrize(("environ", "port", "tls"), [
    ({}, 587, False),
    ({"MAIL_SERVER": "localhost"}, 587, False),  # a relay on the machine, no login
    ({"MAIL_USERNAME": "notices", "MAIL_USE_TLS": "0"}, 587, False),
    ({"MAIL_USE_TLS": "1", "MAIL_PORT": "25"}, 25, True),
])
def test_mail_port_defaults_to_587_and_starttls_to_on_with_a_login(environ, port, tls):
    settings = from_environment(**environ)
    assert (settings["MAIL_PORT"], settings["MAIL_USE_TLS"]) == (port, tls)
    assert settings["MAIL_FROM"] is None and settings["APP_BASE_URL"] is None

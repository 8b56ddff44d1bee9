"""Under gunicorn with the README's gunicorn.conf.py: over-long URLs and headers reach the app's own 414 and 431, and a
key reported as leaked, or deleted or suspended by another process, is refused by every worker at once, whatever they
kept of it (and works again in every worker once resumed)."""

import csv
import http.client
import io
import json
import os
import re
import subprocess
import time
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from floqast.accounts.models import Role, Team, User
from floqast.analytics.generate import Profile, generate
from floqast.extensions import db
from floqast.keys.actions import change_rate_limit, deactivate_key, resume_key, suspend_key
from floqast.keys.models import ApiKey
from floqast.ratelimit.limits import MAX_HEADER_BYTES, MAX_URL_LENGTH
from floqast.web.security import CONTENT_SECURITY_POLICY
from helpers import ME, RECONCILIATIONS, REDIS_URL, free_port, gunicorn_serving, issue_key, on_redis, sqlite_file_app

ROOT = Path(__file__).resolve().parents[2]
PEPPER = "gunicorn-test-pepper"


def get(port: int, path: str, headers: dict | None = None, method="GET", body: bytes | None = None
        ) -> http.client.HTTPResponse:
    """A GET (or `method`) sent as written (urllib would quote or refuse some of what these tests send), on a new
    connection; body read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@contextmanager
def gunicorn_on(directory: Path, workers: int, *options: str, env: dict | None = None):
    """gunicorn with `workers` workers on a free loopback port and the SQLite file database_in(directory); extra
    command-line `options` override gunicorn.conf.py's, `env` adds to its environment. Yields its process; its port
    is `.port`."""
    port = free_port()
    env = {
        **os.environ,
        **(env or {}),
        "SECRET_KEY": "gunicorn-test-secret-key",
        "API_KEY_PEPPER": PEPPER,
        "DATABASE_URL": f"sqlite:///{database_in(directory)}",
        "WEB_CONCURRENCY": str(workers),
    }
    with gunicorn_serving(port, env, *options) as process:
        process.port = port
        yield process


def database_in(directory: Path) -> Path:
    return directory / "app.sqlite"


def file_app(directory: Path, **settings):
    """The app on the SQLite file that gunicorn serves from `directory`, with gunicorn's pepper and `settings`, its
    schema made."""
    return sqlite_file_app(database_in(directory), API_KEY_PEPPER=PEPPER, **settings)


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """One gunicorn worker on a database of its own; its port."""
    directory = tmp_path_factory.mktemp("gunicorn")
    file_app(directory)
    with gunicorn_on(directory, workers=1) as process:
        yield process.port


def assert_the_apps_error(response, status: int, mentions: str) -> None:
    assert response.status == status, response.body[:300]
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY
    [error] = json.loads(response.body)["errors"]
    assert error["status"] == str(status) and mentions in error["detail"]


def test_an_overlong_url_gets_the_apps_414(gunicorn):
    path = f"{ME}?padding={'p' * 5000}"
    assert len(path) > max(MAX_URL_LENGTH, 4094)  # past the app's cap, and past gunicorn's default request line
    assert_the_apps_error(get(gunicorn, path), 414, "URL is longer than")


def test_a_9_kib_header_gets_the_apps_431(gunicorn):
    headers = {"X-Padding": "p" * 9 * 1024}
    assert len(headers["X-Padding"]) > max(MAX_HEADER_BYTES, 8190)  # past the app's cap and gunicorn's default
    assert_the_apps_error(get(gunicorn, ME, headers), 431, "headers are larger than")


def test_a_page_gets_the_apps_431_with_its_security_headers(gunicorn):
    response = get(gunicorn, "/login", {"X-Padding": "p" * 9 * 1024})
    assert response.status == 431
    assert response.getheader("Content-Type").startswith("text/html")
    assert response.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY


# ---------------------------------------------------------------- rate limits counted per worker


@pytest.mark.parametrize(("workers", "storage", "warned"), [
    (2, "inprocess://", True),
    (1, "inprocess://", False),
    pytest.param(2, REDIS_URL, False, marks=on_redis),
], ids=["2 workers in-process", "1 worker in-process", "2 workers on Redis"])
def test_gunicorn_warns_at_start_when_each_worker_would_count_on_its_own(tmp_path, workers, storage, warned):
    file_app(tmp_path)
    error_log = tmp_path / "error.log"
    with gunicorn_on(tmp_path, workers, "--error-logfile", str(error_log), env={"RATELIMIT_STORAGE_URI": storage}):
        warnings = [line for line in error_log.read_text().splitlines() if "RATELIMIT_STORAGE_URI" in line]
    if warned:
        [warning] = warnings
        assert "[WARNING]" in warning and "2 workers" in warning and "2 times" in warning
    else:
        assert warnings == []


# ---------------------------------------------------------------- a leaked key, across workers

WORKERS = 3
ACCESS_LINE = re.compile(r"^<(\d+)> (\d{3}) (\S+)$")


def worker_pids(master: subprocess.Popen, count: int) -> set[int]:
    """The master's `count` workers, once it has forked them all (the first may answer before the last is up)."""
    deadline = time.monotonic() + 30
    while len(children := Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()) < count:
        assert time.monotonic() < deadline, f"gunicorn has {len(children)} of {count} workers after 30 s"
        time.sleep(0.05)
    return {int(pid) for pid in children}


def answered_by(access_log: Path, status: int, path: str) -> set[int]:
    """The workers whose access log lines show a `status` answer to `path`."""
    lines = [ACCESS_LINE.match(line) for line in access_log.read_text().splitlines()]
    return {int(line[1]) for line in lines if line and int(line[2]) == status and line[3] == path}


def a_key_in(directory: Path, books: Profile | None = None, **settings) -> tuple[int, str]:
    """A team with Open API on, its admin and a key, committed in the SQLite file gunicorn serves from `directory`,
    with the close data of `books` if given; the key's id and plaintext."""
    with file_app(directory, **settings).app_context():
        team = Team(name="Acme Corp", open_api_enabled=True)
        admin = User(team=team, email="admin@acme.test", name="Alex Admin", role=Role.ADMIN, password_hash="-")
        key, plaintext = issue_key(admin)
        db.session.commit()
        if books:
            generate(team, books)
        key_id = key.id
        db.session.remove()
        db.engine.dispose()
    return key_id, plaintext


@contextmanager
def every_worker_serving(directory: Path, plaintext: str, *options: str, env: dict | None = None):
    """WORKERS workers with an access log, each having accepted `plaintext` (anything a worker keeps of a key is
    kept now); yields a function that pulls until every worker has answered a status, and returns every status."""
    access_log = directory / "access.log"
    with gunicorn_on(directory, WORKERS, "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s %(U)s",
                     *options, env=env) as process:
        workers = worker_pids(process, WORKERS)
        assert len(workers) == WORKERS

        def pull_until_every_worker_answered(status: int) -> list[int]:
            """Pull /me on new connections until each worker's access log shows a `status` answer."""
            received = []
            while answered_by(access_log, status, ME) != workers:
                answered = answered_by(access_log, status, ME)
                assert len(received) < 2000, f"not every worker answered {status}: {answered}"
                received.append(get(process.port, ME, {"x-api-key": plaintext, "Connection": "close"}).status)
            return received

        assert set(pull_until_every_worker_answered(200)) == {200}
        pull_until_every_worker_answered.port = process.port
        yield pull_until_every_worker_answered


def test_a_reported_key_is_refused_by_every_worker_right_after_the_202(tmp_path):
    _, plaintext = a_key_in(tmp_path)
    with every_worker_serving(tmp_path, plaintext) as pull_until_every_worker_answered:
        port = pull_until_every_worker_answered.port
        report = get(port, "/api/v1/credentials/revoke", {"Content-Type": "application/json"}, "POST",
                     json.dumps({"credentials": [plaintext]}).encode())
        assert report.status == 202, report.body

        after = pull_until_every_worker_answered(401)
        assert set(after) == {401}  # not one pull got through, from any worker
        refusal = json.loads(get(port, ME, {"x-api-key": plaintext}).body)["errors"][0]["detail"]
        assert refusal.endswith("because it was reported as leaked.")


def delete_in_another_process(directory: Path, key_id: int, **settings) -> None:
    """Delete the key as the API Keys tab does, in this process (not a worker of the gunicorn), and commit."""
    with file_app(directory, **settings).app_context():
        key = db.session.get(ApiKey, key_id)
        assert deactivate_key(key, by=key.created_by)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_a_key_deleted_elsewhere_is_refused_by_every_worker_right_after_the_commit(tmp_path):
    key_id, plaintext = a_key_in(tmp_path)
    with every_worker_serving(tmp_path, plaintext) as pull_until_every_worker_answered:
        delete_in_another_process(tmp_path, key_id)
        assert set(pull_until_every_worker_answered(401)) == {401}


def change_in_another_process(directory: Path, key_id: int, change) -> None:
    """Apply `change` (an action, given the key and its creator) as the API Keys tab does, in this process, and
    commit."""
    with file_app(directory).app_context():
        key = db.session.get(ApiKey, key_id)
        assert change(key, key.created_by)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_a_key_suspended_elsewhere_is_refused_by_every_worker_at_once_and_resumed_works_again(tmp_path):
    key_id, plaintext = a_key_in(tmp_path)
    with every_worker_serving(tmp_path, plaintext) as pull_until_every_worker_answered:
        change_in_another_process(tmp_path, key_id, lambda key, by: suspend_key(key, by, "Vendor dispute"))
        assert set(pull_until_every_worker_answered(401)) == {401}  # not one pull got through, from any worker
        refusal = json.loads(get(pull_until_every_worker_answered.port, ME, {"x-api-key": plaintext}).body)
        assert re.fullmatch(r"This API key was suspended on \d{4}-\d{2}-\d{2}: Vendor dispute\.",
                            refusal["errors"][0]["detail"])

        change_in_another_process(tmp_path, key_id, resume_key)
        (tmp_path / "access.log").write_text("")  # gunicorn appends: what it writes from now on, after the resume
        assert set(pull_until_every_worker_answered(200)) == {200}


def test_a_rate_limit_set_elsewhere_holds_in_every_worker_at_once(tmp_path):
    """Each worker kept the key under the team default; a limit of 1 a minute set by another process is the one the
    next pulls are counted under, in every worker (each counts on its own without Redis: one pull, then 429s)."""
    key_id, plaintext = a_key_in(tmp_path)
    with every_worker_serving(tmp_path, plaintext) as pull_until_every_worker_answered:
        change_in_another_process(tmp_path, key_id, lambda key, by: change_rate_limit(key, 1, by=by))
        after = pull_until_every_worker_answered(429)
        assert after.count(200) <= WORKERS  # at most each worker's one pull under the new limit
        refused = get(pull_until_every_worker_answered.port, ME, {"x-api-key": plaintext})
        assert (refused.status, refused.getheader("X-RateLimit-Limit")) == (429, "1")


@on_redis
def test_on_redis_a_deleted_key_is_refused_by_every_worker_even_with_their_redis_connections_killed(tmp_path):
    """The workers keep keys under a change mark in Redis: killing their connections to it just before the delete
    loses nothing."""
    import redis

    on_redis_settings = {"RATELIMIT_STORAGE_URI": REDIS_URL}
    key_id, plaintext = a_key_in(tmp_path)
    with every_worker_serving(tmp_path, plaintext, env=on_redis_settings) as pull_until_every_worker_answered:
        assert redis.Redis.from_url(REDIS_URL).client_kill_filter(_type="normal", skipme=True) >= WORKERS
        delete_in_another_process(tmp_path, key_id, **on_redis_settings)
        assert set(pull_until_every_worker_answered(401)) == {401}


# ---------------------------------------------------------------- SQLite: a slow reader and the writers

# 100,000 reconciliations: their CSV (about 30 MB) is far more than the sockets between a worker and its client hold,
# so a worker whose client stops reading waits mid-export, its query open.
EXPORT_BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=1000, months=50, through=(2025, 3),
                       seed=1, people=("Ann", "Ben"), checklists=False)


def test_on_sqlite_a_key_is_deleted_at_once_while_a_client_is_not_reading_its_export(tmp_path):
    key_id, plaintext = a_key_in(tmp_path, books=EXPORT_BOOKS)
    with gunicorn_on(tmp_path, workers=2) as process, \
            closing(http.client.HTTPConnection("127.0.0.1", process.port, timeout=60)) as export:
        export.request("GET", RECONCILIATIONS, headers={"x-api-key": plaintext, "Accept": "text/csv"})
        response = export.getresponse()
        assert response.status == 200
        header = response.readline()  # the export has begun; the client reads nothing more for now

        delete_in_another_process(tmp_path, key_id)  # "database is locked" while the export held SQLite's lock
        assert get(process.port, ME, {"x-api-key": plaintext}).status == 401  # from the other worker

        rows = list(csv.reader(io.StringIO((header + response.read()).decode())))
    assert len(rows) == 1 + 100_000  # the slow reader still gets the whole export, as it stood when it began

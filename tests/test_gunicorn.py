"""Under gunicorn with the README's gunicorn.conf.py: over-long URLs and headers reach the app's own 414 and 431, and a
key reported as leaked is refused by every worker at once."""

import http.client
import json
import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from floqast.extensions import db
from floqast.models import Role, Team, User
from floqast.ratelimits import MAX_HEADER_BYTES, MAX_URL_LENGTH
from floqast.security import CONTENT_SECURITY_POLICY
from helpers import ME, free_port, gunicorn_serving, issue_key, sqlite_file_app

ROOT = Path(__file__).resolve().parents[1]
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
def gunicorn_on(directory: Path, workers: int, *options: str):
    """gunicorn with `workers` workers on a free loopback port and the SQLite file database_in(directory); extra
    command-line `options` override gunicorn.conf.py's. Yields its process; its port is `.port`."""
    port = free_port()
    env = {
        **os.environ,
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


def file_app(directory: Path):
    """The app on the SQLite file that gunicorn serves from `directory`, with gunicorn's pepper, its schema made."""
    return sqlite_file_app(database_in(directory), API_KEY_PEPPER=PEPPER)


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


def pull_until_every_worker_answered(port, access_log, workers, key, status) -> list[int]:
    """Pull /me on new connections until each worker's access log shows a `status` answer; every status received."""
    received = []
    while answered_by(access_log, status, ME) != workers:
        assert len(received) < 2000, f"not every worker answered {status}: {answered_by(access_log, status, ME)}"
        received.append(get(port, ME, {"x-api-key": key, "Connection": "close"}).status)
    return received


def test_a_reported_key_is_refused_by_every_worker_right_after_the_202(tmp_path):
    with file_app(tmp_path).app_context():
        team = Team(name="Acme Corp", open_api_enabled=True)
        admin = User(team=team, email="admin@acme.test", name="Alex Admin", role=Role.ADMIN, password_hash="-")
        _, plaintext = issue_key(admin)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    access_log = tmp_path / "access.log"
    with gunicorn_on(tmp_path, WORKERS, "--access-logfile", str(access_log),
                     "--access-logformat", "%(p)s %(s)s %(U)s") as process:
        workers = worker_pids(process, WORKERS)
        assert len(workers) == WORKERS
        # Each worker has served the key (anything a worker kept of it would be kept now).
        assert set(pull_until_every_worker_answered(process.port, access_log, workers, plaintext, 200)) == {200}

        report = get(process.port, "/api/v1/credentials/revoke", {"Content-Type": "application/json"}, "POST",
                     json.dumps({"credentials": [plaintext]}).encode())
        assert report.status == 202, report.body

        after = pull_until_every_worker_answered(process.port, access_log, workers, plaintext, 401)
        assert set(after) == {401}  # not one pull got through, from any worker
        refusal = json.loads(get(process.port, ME, {"x-api-key": plaintext}).body)["errors"][0]["detail"]
        assert refusal.endswith("because it was reported as leaked.")

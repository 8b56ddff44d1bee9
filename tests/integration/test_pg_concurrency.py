"""Concurrency on PostgreSQL: two admins deleting one key at once, two rolling one key at once, creates (on a SQLite
file too) and renames racing for one name, many parallel pulls with one key, revocation seen at once by every
worker of a multi-worker gunicorn on loopback, and two `keys notify` runs at once."""

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys import queries
from floqast.keys.actions import deactivate_key
from floqast.keys.models import ApiKey, KeyStatus, Service, name_key
from floqast.notices.outbox import KeyNotice
from helpers import (
    ME,
    TEST_RATE_LIMITS,
    MailServer,
    csrf_token,
    free_port,
    log_in,
    run_together,
    terminate_other_connections,
)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
ROOT = Path(__file__).resolve().parents[2]
on_postgresql = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="concurrency is tested on PostgreSQL: set DATABASE_URL=postgresql://... (CI does)",
)


@on_postgresql
def test_two_admins_deleting_one_key_at_once(app, team, admin, make_user, make_key):
    other = make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")
    key, _ = make_key(admin, name="Warehouse load")
    clients = []
    for user in (admin, other):
        client = app.test_client()
        log_in(client, user)
        clients.append((client, csrf_token(client, "/settings/api-keys")))

    def delete(index):
        # Each request runs in this thread's own app context, with its own session and connection.
        client, token = clients[index]
        headers = {"HX-Request": "true", "X-CSRFToken": token}
        response = client.delete(f"/settings/api-keys/{key.id}?status=all", headers=headers)
        return response.status_code, response.get_data(as_text=True)

    results = run_together(2, delete)
    assert all(not isinstance(result, Exception) for result in results), results
    assert [status for status, _ in results] == [200, 200]
    bodies = [body for _, body in results]
    assert sum("was deactivated. Requests with it are refused" in body for body in bodies) == 1
    assert sum("was already deactivated on" in body for body in bodies) == 1
    db.session.expire_all()
    stored = db.session.get(ApiKey, key.id)
    assert stored.deleted_at is not None
    assert stored.deleted_by_id in (admin.id, other.id)


@on_postgresql
def test_two_admins_rolling_one_key_at_once_make_one_new_key(app, team, admin, make_user, make_key):
    other = make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")
    key, _ = make_key(admin, name="Warehouse load")
    key_id = key.id
    clients = []
    for user in (admin, other):
        client = app.test_client()
        log_in(client, user)
        clients.append(client)
    tokens = run_together(2, lambda index: csrf_token(clients[index], "/settings/api-keys"))

    def roll(index):
        data = {"overlap": "24", "csrf_token": tokens[index]}
        response = clients[index].post(f"/settings/api-keys/{key_id}/roll", data=data, headers={"HX-Request": "true"})
        return response.status_code, response.get_data(as_text=True)

    results = run_together(2, roll)
    assert all(not isinstance(result, Exception) for result in results), results
    assert sorted(status for status, _ in results) == [201, 409]
    assert "A key can be rolled once" in next(body for status, body in results if status == 409)
    db.session.expire_all()
    replacements = db.session.scalars(select(ApiKey).where(ApiKey.id != key_id)).all()
    assert len(replacements) == 1
    assert db.session.get(ApiKey, key_id).replaced_by_id == replacements[0].id
    rolled = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.KEY_ROLLED)).all()
    assert len(rolled) == 1


def create_at_once(app, team, make_user) -> list:
    """Six admins submit Create New Key with one name at the same instant; each (status, body)."""
    users = [make_user(team, Role.ADMIN, email=f"admin{number}@acme.test") for number in range(6)]
    clients = []
    for user in users:
        client = app.test_client()
        log_in(client, user)
        clients.append(client)
    # Each client's token in a thread of its own, as a server would: no app context (and its g, which caches the
    # token) is shared with the test's.
    tokens = run_together(len(clients), lambda index: csrf_token(clients[index], "/settings/api-keys"))

    def create(index):
        client, token = clients[index], tokens[index]
        # The same name as each admin types it, in different cases and widths.
        name = ["Dup Name", "dup name", "DUP NAME", "Ｄｕｐ Ｎａｍｅ", " Dup Name ", "dup NAME"][index]
        data = {"name": name, "expiration": "90", "services": ["reconciliations"], "csrf_token": token}
        response = client.post("/settings/api-keys", data=data, headers={"HX-Request": "true"})
        return response.status_code, response.get_data(as_text=True)

    results = run_together(len(clients), create)
    assert all(not isinstance(result, Exception) for result in results), results
    return results


def assert_one_key_and_five_form_errors(results, team) -> None:
    assert sorted(status for status, _ in results) == [201, 422, 422, 422, 422, 422]
    refused = [body for status, body in results if status == 422]
    assert all("A key that still works already has this name." in body for body in refused)
    db.session.expire_all()
    working = select(ApiKey.name).where(ApiKey.team_id == team.id,
                                        queries.status_clause(KeyStatus.ACTIVE, team.today()))
    assert [name_key(name) for name in db.session.scalars(working)] == ["dup name"]


@on_postgresql
def test_creates_racing_for_one_name_make_one_key_and_five_form_errors(app, team, make_user):
    assert_one_key_and_five_form_errors(create_at_once(app, team, make_user), team)


def test_creates_racing_for_one_name_on_a_sqlite_file(tmp_path, make_app, make_team, make_user):
    """The same race on SQLite, where SELECT ... FOR UPDATE locks nothing: the dev server runs threads too."""
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'race.sqlite'}")
    with app.app_context():
        team = make_team()
        assert_one_key_and_five_form_errors(create_at_once(app, team, make_user), team)


@on_postgresql
def test_renames_racing_for_one_name_rename_one_key(app, team, admin, make_user, make_key):
    key_ids = [make_key(admin, name=f"Key {number}")[0].id for number in range(3)]
    clients = []
    for number in range(3):
        client = app.test_client()
        log_in(client, make_user(team, Role.ADMIN, email=f"renamer{number}@acme.test"))
        clients.append(client)
    tokens = run_together(3, lambda index: csrf_token(clients[index], "/settings/api-keys"))

    def rename(index):
        data = {"name": ["Dup Name", "dup name", "Ｄｕｐ Ｎａｍｅ"][index], "csrf_token": tokens[index]}
        response = clients[index].post(f"/settings/api-keys/{key_ids[index]}", data=data,
                                       headers={"HX-Request": "true"})
        return response.status_code, response.get_data(as_text=True)

    results = run_together(3, rename)
    assert all(not isinstance(result, Exception) for result in results), results
    assert sorted(status for status, _ in results) == [200, 422, 422]
    assert all("A key that still works already has this name." in body for status, body in results if status == 422)
    db.session.expire_all()
    names = [name_key(key.name) for key in db.session.scalars(select(ApiKey).where(ApiKey.team_id == team.id))]
    assert len(names) == 3 and names.count("dup name") == 1


@on_postgresql
def test_many_parallel_pulls_with_one_key(app, admin, make_key):
    key, plaintext = make_key(admin, services=list(Service))
    writes = {"statements": 0, "rows": 0}
    lock = threading.Lock()

    def count_updates(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE API_KEYS") and "last_used_at" in statement:
            with lock:
                writes["statements"] += 1
                writes["rows"] += max(cursor.rowcount, 0)

    event.listen(db.engine, "after_cursor_execute", count_updates)
    threads, pulls = 8, 50
    paths = [ME, "/api/v1/analytics/reconciliations?page[size]=5", "/api/v1/analytics/checklists?page[size]=5"]

    def pull_many(index):
        client = app.test_client()
        statuses = []
        for number in range(pulls):
            response = client.get(paths[number % len(paths)], headers={"x-api-key": plaintext})
            response.get_data()
            statuses.append(response.status_code)
        return statuses

    started = time.monotonic()
    try:
        results = run_together(threads, pull_many)
    finally:
        event.remove(db.engine, "after_cursor_execute", count_updates)
    assert all(not isinstance(result, Exception) for result in results), results
    statuses = [status for result in results for status in result]
    assert len(statuses) == threads * pulls
    assert not [status for status in statuses if status >= 500]
    assert set(statuses) <= {200, 429}
    assert time.monotonic() - started < 60
    # Last used: one row written in the interval, whatever the number of racing pulls (each pull that read
    # the key before the first write may try its conditional UPDATE; only one of them matches).
    assert writes["rows"] == 1, writes
    assert writes["statements"] <= threads, writes
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_at is not None


# ------------------------------------------------------------------ gunicorn


def http_get(url: str, headers: dict) -> int:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


def worker_pids(log: str, marker: str) -> dict[str, set[int]]:
    """From gunicorn's access log ("<pid> <status> <query>"): the statuses each worker answered for `marker`."""
    served: dict[str, set[int]] = {}
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == marker:
            served.setdefault(parts[0], set()).add(int(parts[1]))
    return served


@pytest.fixture
def gunicorn(app):
    """gunicorn with 3 workers on a free loopback port, on this test's database; stopped afterwards."""
    port, workers = free_port(), 3
    log_path = Path(app.instance_path) / f"gunicorn-{port}.log"
    env = {
        **os.environ,
        **TEST_RATE_LIMITS,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "API_KEY_PEPPER": app.config["API_KEY_PEPPER"],
        "DATABASE_URL": DATABASE_URL,
    }
    command = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
        "--access-logfile", str(log_path), "--access-logformat", "%(p)s %(s)s %(q)s", "wsgi:app",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            try:
                if http_get(f"{base}/api/v1/openapi.json", {}) == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start within 90 s"
            time.sleep(0.1)
        yield base, workers, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log_path.unlink(missing_ok=True)


@on_postgresql
@pytest.mark.parametrize("connections_killed_first", [False, True], ids=["connections alive", "connections killed"])
def test_revocation_is_immediate_in_every_gunicorn_worker(app, admin, make_key, gunicorn, connections_killed_first):
    """Every worker refuses the key from the delete's commit on; also when the database ended every worker's
    connection just before (a restart): no worker answers from what it knew before."""
    base, workers, log_path = gunicorn
    key, plaintext = make_key(admin, services=list(Service))
    headers = {"x-api-key": plaintext}

    def pull_in_parallel(marker: str, count: int) -> list[int]:
        # Parallel connections keep every worker busy, so each one answers some of them (checked below).
        with ThreadPoolExecutor(max_workers=12) as pool:
            return list(pool.map(lambda _: http_get(f"{base}{ME}?{marker}", headers), range(count)))

    def served_by_every_worker(marker: str) -> dict[str, set[int]]:
        for _ in range(100):  # the access log is written as responses go out
            served = worker_pids(log_path.read_text() if log_path.exists() else "", marker)
            if len(served) >= workers:
                return served
            time.sleep(0.05)
        return served

    before, rounds = [], 0
    while len(served_by_every_worker("phase=before")) < workers and rounds < 10:
        before += pull_in_parallel("phase=before", 60)
        rounds += 1
    assert set(before) == {200}
    assert len(served_by_every_worker("phase=before")) == workers, "pulls never reached every worker"

    if connections_killed_first:
        assert terminate_other_connections() >= workers
    assert deactivate_key(key, by=admin)  # as the settings route does, committed by its caller
    db.session.commit()

    after, rounds = [], 0
    while rounds == 0 or (len(served_by_every_worker("phase=after")) < workers and rounds < 10):
        after += pull_in_parallel("phase=after", 60)
        rounds += 1
    served = served_by_every_worker("phase=after")
    assert len(served) == workers, "pulls after the delete never reached every worker"
    assert set(after) == {401}, sorted(set(after))
    assert all(statuses == {401} for statuses in served.values()), served
    stored = db.session.scalar(select(ApiKey).where(ApiKey.id == key.id))
    assert stored.deleted_at is not None


@on_postgresql
def test_connections_killed_mid_run_give_successes_or_503s_then_every_worker_recovers(app, admin, make_key, gunicorn):
    base, workers, log_path = gunicorn
    _, plaintext = make_key(admin, services=list(Service))
    db.session.remove()  # the test's own connections go too: nothing of this test holds a lock meanwhile
    headers = {"x-api-key": plaintext}
    during: list[int] = []
    stop = threading.Event()

    def pull_until_stopped(_) -> None:
        while not stop.is_set():
            during.append(http_get(f"{base}{ME}?phase=during", headers))

    with ThreadPoolExecutor(max_workers=6) as pool:
        pulling = [pool.submit(pull_until_stopped, number) for number in range(6)]
        killed = 0
        for restart in range(1, 6):  # five restarts, each after 30 more answers
            while len(during) < 30 * restart and not any(future.done() for future in pulling):
                time.sleep(0.01)
            killed += terminate_other_connections()
        stop.set()
        for future in pulling:
            future.result()
    assert killed >= workers  # every worker lost its connection at least once
    assert set(during) <= {200, 503}, sorted(set(during))  # never a 500
    assert 200 in during

    after = []
    while len(worker_pids(log_path.read_text(), "phase=after")) < workers:
        assert len(after) < 600, worker_pids(log_path.read_text(), "phase=after")
        after.append(http_get(f"{base}{ME}?phase=after", {**headers, "Connection": "close"}))
    assert set(after) == {200}  # every worker answers again, without a restart


class MeetingMailServer(MailServer):
    """Holds the first message until another connection brings one, so that two runs surely send at once."""

    def __init__(self, port: int):
        super().__init__(port)
        self.sessions: set[int] = set()
        self.met = asyncio.Event()

    async def handle_DATA(self, server, session, envelope):
        self.sessions.add(id(session))
        if len(self.sessions) > 1:
            self.met.set()
        else:
            # Bounded: a run that never came shows as one run having sent everything.
            await asyncio.wait([asyncio.ensure_future(self.met.wait())], timeout=60)
        return await super().handle_DATA(server, session, envelope)


@on_postgresql
def test_two_notify_runs_at_once_send_each_notice_once(app, team, admin, make_user, make_key):
    make_user(team, Role.SYSADMIN, email="sam@acme.test")
    make_user(team, Role.ADMIN, email="ana@acme.test")
    for number in range(10):
        make_key(admin, name=f"Load {number}", expires_on=team.today() + timedelta(days=3))
    server = MeetingMailServer(free_port())
    server.start()
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("MAIL_", "FLOQAST_"))},
        "SECRET_KEY": app.config["SECRET_KEY"],
        "API_KEY_PEPPER": app.config["API_KEY_PEPPER"],
        "DATABASE_URL": DATABASE_URL,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(server.port),
        "MAIL_FROM": "keys@floqast.test",
        "APP_BASE_URL": "https://keys.example.com",
    }
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "keys", "notify"]
    try:
        runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outputs = [run.communicate(timeout=120) for run in runs]
    finally:
        server.stop()
    assert [run.returncode for run in runs] == [0, 0], outputs
    sent = [int(re.fullmatch(r"Sent (\d+) notices?\.\n", stdout).group(1)) for stdout, _ in outputs]
    assert sum(sent) == 30 and min(sent) >= 1, sent  # both runs sent, and together each notice once
    received = [(recipients[0], message["Subject"]) for recipients, message in server.received]
    assert len(received) == len(set(received)) == 30
    assert {recipient for recipient, _ in received} == {"admin@acme.test", "sam@acme.test", "ana@acme.test"}
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).where(KeyNotice.sent_at.is_(None))) == 0

"""What tests share besides fixtures: constants, requests a browser or curl would send, reading pages, and
recording the SQL the app sends. (Fixtures live in conftest.py.)"""

import http.client
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import jsonschema
from bs4 import BeautifulSoup
from flask import current_app
from sqlalchemy import select

from floqast.extensions import db
from floqast.models import ApiKey, Service, User
from floqast.request_log import ApiRequest, flush_own

PASSWORD = "correct horse battery staple"
ME = "/api/v1/me"
RECONCILIATIONS = "/api/v1/analytics/reconciliations"
CHECKLISTS = "/api/v1/analytics/checklists"
PATHS = {Service.RECONCILIATIONS: RECONCILIATIONS, Service.CHECKLISTS: CHECKLISTS}
AUDIT_TRAIL = "/api/v1/audit-trail"
HTMX = {"HX-Request": "true"}
ROOT = Path(__file__).resolve().parents[1]
# Where the api_get fixture's requests come from.
CLIENT_IP = "203.0.113.7"


def issue_key(creator: User, name="Power BI", services=tuple(Service), expires_on: date | None = None, pepper=None,
              **fields) -> tuple[ApiKey, str]:
    """A key added to the session (not committed) and its plaintext, under the app's pepper unless another is
    given; extra fields (deleted_at, last_used_at, ...) are set as given."""
    key, plaintext = ApiKey.issue(creator=creator, name=name, services=services, expires_on=expires_on,
                                  pepper=pepper or current_app.config["API_KEY_PEPPER"].encode())
    for field, value in fields.items():
        setattr(key, field, value)
    db.session.add(key)
    return key, plaintext


def logged_requests() -> list[ApiRequest]:
    """Every row of the API request log, oldest first, once this worker's buffer is written."""
    flush_own()
    return list(db.session.scalars(select(ApiRequest).order_by(ApiRequest.id)))


def log_rows(team_id: int, api_key_id: int, *moments, uri=ME, status=200, service=None) -> None:
    """Put requests of a team's key in the API request log at the given instants, written at once."""
    request_log = current_app.extensions["request_log"]
    for moment in moments:
        request_log.add({"created_at": moment, "team_id": team_id, "api_key_id": api_key_id, "method": "GET",
                         "uri": uri, "source_ip": CLIENT_IP, "status": status, "service": service})
    request_log.flush()


def log_in(client, user: User) -> None:
    """Sign the test client in as `user`, the way Flask-Login records it in the session."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def csrf_token(client, path="/") -> str:
    """The CSRF token that every page hands the browser (for htmx, in the body's hx-headers)."""
    html = client.get(path, follow_redirects=True).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


def assert_api_error(response, status: int, detail: str | None = None) -> dict:
    """The response is a JSON error in the documented shape; returns the one error."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert "Set-Cookie" not in response.headers
    body = response.get_json()
    assert list(body) == ["errors"]
    [error] = body["errors"]
    assert set(error) == {"status", "title", "detail"}
    assert error["status"] == str(status)
    assert error["title"] and error["detail"]
    if detail is not None:
        assert error["detail"] == detail
    return error


def reload(key: ApiKey) -> ApiKey:
    """The key as the database has it now."""
    db.session.expire_all()
    return db.session.get(ApiKey, key.id)


def only_the_audit_insert(statements) -> bool:
    """No lookup at all: the one statement is the refusal's INSERT into the audit trail."""
    return len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")


def parse_html(source) -> BeautifulSoup:
    """The document (or fragment) parsed; accepts a str or a test response."""
    return BeautifulSoup(source if isinstance(source, str) else source.get_data(as_text=True), "html.parser")


def text_of(element) -> str:
    """The text inside an element, with runs of whitespace collapsed to one space, as a reader sees it."""
    return " ".join(element.get_text().split())


def key_rows(page) -> list:
    """The rows of the key list."""
    return page.find(id="key-list").find("tbody").find_all("tr")


def row_names(page) -> set[str]:
    """The names of the keys the list shows."""
    return {text_of(row.find("th")) for row in key_rows(page)}


def tab_counts(page) -> dict[str, str]:
    """Each filter tab's count, by status."""
    return {tab.get("id").removeprefix("tab-"): text_of(tab.find("span", class_="count"))
            for tab in page.find_all("a", role="tab")}


def cells(page, key) -> list[str]:
    """The text of each cell in the key's row, its name first."""
    row = page.find("tr", id=f"key-{key.id}")
    return [text_of(row.find("th"))] + [text_of(cell) for cell in row.find_all("td")]


def free_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn_serving(port: int, env: dict):
    """`gunicorn -c gunicorn.conf.py wsgi:app` on a loopback port, with `env` as its environment, once /healthz
    answers; stopped (SIGTERM, as a deploy does) after the block."""
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start within 60 s"
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


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


def record_at_the_driver(dbapi_connection, connection_record) -> None:
    """Record every statement a new connection runs, at the driver: the key check runs on the driver's own
    cursor (key_check.KeyLookup), past SQLAlchemy's execution events."""
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


def validate(document, path, status, body):
    """Check a real body against the documented schema of that response, resolving its $refs."""
    schema = document["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]
    wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
               "components": document["components"]}
    jsonschema.Draft202012Validator(wrapped).validate(body)


def run_together(count: int, work, timeout: float = 60):
    """Run work(i) in `count` threads released at the same instant; their results, or their exceptions."""
    barrier = threading.Barrier(count, timeout=timeout)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001  (handed back to the test, which asserts on it)
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a thread is stuck: deadlock or a request that never returns"
    return results

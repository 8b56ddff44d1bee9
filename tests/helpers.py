"""What tests share besides fixtures: constants, requests a browser or curl would send, reading pages, and
recording the SQL the app sends. (Fixtures live in conftest.py.)"""

import http.client
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jsonschema
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from bs4 import BeautifulSoup
from flask import Flask, current_app
from sqlalchemy import select
from werkzeug.serving import make_server

import floqast.columns
from floqast import create_app
from floqast.accounts.models import User
from floqast.analytics.models import Entity
from floqast.audit.events import AuditEvent, AuditKind
from floqast.auth.access import ACCESS_CONFIRMED_AT
from floqast.config import TestConfig
from floqast.extensions import db
from floqast.keys import tokens
from floqast.keys.models import ANALYTICS_SERVICES, ApiKey, Service
from floqast.usage.buffer import flush_own
from floqast.usage.capture import Captured
from floqast.usage.models import ApiRequest

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
# Names a key may not have, beside a team that has a working key "Power BI": (case, name, message).
INVALID_NAMES = [
    ("empty name", "", "Enter a name for the key."),
    ("whitespace name", "   \t ", "Enter a name for the key."),
    ("name too long", "n" * 101, "Use at most 100 characters."),
    ("duplicate name", "power bi", "A key that still works already has this name."),
    ("duplicate padded", "  POWER BI ", "A key that still works already has this name."),
    ("duplicate full-width", "Ｐｏｗｅｒ ＢＩ", "A key that still works already has this name."),
    ("zero-width space only", "\u200b", "no control characters or invisible formatting"),
    ("right-to-left override", "abc\u202edcba", "no control characters or invisible formatting"),
    ("soft hyphen", "Power\u00adBI", "no control characters or invisible formatting"),
    ("a key in the name", f"Mine is {tokens.generate()}", "This holds an API key."),
    # Characters that end a mail header (str.splitlines() splits at each): a Subject naming the key failed.
    ("line separator", "Power\u2028BI", "The name holds U+2028 (LINE SEPARATOR)."),
    ("paragraph separator", "Power\u2029BI", "The name holds U+2029 (PARAGRAPH SEPARATOR)."),
    ("next line", "Power\x85BI", "The name holds U+0085 (a control character)."),
    ("file separator", "Power\x1cBI", "The name holds U+001C (a control character)."),
    # Names that differ from a working key's only by their spacing, and show alike.
    ("duplicate by spacing", "Power   BI", "A key that still works already has this name."),
    ("duplicate by other spaces", "Power\u00a0\u2003\u3000BI", "A key that still works already has this name."),
]

# A plaintext key in a page.
KEY_PATTERN = re.compile(r"fq_[0-9A-Za-z]{38}")


def sqlite_file_app(database: Path, **settings) -> Flask:
    """The app on a SQLite file of its own, whatever DATABASE_URL the rest of the suite uses, with some of
    TestConfig's settings changed; its schema made."""
    app = create_app(type("FileConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
                                                        **settings}))
    with app.app_context():
        db.create_all()
    return app


def issue_key(creator: User, name="Power BI", services=ANALYTICS_SERVICES, expires_on: date | None = None, pepper=None,
              **fields) -> tuple[ApiKey, str]:
    """A key added to the session (not committed) and its plaintext, under the app's pepper unless another is
    given; extra fields (deleted_at, last_used_at, ...) are set as given."""
    key, plaintext = ApiKey.issue(creator=creator, name=name, services=services, expires_on=expires_on,
                                  pepper=pepper or current_app.config["API_KEY_PEPPER"].encode())
    for field, value in fields.items():
        setattr(key, field, value)
    db.session.add(key)
    return key, plaintext


def key_by_plaintext(plaintext: str, pepper: bytes | None = None) -> ApiKey | None:
    """The key (ORM) whose digest under the app's pepper, or `pepper`, is the plaintext's."""
    digest = tokens.digest(plaintext, pepper or current_app.config["API_KEY_PEPPER"].encode())
    return db.session.scalar(select(ApiKey).where(ApiKey.digest == digest))


def freeze(monkeypatch, moment: datetime) -> None:
    """Make the app's clock (floqast.columns.utcnow, as the key and team rules read it) read `moment`."""
    monkeypatch.setattr(floqast.columns, "utcnow", lambda: moment)
def logged_requests() -> list[ApiRequest]:
    """Every row of the API request log, oldest first, once this worker's buffer is written."""
    flush_own()
    return list(db.session.scalars(select(ApiRequest).order_by(ApiRequest.id)))


def log_rows(team_id: int, api_key_id: int, *moments, uri=ME, status=200, service=None) -> None:
    """Put requests of a team's key in the API request log at the given instants, written at once."""
    request_log = current_app.extensions["request_log"]
    for moment in moments:
        request_log.add(Captured(moment.timestamp(), team_id, api_key_id, "GET", CLIENT_IP, status, uri, service))
    request_log.flush()


def with_next(path: str, back: str) -> str:
    """A confirmation's URL (or its action's) that returns to `back`."""
    return f"{path}?{urlencode({'next': back})}"


def same_url(url: str, path: str, back: str) -> bool:
    """Whether `url` is `path` with ?next=`back`, however its query is encoded."""
    parts = urlsplit(url)
    return parts.path == path and parse_qs(parts.query) == {"next": [back]}


def log_in(client, user: User) -> None:
    """Sign the test client in as `user`, the way Flask-Login records it in the session, with the password typed
    now by the app's clock (as the login form records it for Confirm access)."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session[ACCESS_CONFIRMED_AT] = floqast.columns.utcnow().timestamp()


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


def assert_refused(result, *words: str) -> str:
    """The command failed with one readable line (no traceback, no usage dump) naming the problem."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    [line] = lines
    assert line.startswith("Error: ")
    for word in words:
        assert word.lower() in line.lower(), line
    return line


def reload(key: ApiKey) -> ApiKey:
    """The key as the database has it now."""
    db.session.expire_all()
    return db.session.get(ApiKey, key.id)


def mistyped(plaintext: str) -> str:
    """The key with one character changed, which its checksum catches."""
    return plaintext[:10] + ("A" if plaintext[10] != "A" else "B") + plaintext[11:]


def revocations() -> list[AuditEvent]:
    """The "Key revoked as leaked" audit events, oldest first."""
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.kind == AuditKind.KEY_REVOKED_AS_LEAKED).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def only_the_audit_insert(statements) -> bool:
    """No lookup at all: the one statement is the refusal's INSERT into the audit trail."""
    return len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")


def parse_html(source) -> BeautifulSoup:
    """The document (or fragment) parsed; accepts a str or a test response."""
    return BeautifulSoup(source if isinstance(source, str) else source.get_data(as_text=True), "html.parser")


def text_of(element) -> str:
    """The text inside an element, with runs of whitespace collapsed to one space, as a reader sees it."""
    return " ".join(element.get_text().split())


def revealed_key(body: str) -> str:
    """The new key of an answer with the reveal panel: it is in the panel's key field and its Test this key command
    (curl against this site's /api/v1/me), and nowhere else."""
    plaintext = KEY_PATTERN.search(body).group()
    reveal = parse_html(body).find("section", class_="reveal")
    assert reveal.find("textarea", id="new-key-value").get_text() == plaintext
    command = text_of(reveal.find("pre", id="test-key-command"))
    assert command == f'curl -H "x-api-key: {plaintext}" http://localhost{ME}'
    assert body.count(plaintext) == 2
    return plaintext


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


def assert_error_next_to(page, field: str, message: str) -> None:
    """The page's one field error is `message`, tied to its field for screen readers."""
    error = page.find(id=f"{field}-error")
    assert message in text_of(error)
    assert len(page.find_all("p", class_="field-error")) == 1
    if field == "services":  # the checkboxes' fieldset describes itself by the error
        assert error.parent.get("aria-describedby") == "services-error"
        return
    control = page.find(attrs={"name": field, "aria-describedby": f"{field}-error"})
    assert control.get("aria-invalid") == "true"
    assert error.parent is control.parent


def terminate_other_connections() -> int:
    """What a database restart does to the app: the server ends every other connection to the test database
    (pg_terminate_backend); how many it ended. PostgreSQL only."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def free_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app):
    """The app served by werkzeug in a thread on a free loopback port, for clients that need a real server
    (a browser, curl, requests); yields its base URL, and stops the server when the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class MailServer:
    """A real SMTP server (aiosmtpd) in the test process on a loopback port, keeping every message it accepts with
    its envelope recipients; it refuses the addresses in `refused`, and with `login` set, any other login (after
    STARTTLS: give it a tls_context)."""

    def __init__(self, port: int, login: tuple[str, str] | None = None, **smtp_settings):
        self.port = port
        self.login = login
        self.smtp_settings = smtp_settings
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.raw: list[bytes] = []  # each accepted message as it came, byte for byte
        self.refused: set[str] = set()
        self.controller: Controller | None = None

    def start(self) -> None:
        extra = dict(auth_required=True, authenticator=self._authenticate) if self.login else {}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **extra, **self.smtp_settings)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, message in self.received]

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        given = (auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=given == self.login, handled=False)  # not handled: the server says 535

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.original_content)
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted"


# The rate limits of a gunicorn a test starts (read from the environment, as in production): TestConfig's, high
# enough for tests that pull until every worker has answered; the per-address refusal limit (60 a minute) would
# otherwise turn a test's own refused pulls into 429s on whichever worker takes most of them.
TEST_RATE_LIMITS = {"API_RATE_LIMIT": TestConfig.API_RATE_LIMIT, "API_REFUSAL_LIMIT": TestConfig.API_REFUSAL_LIMIT}


@contextmanager
def gunicorn_serving(port: int, env: dict, *options: str):
    """`gunicorn -c gunicorn.conf.py wsgi:app` on a loopback port, with `env` as its environment and extra
    command-line `options` over the file's, once /healthz answers; stopped (SIGTERM, as a deploy does) after the
    block."""
    env = {**TEST_RATE_LIMITS, **env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *options, "wsgi:app"]
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
    """A psycopg cursor class that records what it executes and copies."""

    class Recording(cursor_class):
        def execute(self, query, *args, **kwargs):
            _record(query)
            return super().execute(query, *args, **kwargs)

        def executemany(self, query, *args, **kwargs):
            _record(query)
            return super().executemany(query, *args, **kwargs)

        def copy(self, statement, *args, **kwargs):
            _record(statement)
            return super().copy(statement, *args, **kwargs)

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


def validate(document, path, status, body, method="get"):
    """Check a real body against the documented schema of that response, resolving its $refs."""
    schema = document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
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


REDIS_URL = "redis://127.0.0.1:6379"


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


on_redis = pytest.mark.skipif(not redis_reachable(),
                              reason="no Redis at 127.0.0.1:6379 (CI runs one; start redis-server to run this)")


class WebhookReceiver:
    """An HTTP server on a loopback port that keeps every request it gets (headers and body) and answers each with
    the next of `answers` (status, headers, body), the last one again once they run out: a receiver of webhooks."""

    def __init__(self, *answers: tuple[int, dict, bytes]):
        self.answers = list(answers) or [(200, {}, b"ok")]
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), body))
                status, headers, answer = receiver.answers[min(len(receiver.requests), len(receiver.answers)) - 1]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks"

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def add_entities(team, *names: str) -> dict[str, int]:
    """Entities of the team with these names, committed: their ids by name."""
    made = [Entity(team_id=team.id, name=name) for name in names]
    db.session.add_all(made)
    db.session.commit()
    return {entity.name: entity.id for entity in made}

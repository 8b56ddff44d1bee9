"""The API request log: every /api/ request whose team is known (accepted, or refused with a key of the team),
read back by GET /api/v1/audit-trail and the Activity page.

No write per request: each worker process keeps its requests in memory, only their raw values (a row's uri
without keys, its service and its clipping are made with the batch), and inserts them in one batch when
REQUEST_LOG_BATCH_ROWS have gathered or the oldest is REQUEST_LOG_FLUSH_SECONDS old (a daemon thread flushes
an idle worker), and at the worker's exit. What a worker holds is lost if it is killed (at most one batch, or
one second of requests), and a batch is dropped, with a warning, when the database refuses it: the request
it logs has been answered already and never fails for it.

On PostgreSQL the table is range-partitioned by month on created_at, so that `flask --app wsgi api-log prune`
drops whole months instead of deleting millions of rows; a batch for a month without its partition makes it.
On SQLite it is a plain table, pruned with DELETE.
"""

import atexit
import functools
import logging
import os
import threading
import time
import weakref
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote_plus

import click
from flask import current_app, g, request
from flask.cli import AppGroup
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column

from floqast import keys
from floqast.extensions import db
from floqast.models import USER_AGENT_LENGTH, ApiKey, UTCDateTime, clip, utcnow
from floqast.request_days import REFUSED_STATUSES, count_days, prune_days

logger = logging.getLogger(__name__)
REDACTED = "REDACTED"
MAX_URI_LENGTH = 4096
PARTITION_PREFIX = "api_requests_"
# The advisory lock a batch holds from taking its ids to its commit (PostgreSQL).
INSERT_LOCK = "api_requests ids"
# Partitions made ahead by `api-log prune`, besides the current month's.
MONTHS_AHEAD = 2
# What a batch writes of each row, in the order of rows_of's tuples (the id comes from the table's sequence).
COLUMNS = ("created_at", "team_id", "api_key_id", "method", "uri", "source_ip", "status", "service", "user_agent")
COPY_ROWS = f"COPY api_requests ({', '.join(COLUMNS)}) FROM STDIN"
# Patched by tests to move time; monotonic, so that a clock step never holds rows back or flushes early.
clock = time.monotonic


class PartitionedPrimaryKey(PrimaryKeyConstraint):
    """id, to SQLAlchemy and on SQLite (where a lone INTEGER PRIMARY KEY numbers new rows by itself); on
    PostgreSQL (id, created_at), since a partitioned table's primary key must hold its partition key."""


@compiles(PartitionedPrimaryKey, "postgresql")
def _with_the_partition_key(constraint, compiler, **kw):
    return f"CONSTRAINT {compiler.preparer.format_constraint(constraint)} PRIMARY KEY (id, created_at)"


class ApiRequest(db.Model):
    """One API request: when, which team and key, what was asked (never a key), from where, and the answer."""

    __tablename__ = "api_requests"
    __table_args__ = (
        PartitionedPrimaryKey("id", name="pk_api_requests"),
        Index("ix_api_requests_team_id_id", "team_id", "id"),
        Index("ix_api_requests_api_key_id_id", "api_key_id", "id"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    # Plain integers, no foreign keys: a log outlives what it names, and inserting it checks nothing.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    team_id: Mapped[int]
    api_key_id: Mapped[int]
    method: Mapped[str] = mapped_column(String(16))
    uri: Mapped[str] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(String(45))
    status: Mapped[int] = mapped_column(SmallInteger)
    service: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))


# The request lists' status filter (the Activity page's, a key page's): its choices, each with its condition on
# the status; succeeded, refused and other errors as a key's Usage counts them.
STATUS_FILTERS = {
    "all": ("All", None),
    "succeeded": ("Succeeded", ApiRequest.status < 400),
    "refused": ("Refused (401, 403, 429)", ApiRequest.status.in_(sorted(REFUSED_STATUSES))),
    "failed": ("Other errors", (ApiRequest.status >= 400) & ApiRequest.status.not_in(sorted(REFUSED_STATUSES))),
    **{str(code): (f"{code} {label}", ApiRequest.status == code) for code, label in (
        (200, "OK"), (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (429, "Too Many Requests"))},
}
PAGE_SIZE = 25


def team_requests(team_id: int, api_key_id: int | None, status_filter: str, before_id: int | None = None,
                  limit: int = PAGE_SIZE) -> list:
    """The team's logged requests, newest first, `limit` of them (older than `before_id` when given), each with
    its key's name and hint; one key's only when `api_key_id` is given."""
    flush_own()
    query = (
        select(ApiRequest, ApiKey.name.label("key_name"), ApiKey.hint.label("key_hint"))
        .outerjoin(ApiKey, (ApiKey.id == ApiRequest.api_key_id) & (ApiKey.team_id == team_id))
        .where(ApiRequest.team_id == team_id)
        .order_by(ApiRequest.id.desc())
        .limit(limit)
    )
    condition = STATUS_FILTERS[status_filter][1]
    if condition is not None:
        query = query.where(condition)
    if api_key_id is not None:
        query = query.where(ApiRequest.api_key_id == api_key_id)
    if before_id is not None:
        query = query.where(ApiRequest.id < before_id)
    return list(db.session.execute(query))


def latest_accepted(team_id: int, api_key_id: int, since: datetime) -> ApiRequest | None:
    """The key's latest request that its check accepted (not refused: 401, 403, 429) at or after `since`."""
    flush_own()
    return db.session.scalar(
        select(ApiRequest)
        .where(ApiRequest.team_id == team_id, ApiRequest.api_key_id == api_key_id, ApiRequest.created_at >= since,
               ApiRequest.status.not_in(sorted(REFUSED_STATUSES)))
        .order_by(ApiRequest.id.desc())
        .limit(1)
    )


class ClientAddress(NamedTuple):
    """An address a key's requests came from: how many, how many refused, the latest's time and user agent."""

    ip: str | None
    requests: int
    refused: int
    last_at: datetime
    user_agent: str | None

    @property
    def accepted(self) -> bool:
        """Whether the key was accepted from here at least once."""
        return self.requests > self.refused


def client_addresses(team_id: int, api_key_id: int, since: datetime, limit: int) -> list[ClientAddress]:
    """The distinct addresses of the key's requests since `since`, the latest used first, `limit` of them at most:
    one grouped query, then one for each address's latest request."""
    flush_own()
    refused = ApiRequest.status.in_(sorted(REFUSED_STATUSES))
    latest_id = func.max(ApiRequest.id)
    grouped = db.session.execute(
        select(ApiRequest.source_ip, func.count(), func.count().filter(refused), latest_id)
        .where(ApiRequest.team_id == team_id, ApiRequest.api_key_id == api_key_id, ApiRequest.created_at >= since)
        .group_by(ApiRequest.source_ip)
        .order_by(latest_id.desc())
        .limit(limit)
    ).all()
    latest = {row.id: row for row in db.session.execute(
        select(ApiRequest.id, ApiRequest.created_at, ApiRequest.user_agent)
        .where(ApiRequest.api_key_id == api_key_id, ApiRequest.id.in_([row[3] for row in grouped]))
    )}
    return [ClientAddress(ip, requests, refused_count, latest[last_id].created_at, latest[last_id].user_agent)
            for ip, requests, refused_count, last_id in grouped]


class LoggedKey(NamedTuple):
    """The key a refused request came with, read before the refusal's commit expires its row."""

    id: int
    team_id: int


# ---------------------------------------------------------------------------------------------- what is logged


def _redact(part: str) -> bool:
    return keys.looks_like_key(unquote_plus(part))


def redacted_query(query: str) -> str:
    """The query string as sent, but REDACTED for every name or value that looks like a key and every value of
    a key parameter (`?api_key=...`)."""
    parts = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if _redact(name):
            name = REDACTED
        if value and (unquote_plus(name).strip().lower() in keys.QUERY_KEY_PARAMETERS or _redact(value)):
            value = REDACTED
        parts.append(name + equals + value)
    return "&".join(parts)


def request_uri(path: str, query: bytes) -> str:
    """A request's path and query, without any key in them."""
    path = "/".join(REDACTED if keys.looks_like_key(part) else part for part in path.split("/"))
    uri = quote(path, safe="/:@!$&'()*+,;=-._~")
    if query:
        uri += "?" + redacted_query(query.decode())
    return uri


def query_parameters(uri: str) -> dict:
    """The parameters of a logged uri as an object: each name's value, a list of them when it repeats."""
    parameters: dict = {}
    for name, value in parse_qsl(uri.partition("?")[2], keep_blank_values=True):
        if name in parameters:
            held = parameters[name]
            parameters[name] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            parameters[name] = value
    return parameters


def route_service(view_functions: dict, endpoint: str | None) -> str | None:
    """The label of the service an endpoint's route needs, if any."""
    service = getattr(view_functions.get(endpoint), "required_service", None)
    return None if service is None else service.label


class Captured(NamedTuple):
    """A request as the buffer holds it: what only the live request knows, made a row at flush time.

    log_api_request appends plain tuples in this order: this class's constructor would add a fifth to the cost of
    the capture.
    """

    at: float  # time.time()
    team_id: int
    api_key_id: int
    method: str
    source_ip: str | None
    status: int
    uri: str | None  # the view's own, else made from path and query
    service: str | None  # the view's own label, else its endpoint's
    path: str = ""
    query: bytes = b""
    endpoint: str | None = None
    user_agent: str | None = None


def log_api_request(response):
    """Buffer an /api/ request whose key names a team (accepted, or refused with a key of ours): its raw values
    only, since a row's uri, service and clipping can wait for the batch."""
    # A read through one of Flask's proxies costs about a microsecond, more than the rest of this hook together,
    # and g.get is a Python call: each object is read through its proxy once, g's attributes as a dict.
    live = request._get_current_object()
    if not live.is_api:
        return response
    found = vars(g._get_current_object())
    key = found.get("api_key") or found.get("refused_key")
    if key is None:
        return response
    current_app._get_current_object().extensions["request_log"].add((
        time.time(), key.team_id, key.id, live.method, live.remote_addr, response.status_code,
        found.get("logged_uri"), found.get("logged_service"), live.path, live.query_string, live.endpoint,
        live.environ.get("HTTP_USER_AGENT"),
    ))
    return response


def rows_of(captured: list[tuple], view_functions: dict) -> list[tuple]:
    """The log's rows for captured requests, as tuples of COLUMNS: their uri without keys, their route's service,
    every value clipped to its column (one value too long would make PostgreSQL refuse the whole batch)."""
    # A batch mostly repeats a few uris and endpoints (and forgets them with it).
    uri_of = functools.cache(request_uri)
    service_of = functools.cache(functools.partial(route_service, view_functions))
    return [
        (
            datetime.fromtimestamp(at, timezone.utc),
            team_id,
            api_key_id,
            method[:16],
            (uri or uri_of(path, query))[:MAX_URI_LENGTH],
            None if source_ip is None else source_ip[:45],
            status,
            (service or service_of(endpoint) or "")[:32] or None,
            clip(user_agent, USER_AGENT_LENGTH) or None,
        )
        for at, team_id, api_key_id, method, source_ip, status, uri, service, path, query, endpoint, user_agent
        in captured
    ]


def write_rows(connection, rows: list[tuple]) -> None:
    """Insert a batch's rows, their ids from the table's sequence. On PostgreSQL by COPY on the transaction's own
    driver connection, which routes each row to its partition and costs a fraction of an INSERT's executemany,
    whose parameters SQLAlchemy processes and psycopg sends row by row."""
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(COPY_ROWS) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        connection.execute(insert(ApiRequest), [dict(zip(COLUMNS, row, strict=True)) for row in rows])


# ---------------------------------------------------------------------------------------------- the buffer

_LOGS: "weakref.WeakSet[RequestLog]" = weakref.WeakSet()


class RequestLog:
    """This worker's rows not yet written, and the writing of them in batches."""

    def __init__(self, app):
        self.app = app
        self.batch_rows = app.config["REQUEST_LOG_BATCH_ROWS"]
        self.flush_seconds = app.config["REQUEST_LOG_FLUSH_SECONDS"]
        self.background = app.config["REQUEST_LOG_BACKGROUND_FLUSH"]
        self.forget_rows()
        _LOGS.add(self)

    def forget_rows(self) -> None:
        """Start empty, with a lock and no flusher thread of our own (also in a forked child: the parent's
        rows are the parent's to write, and its thread did not come along)."""
        self.lock = threading.Lock()
        self.rows: list[tuple] = []  # Captured requests
        self.oldest = 0.0
        self.flusher: threading.Thread | None = None

    def add(self, captured: tuple) -> None:
        """Keep a Captured request; write the batch when it is full or its oldest has waited long enough."""
        with self.lock:
            rows = self.rows
            rows.append(captured)
            now = clock()
            if len(rows) == 1:
                self.oldest = now
                if self.background and self.flusher is None:
                    self.flusher = threading.Thread(target=self.flush_when_idle, name="request-log", daemon=True)
                    self.flusher.start()
            due = len(rows) >= self.batch_rows or now - self.oldest >= self.flush_seconds
        if due:
            self.flush()

    def flush_if_due(self) -> int:
        """Write the rows if the oldest has waited FLUSH_SECONDS; how many."""
        with self.lock:
            due = bool(self.rows) and clock() - self.oldest >= self.flush_seconds
        return self.flush() if due else 0

    def flush_when_idle(self) -> None:
        """The daemon thread: write rows that have waited FLUSH_SECONDS when no request came to do it."""
        while True:
            time.sleep(self.flush_seconds / 4)
            self.flush_if_due()

    def take(self) -> list[tuple]:
        with self.lock:
            rows, self.rows = self.rows, []
            return rows

    def flush(self) -> int:
        """Make the buffered requests rows and write them in one statement, and add them to their keys' days, in one
        transaction; how many. A failure drops the batch, with a warning."""
        captured = self.take()
        if not captured:
            return 0
        try:
            rows = rows_of(captured, self.app.view_functions)
            with self.app.app_context(), db.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    moments = [row[0] for row in rows]
                    month, last = month_of(min(moments)), month_of(max(moments))
                    while month <= last:  # every month from the batch's first to its last: they are rarely two
                        make_partition(connection, month)
                        month = next_month(month)
                    # One batch at a time takes ids and commits, so ids become visible in their order: a trail
                    # reader's cursor (after id N) never passes a batch with lower ids still being written.
                    # (SQLite writes one transaction at a time anyway.)
                    connection.execute(text(f"SELECT pg_advisory_xact_lock(hashtext('{INSERT_LOCK}'))"))
                write_rows(connection, rows)
                count_days(connection, ((team_id, api_key_id, int(at), status)
                                        for at, team_id, api_key_id, _, _, status, *_ in captured))
        except Exception:  # noqa: BLE001  (the requests were answered; a log outage must not fail anything)
            logger.warning("API request log: %d rows not written", len(captured), exc_info=True)
            return 0
        return len(rows)


def flush_all() -> None:
    """Write what every request log of this process holds (at exit: gunicorn's worker_exit, atexit)."""
    for log in list(_LOGS):
        log.flush()


def flush_own() -> None:
    """Write this worker's rows before reading the log, so that a client sees its own requests at once."""
    log = current_app.extensions.get("request_log")
    if log is not None:
        log.flush()


def _forget_parents_rows() -> None:
    for log in list(_LOGS):
        log.forget_rows()


os.register_at_fork(after_in_child=_forget_parents_rows)
atexit.register(flush_all)


# ---------------------------------------------------------------------------------------------- partitions


def month_of(moment: datetime) -> date:
    return moment.astimezone(timezone.utc).date().replace(day=1)


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def partition_name(month: date) -> str:
    return f"{PARTITION_PREFIX}{month:%Y_%m}"


def is_partition(name: str) -> bool:
    """Whether a table name is one of the log's monthly partitions (which no model describes)."""
    suffix = name.removeprefix(PARTITION_PREFIX)
    return name != suffix and len(suffix) == 7 and suffix[4] == "_" and suffix.replace("_", "").isdigit()


def include_name(name, type_, parent_names) -> bool:
    """Alembic's filter: the partitions are made by the log, not described by a model, so never drift."""
    return not (type_ == "table" and is_partition(name))


def make_partition(connection, month: date) -> bool:
    """Create the partition for `month` (UTC) unless it exists; whether it was made. Workers racing to make
    one wait for each other on an advisory lock, so that the loser finds it made rather than failing."""
    name = partition_name(month)

    def exists() -> bool:
        return connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None

    if exists():
        return False
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('api_requests partitions'))"))
    if exists():
        return False
    start, end = (datetime.combine(day, datetime.min.time(), timezone.utc) for day in (month, next_month(month)))
    connection.execute(text(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF api_requests "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    ))
    return True


def partitions(connection) -> list[tuple[str, date]]:
    """The log's partitions and their months, oldest first."""
    names = connection.execute(text(
        "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
        "WHERE pg_inherits.inhparent = 'api_requests'::regclass"
    )).scalars()
    found = [(name, date(int(name[-7:-3]), int(name[-2:]), 1)) for name in names if is_partition(name)]
    return sorted(found, key=lambda found_partition: found_partition[1])


def prune(now: datetime, retention_days: int) -> list[str]:
    """Keep `retention_days` of the log: what was done, a line each."""
    cutoff = now - timedelta(days=retention_days)
    done = []
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            for name, month in partitions(connection):
                if datetime.combine(next_month(month), datetime.min.time(), timezone.utc) <= cutoff:
                    connection.execute(text(f"DROP TABLE {name}"))
                    done.append(f"dropped {name}")
            month = month_of(now)
            for _ in range(MONTHS_AHEAD + 1):
                if make_partition(connection, month):
                    done.append(f"created {partition_name(month)}")
                month = next_month(month)
        deleted = connection.execute(delete(ApiRequest).where(ApiRequest.created_at < cutoff)).rowcount
        done.append(f"deleted {deleted} rows older than {cutoff:%Y-%m-%d %H:%M} UTC")
        done.append(f"deleted {prune_days(connection, cutoff)} daily usage counts")
    return done


api_log_cli = AppGroup("api-log", help="The API request log: keep REQUEST_LOG_RETENTION_DAYS of it.")


@api_log_cli.command("prune")
def prune_command():
    """Drop what is older than REQUEST_LOG_RETENTION_DAYS; on PostgreSQL, make the coming months' partitions."""
    for line in prune(utcnow(), current_app.config["REQUEST_LOG_RETENTION_DAYS"]):
        click.echo(line)


def init_app(app) -> None:
    app.extensions["request_log"] = RequestLog(app)
    if app.config["REQUEST_LOG_ENABLED"]:
        app.after_request(log_api_request)
    app.cli.add_command(api_log_cli)

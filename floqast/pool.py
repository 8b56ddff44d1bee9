"""How the pool's database connections are set up: SQLite's write-ahead log, and PostgreSQL's liveness check.

SQLite runs in WAL mode, so that readers and the writer never wait for each other: in its default rollback-journal
mode, an export streamed to a client that reads slowly held a shared lock for as long as it lasted, and every write
of the other workers (a delete, a leak report, a login, a batch of the request log) waited for it, then failed.

A pooled PostgreSQL connection is pinged before use only if it sat idle. SQLAlchemy's pool_pre_ping pings on every
checkout: one more round trip on every keyed pull, as much as the key's own SELECT. Here, as HikariCP's alive-bypass
window, a connection checked in less than DATABASE_PING_AFTER_IDLE_SECONDS ago is used without a ping; one that sat
longer is pinged, and replaced if the ping finds it dead. A connection that died within the window fails its first
statement: the key check retries its SELECT once on a new connection (floqast/keys/lookup.py), and anything else is a
503 (floqast/web/errors.py) after which SQLAlchemy replaces the pool's connections.
"""

import time

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

from floqast.extensions import db

# When each pooled connection was last known alive: connected or checked in.
ALIVE_AT = "floqast_alive_at"
# How long a SQLite connection waits for another's write to end before "database is locked" (a 503). In WAL mode
# only writers wait, for each other, and a write takes milliseconds: only a stuck one makes anyone wait this long.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Patched by tests to move time.
clock = time.monotonic


def configure(app) -> None:
    """Before the engine is made: the pooled connection used last is used next (the one pulls keep alive, which
    need not be pinged), and idle ones stay idle until they are pinged or dropped."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_use_lifo": True,
                                                   **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}


def init_app(app) -> None:
    """Once the engine is made: SQLite's connections in WAL mode; PostgreSQL's pinged on checkout if they sat idle."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        # A local file does not drop connections the way a server does: never a ping.
        event.listen(engine, "connect", use_write_ahead_log)
        return
    window = app.config["DATABASE_PING_AFTER_IDLE_SECONDS"]
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def alive(dbapi_connection, record) -> None:
        record.info[ALIVE_AT] = clock()

    @event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection, record, proxy) -> None:
        if clock() - record.info.get(ALIVE_AT, float("-inf")) < window:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError(f"pooled connection found dead after {window} s idle") from error
            raise


def use_write_ahead_log(dbapi_connection, record) -> None:
    """Every new SQLite connection: WAL mode (kept in the file once set; an in-memory database keeps its own) and
    the busy timeout (a connection's own setting)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()

"""The database pool's liveness check: a pooled connection is pinged before use only if it sat idle.

SQLAlchemy's pool_pre_ping pings on every checkout: one more round trip on every keyed pull, as much as the key's
own SELECT. Here, as HikariCP's alive-bypass window, a connection checked in less than
DATABASE_PING_AFTER_IDLE_SECONDS ago is used without a ping; one that sat longer is pinged, and replaced if the
ping finds it dead. A connection that died within the window fails its first statement: the key check retries its
SELECT once on a new connection (floqast/keys/lookup.py), and anything else is a 503 (floqast/web/errors.py) after which
SQLAlchemy replaces the pool's connections.
"""

import time

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

from floqast.extensions import db

# When each pooled connection was last known alive: connected or checked in.
ALIVE_AT = "floqast_alive_at"
# Patched by tests to move time.
clock = time.monotonic


def configure(app) -> None:
    """Before the engine is made: the pooled connection used last is used next (the one pulls keep alive, which
    need not be pinged), and idle ones stay idle until they are pinged or dropped."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_use_lifo": True,
                                                   **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}


def init_app(app) -> None:
    """Once the engine is made: ping pooled connections that sat idle, on checkout."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return  # a local file does not drop connections the way a server does: never a ping
    window = app.config["DATABASE_PING_AFTER_IDLE_SECONDS"]
    with app.app_context():
        engine = db.engine
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

"""The key check's fast path: what a pull needs to know about its key, read without the ORM.

Every API request checks its key, so the check's cost is most of what a keyed request costs beyond an
unkeyed one: README's benchmark section measures it in row 1 (auth overhead, /api/v1/me against /healthz)
and row 2 (key check), and commits 19523b8, dc0ad99, 591174a and 4cd4736 measured each step taken here.
It reads the same values as the ORM, which tests/keys/test_key_check.py checks for keys in every state, on SQLite
and PostgreSQL. Only the verifier (floqast/keys/authenticate.py) reads keys this way.
"""

from functools import cache, lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError

from floqast.accounts.models import Team, TeamDates
from floqast.extensions import db
from floqast.keys.models import ApiKey, KeyRules


class CheckedTeam(TeamDates):
    """A key's team as a pull sees it: read-only values with the Team's own date rules."""

    __slots__ = ("id", "timezone", "open_api_enabled")


class CheckedKey(KeyRules):
    """A key as a pull sees it, built from one row of `check`: the values of KeyRules.FIELDS and the rules they
    decide, without an ORM object or a session. Read-only but for Last used, which actions.record_use moves on."""

    __slots__ = (*KeyRules.FIELDS, "team")

    def __init__(self, values: dict):
        for name in KeyRules.FIELDS:
            setattr(self, name, values[name])
        self.team = team = CheckedTeam()
        for name in CheckedTeam.__slots__:
            setattr(team, name, values[f"team__{name}"])


def check_digests(digests: tuple[str, ...]) -> CheckedKey | None:
    """What a pull needs to know about the key whose digest is one of `digests` (the presented key's under each
    configured pepper), read in one indexed query without the ORM session.

    A pull that only reads its key then begins no session transaction and builds no ORM objects, which
    cost more than the lookup itself; nor Core's result objects (KeyLookup). Writes (Last used) still go
    through the session.
    """
    return check_by("digest", digests)


def check_id(key_id: int) -> CheckedKey | None:
    """What a pull needs to know about the key with id `key_id` (a download link names its key so), as check_digests
    reads it."""
    return check_by("id", (key_id,))


def check_by(column: str, values: tuple) -> CheckedKey | None:
    """The CheckedKey whose `column` is one of `values`, or None."""
    try:
        row = lookup(column, values)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        # The pooled connection had died since its last use (floqast/pool.py pings only idle ones): a read
        # is safe to send again, once, on a new connection. A database still down fails again: a 503.
        row = lookup(column, values)
    return None if row is None else CheckedKey(row)


def lookup(column: str, values: tuple) -> dict | None:
    """The key row whose `column` (unique) is one of `values`."""
    return KeyLookup.compiled_for(db.engine.dialect, column, len(values)).run(db.engine, values)


@cache
def statement(column: str, count: int):
    """The key check's SELECT by `column` IN `count` values (one per pepper for digests): only the columns a pull
    reads (each one converted costs; datetimes most)."""
    return (
        select(*(ApiKey.__table__.c[name] for name in KeyRules.FIELDS),
               *(Team.__table__.c[name].label(f"team__{name}") for name in CheckedTeam.__slots__))
        .join(Team, Team.id == ApiKey.team_id)
        .where(ApiKey.__table__.c[column].in_([bindparam(f"{column}{number}") for number in range(count)]))
    )


class KeyLookup:
    """A key check's SELECT compiled once for a dialect and run on the pooled driver connection's own cursor,
    its row converted by the columns' own result processors: what Core does, without the statement cache
    lookup, execution context and result objects that cost more than the lookup itself."""

    def __init__(self, dialect, column: str, count: int):
        select_key = statement(column, count)
        compiled = select_key.compile(dialect=dialect)
        self.dialect = dialect
        self.names = [f"{column}{number}" for number in range(count)]
        self.sql = compiled.string
        self.positional = compiled.positional
        self.columns = [
            (column.key, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in select_key.selected_columns
        ]

    @classmethod
    @lru_cache(maxsize=16)
    def compiled_for(cls, dialect, column: str, count: int) -> "KeyLookup":
        return cls(dialect, column, count)

    def run(self, engine, values: tuple) -> dict | None:
        """The key row for one of `values` as {column label: value}, or None, read on a driver connection from
        `engine`'s pool (checked out and in by the pool alone: a Core Connection, and its isolation level set and
        reset, cost a pull more than the SELECT's own Python)."""
        dbapi_error = self.dialect.loaded_dbapi.Error
        # One SELECT needs no transaction: no BEGIN before it, no ROLLBACK round trip after it. (SQLite's driver
        # begins nothing for a SELECT anyway.)
        autocommit = self.dialect.name != "sqlite"
        connection = None
        try:
            connection = engine.raw_connection()
            dbapi_connection = connection.dbapi_connection
            if autocommit:
                dbapi_connection.autocommit = True
            try:
                cursor = dbapi_connection.cursor()
                try:
                    cursor.execute(self.sql, values if self.positional else dict(zip(self.names, values, strict=True)))
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                if autocommit and not dbapi_connection.closed:
                    dbapi_connection.autocommit = False  # as the pool lends it: the session's transactions
        except dbapi_error as error:
            # SQLAlchemy's own error for the driver's, as Core raises, so that floqast/web/errors.py answers a lost
            # database with a 503 here too; and, as Core does, a dead connection leaves the pool.
            disconnected = connection is not None and self.dialect.is_disconnect(error, dbapi_connection, None)
            if disconnected:
                connection.invalidate(error)
            raise DBAPIError.instance(self.sql, None, error, dbapi_error, connection_invalidated=disconnected,
                                      dialect=self.dialect) from error
        finally:
            if connection is not None:
                connection.close()
        if row is None:
            return None
        return {
            name: convert(value) if convert else value
            for (name, convert), value in zip(self.columns, row, strict=True)
        }

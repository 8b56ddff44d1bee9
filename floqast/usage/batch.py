"""Writing a batch of captured requests: their rows and their keys' days, hours and addresses, in one transaction."""

import functools

from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from floqast.usage.addresses import count_addresses
from floqast.usage.capture import COLUMNS, rows_of
from floqast.usage.days import count_days
from floqast.usage.hours import count_hours
from floqast.usage.models import ApiRequest
from floqast.usage.partitions import make_partitions_between
from floqast.usage.rollups import tallies

COPY_ROWS = f"COPY api_requests ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
INSERT_ROWS = f"INSERT INTO api_requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
# The advisory lock a batch holds from taking its ids to its commit (PostgreSQL).
INSERT_LOCK = "api_requests ids"


def write_batch(connection, captured: list[tuple], view_functions: dict) -> int:
    """Make captured requests rows and write them in one statement, and add them to their keys' days, in the
    connection's transaction; how many."""
    rows = rows_of(captured, view_functions)
    if connection.dialect.name == "postgresql":
        moments = [row[0] for row in rows]
        make_partitions_between(connection, min(moments), max(moments))
        # One batch at a time takes ids and commits, so ids become visible in their order: a trail reader's
        # cursor (after id N) never passes a batch with lower ids still being written. (SQLite writes one
        # transaction at a time anyway.)
        connection.execute(text(f"SELECT pg_advisory_xact_lock(hashtext('{INSERT_LOCK}'))"))
    write_rows(connection, rows)
    counted = tallies(rows, last_id(connection) - len(rows) + 1)
    count_days(connection, counted)
    count_hours(connection, counted)
    count_addresses(connection, counted)
    return len(rows)


def last_id(connection) -> int:
    """The id of the batch's last row: its rows took consecutive ids, in their order, since one batch at a time
    writes (the advisory lock on PostgreSQL, the one writer on SQLite)."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT currval(pg_get_serial_sequence('api_requests', 'id'))")).scalar()
    return connection.execute(text("SELECT max(id) FROM api_requests")).scalar()


def write_rows(connection, rows: list[tuple]) -> None:
    """Insert a batch's rows, their ids from the table's sequence. On PostgreSQL by COPY on the transaction's own
    driver connection, which routes each row to its partition and costs a fraction of an INSERT's executemany,
    whose parameters SQLAlchemy processes and psycopg sends row by row; in COPY's binary format, which neither
    side spells out or parses as text (half the time of the text format's). On SQLite by the driver's executemany,
    created_at made text by its column's own type: the other columns need nothing, and SQLAlchemy's insert()
    spent twice the driver's time looking at each value."""
    if connection.dialect.name == "postgresql":
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(COPY_ROWS) as copy:
            copy.set_types(copy_types())
            for row in rows:
                copy.write_row(row)
    else:
        stored = ApiRequest.__table__.c.created_at.type.dialect_impl(connection.dialect).bind_processor(
            connection.dialect)
        connection.exec_driver_sql(INSERT_ROWS, [(stored(row[0]), *row[1:]) for row in rows])


@functools.cache
def copy_types() -> list[str]:
    """The PostgreSQL type of each of COLUMNS, from the model, by the name psycopg knows it by (without a length):
    binary COPY sends each value in its column's own format."""
    dialect = postgresql.dialect()
    return [ApiRequest.__table__.c[name].type.compile(dialect=dialect).split("(")[0].lower() for name in COLUMNS]

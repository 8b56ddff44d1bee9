"""What the log's rollups (days, hours, addresses) share: a batch's rows tallied once, counts added to their rows
in the batch's transaction by one upsert, a row's lowest and highest ids kept, and the outcome each status counts
as."""

import functools
from typing import NamedTuple

from sqlalchemy import Table, Text, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

# Statuses that refuse a key's pull (bad key, not allowed, rate limited), counted apart from the rest.
REFUSED_STATUSES = frozenset({401, 403, 429})
# A rollup row's counts.
OUTCOMES = ("succeeded", "refused", "failed")


def outcome(status: int) -> str:
    """Which of a rollup's counts a request with this status adds to."""
    if status in REFUSED_STATUSES:
        return "refused"
    return "succeeded" if status < 400 else "failed"


class Tally(NamedTuple):
    """A batch's requests of one key in one second with one status and address: how many, and the lowest and
    highest of their ids."""

    team_id: int
    api_key_id: int
    second: int  # created_at's Unix second
    status: int
    source_ip: str | None
    requests: int
    first_id: int
    last_id: int


def tallies(rows: list[tuple], first_id: int) -> list[Tally]:
    """A batch's rows (tuples of capture.COLUMNS, their ids consecutive from `first_id`) tallied by key, second,
    status and address: what every rollup sums, a few dozen tallies for hundreds of rows."""
    found: dict = {}
    for row_id, (created_at, team_id, api_key_id, _, _, source_ip, status, *_) in enumerate(rows, first_id):
        key = (team_id, api_key_id, int(created_at.timestamp()), status, source_ip)
        counts = found.get(key)
        if counts is None:
            found[key] = [1, row_id, row_id]
        else:
            counts[0] += 1
            counts[2] = row_id  # ids grow with the rows
    return [Tally(*key, *counts) for key, counts in found.items()]


def add_counts(connection, table: Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Add `rows` (tuples of `columns`, sorted by the table's primary key, so that two batches never wait on each
    other in a cycle) to the table's rows: counts summed, first_id and last_id widened."""
    if not rows:
        return
    upsert = upsert_counts(table, columns, connection.dialect.name)
    if connection.dialect.name == "postgresql":
        connection.execute(upsert, dict(zip(columns, map(array_literal, zip(*rows, strict=True)), strict=True)))
    else:
        connection.execute(upsert, [dict(zip(columns, row, strict=True)) for row in rows])


def array_literal(values: tuple) -> str:
    """A PostgreSQL array of numbers, dates or text as text: psycopg dumps a list in Python, at about a microsecond
    an element. Text is quoted, whatever it holds."""
    return "{" + ",".join(
        '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' if isinstance(value, str) else str(value)
        for value in values) + "}"


@functools.cache
def upsert_counts(table: Table, columns: tuple[str, ...], dialect_name: str):
    """The statement adding counts to their rows, made once per table: on PostgreSQL one for a whole batch, each
    column sent as an array (an executemany costs about as much per row as the log's INSERT did), elsewhere one
    executed per row."""
    keys = [column.name for column in table.primary_key.columns]
    if dialect_name == "postgresql":
        arrays = func.unnest(*(cast(bindparam(name, type_=Text), postgresql.ARRAY(table.c[name].type))
                               for name in columns))
        upsert = postgresql.insert(table).from_select(columns, select(literal_column("*")).select_from(arrays))
        lowest, highest = func.least, func.greatest
    else:
        upsert = sqlite.insert(table)
        lowest, highest = func.min, func.max  # SQLite's two-argument min() and max() are scalar
    changes = {name: table.c[name] + upsert.excluded[name] for name in OUTCOMES if name in columns}
    if "first_id" in columns:
        changes["first_id"] = lowest(table.c.first_id, upsert.excluded.first_id)
    if "last_id" in columns:
        changes["last_id"] = highest(table.c.last_id, upsert.excluded.last_id)
    return upsert.on_conflict_do_update(index_elements=keys, set_=changes)

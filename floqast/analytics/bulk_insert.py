"""The generator's fast path: rows put in their stored form once each and sent with the driver's executemany.

It skips what `db.session.add_all(...)` does for every value (binding it through its column's type, building
per-row parameters) and stores the same rows: tests/analytics/test_bulk_insert.py compares them column by column, on
SQLite and PostgreSQL. What that buys is measured in commit c309757 (rows per CPU second, before and after)
and is the generating time of the full run in README's benchmark section. Only the generator writes this way.
"""

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import cache, lru_cache

from sqlalchemy import JSON, Date, Table

from floqast.analytics.money import Money
from floqast.columns import UTCDateTime
from floqast.extensions import db

BATCH_SIZE = 5000


def insert_in_batches(model, rows, on_batch=None) -> int:
    """Insert rows with executemany, BATCH_SIZE at a time; `on_batch(n)` after each batch."""
    total, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_SIZE:
            total += flush_batch(model, batch, on_batch)
            batch = []
    return total + (flush_batch(model, batch, on_batch) if batch else 0)


def flush_batch(model, batch: list, on_batch) -> int:
    connection = db.session.connection()
    dialect = connection.dialect
    statement, stored = storage(model.__table__, tuple(batch[0]), dialect.name, dialect.paramstyle)
    connection.exec_driver_sql(statement, [stored(row) for row in batch])
    if on_batch:
        on_batch(len(batch))
    return len(batch)


@cache
def storage(table: Table, names: tuple[str, ...], dialect: str, paramstyle: str):
    """An INSERT for the driver's executemany, and a function that puts a row in the form the database
    stores, as a tuple: what the columns' own types would do value by value (naive UTC text and whole cents
    on SQLite, JSON text), done once per row in one function, without SQLAlchemy's per-row parameter work.
    """
    columns = [table.columns[name] for name in names]  # the generator gives every column but the id
    placeholder = "?" if paramstyle == "qmark" else "%s"
    statement = (f"INSERT INTO {table.name} ({', '.join(column.name for column in columns)}) "
                 f"VALUES ({', '.join(placeholder for _ in columns)})")
    converters = []
    for index, column in enumerate(columns):
        if isinstance(column.type, UTCDateTime) and dialect == "sqlite":
            converters.append((index, sqlite_moment))
        elif isinstance(column.type, Money) and dialect == "sqlite":
            converters.append((index, cents))
        elif isinstance(column.type, Date) and dialect == "sqlite":
            converters.append((index, date.isoformat))
        elif isinstance(column.type, JSON):
            converters.append((index, json.dumps))

    def stored(row: dict) -> tuple:
        values = [row[name] for name in names]
        for index, convert in converters:
            if values[index] is not None:
                values[index] = convert(values[index])
        return tuple(values)

    return statement, stored


@lru_cache(maxsize=1 << 16)
def sqlite_moment(moment: datetime) -> str:
    """An aware datetime as SQLAlchemy stores it on SQLite: naive UTC, "2025-03-31 09:15:00.000000"."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def cents(amount: Decimal) -> int:
    """Money as SQLite stores it (see Money): whole cents."""
    return int(amount.scaleb(2))

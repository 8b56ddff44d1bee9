"""The CSV export on SQLite: rows read as SQLite stores them, a batch at a time, and each batch made CSV text a
column at a time, so that Python does per cell only what SQLite cannot.

A column is converted by one `map` (integer cents, UTC text, 0 and 1 written as the CSV holds them) and a text column
is searched once, all its cells joined, for anything `neutralise_formula` could change: only a batch whose column
holds one (rare in real books) has that column's cells neutralised one by one. A batch whose text needs no quotes
(most) is joined into lines directly; one that does is written by csv.writer. The text is `Dataset.flat_record`'s
written by csv.writer, byte for byte: tests/analytics/test_csv_sqlite.py compares them. On PostgreSQL the database
writes every cell itself (csv_copy).
"""

import csv
import io
import json
import re

from sqlalchemy import type_coerce
from sqlalchemy.types import NullType

from floqast.analytics import csv_copy
from floqast.analytics.filters import Filters
from floqast.analytics.records import (
    CELL_BREAKS,
    FORMULA_STARTS,
    TEXT_KINDS,
    Dataset,
    neutralise_formula,
    one_of,
    result_key,
)

# SQLite's 0 and 1 (and a derived condition's NULL) as the CSV writes a boolean.
BOOLEAN_TEXT = {0: "false", 1: "true", None: None}
# What csv.writer quotes (QUOTE_MINIMAL), in a cell: the delimiter, the quote character and line breaks. Only text
# can hold one: every other cell is digits, signs, dates, times or true and false.
QUOTED = (",", '"', "\r", "\n")
NUMBER_KINDS = ("id", "integer")
# Below 10^15 cents (ten trillion), a double holds cents / 100 within 0.002 of the amount: "%.2f" writes it exactly.
FLOAT_EXACT_CENTS = 10**15
# A cell that starts with a formula character, in a text column's cells each put after a NUL.
FORMULA_AFTER_NUL = re.compile("\0" + one_of(FORMULA_STARTS))


def cents_text(cents: int | None) -> str | None:
    """Integer cents as money_text writes the amount: "-1234.50", "-0.05"."""
    if cents is None:
        return None
    if -FLOAT_EXACT_CENTS < cents < FLOAT_EXACT_CENTS:
        # Half the work of integer arithmetic: cents / 100 is within 0.002 of the amount, which "%.2f" rounds back.
        return "%.2f" % (cents / 100)
    return f"{cents // 100}.{cents % 100:02d}" if cents >= 0 else f"-{-cents // 100}.{-cents % 100:02d}"


def moment_text(stored: str | None) -> str | None:
    """"2025-03-31 09:15:00.123456", as SQLAlchemy stores an aware UTC time on SQLite, as iso_utc writes it."""
    return None if stored is None else stored[:19].replace(" ", "T") + "Z"


def tags_text(stored: str | None) -> str | None:
    """A JSON array of tags joined with ';'."""
    tags = None if stored is None else json.loads(stored)
    return ";".join(tags) if tags else None


# How a column of each kind of field is made its CSV text; ids, integers, text and dates (ISO text) are as stored.
COLUMN_TEXT = {
    "money": lambda column: map(cents_text, column),
    "datetime": lambda column: map(moment_text, column),
    "boolean": lambda column: map(BOOLEAN_TEXT.get, column),
    "tags": lambda column: map(tags_text, column),
}


def query(dataset: Dataset, team_id: int, filters: Filters, today, after_id: int | None = None):
    """`dataset.query` (the same records, in the same order) with every column read as SQLite stores it."""
    statement = dataset.query(team_id, filters, today, after_id)
    return statement.with_only_columns(*(type_coerce(column.element, NullType()).label(column.name)
                                         for column in statement.selected_columns))


def text_column(column: tuple) -> tuple[tuple, bool]:
    """A text column's cells as neutralise_formula leaves them, and whether csv.writer quotes one of them, from one
    look at all its cells: each cell is looked at only if one may change (it starts with a formula character or holds
    a break, after which a part starts). The quotes neutralise_formula adds are not ones csv.writer quotes for."""
    cells = "\0" + "\0".join(filter(None, column))
    if any(character in cells for character in CELL_BREAKS) or FORMULA_AFTER_NUL.search(cells):
        column = tuple(map(neutralise_formula, column))
    return column, any(character in cells for character in QUOTED)


def as_text(column: tuple, numbers: bool) -> tuple | list | map:
    """A column's cells as the text csv.writer writes for them: numbers by str(), NULL as nothing."""
    if None in column:
        return ["" if cell is None else str(cell) for cell in column]
    return map(str, column) if numbers else column


def lines(columns: list[tuple], numbers: set[int]) -> str:
    """A batch as CSV lines when no cell needs quotes: each record's cells joined by commas, the bytes csv.writer
    writes for it, without its look at every character of every cell (most of its time)."""
    cells = [as_text(column, index in numbers) for index, column in enumerate(columns)]
    return "\r\n".join(map(",".join, zip(*cells, strict=True))) + "\r\n"


def written(engine, statement, dataset: Dataset):
    """The records of a `query` as CSV text, in chunks of csv_copy.RECORDS_PER_CHUNK records.

    The body is read after the view returns, so it uses its own connection; closing this generator early (a client
    that went away) gives the connection back.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with engine.connect() as connection:
        result = connection.execute(statement)
        positions = {key: index for index, key in enumerate(result.keys())}
        order = [positions[result_key(field.name)] for field in dataset.fields]
        converters = [(index, COLUMN_TEXT[field.kind]) for index, field in enumerate(dataset.fields)
                      if field.kind in COLUMN_TEXT]
        texts = [index for index, field in enumerate(dataset.fields) if field.kind in TEXT_KINDS]
        numbers = {index for index, field in enumerate(dataset.fields) if field.kind in NUMBER_KINDS}
        while batch := result.fetchmany(csv_copy.RECORDS_PER_CHUNK):
            stored = list(zip(*batch, strict=True))
            columns = [stored[position] for position in order]
            for index, convert in converters:
                columns[index] = tuple(convert(columns[index]))
            quoted = False
            for index in texts:
                columns[index], needs_quotes = text_column(columns[index])
                quoted = quoted or needs_quotes
            if quoted:
                writer.writerows(zip(*columns, strict=True))
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            else:
                yield lines(columns, numbers)

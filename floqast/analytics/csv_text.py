"""The CSV export's fast path: money, dates and times read from the database as their CSV text, and rows
taken straight from the query's tuples.

It skips what the JSON form needs for every row (Python datetimes and Decimals, the nested record, flattening
it again) and writes the same text as `Dataset.flat_record`: tests/analytics/test_csv_text.py compares them row by row,
on SQLite and PostgreSQL. What that buys is measured in commit b613951 and is the export row (3) of README's
benchmark section. Only the CSV export reads rows this way.
"""

from operator import itemgetter

from sqlalchemy import Date, DateTime, Numeric, String, type_coerce
from sqlalchemy.types import TypeDecorator

from floqast.analytics.filters import Filters
from floqast.analytics.money import Money
from floqast.analytics.records import FORMULA_STARTS, TEXT_KINDS, Dataset, iso_utc, neutralise_formula, result_key
from floqast.columns import UTCDateTime


def csv_money(amount) -> str:
    return "" if amount is None else f"{amount:.2f}"


def csv_boolean(value) -> str:
    return "" if value is None else ("true" if value else "false")


def csv_datetime(moment) -> str:
    return iso_utc(moment) or ""


def csv_date(day) -> str:
    return "" if day is None else day.isoformat()


def csv_tags(tags) -> str:
    return ";".join(tags or ())


# How each kind of field is written in CSV, the same text as flatten(to_record(row)) gives; integers and
# strings go to csv.writer as they are (it writes None as an empty field).
CSV_CONVERTERS = {"money": csv_money, "boolean": csv_boolean, "datetime": csv_datetime, "date": csv_date,
                  "tags": csv_tags}
CSV_TEXT_KINDS = ("money", "datetime", "date")


class CsvText(TypeDecorator):
    """A money, date or time column read straight to its CSV text for the export, without the Python
    objects the JSON form needs (on SQLite: no string -> datetime -> string, no cents -> Decimal -> string).

    Gives exactly what the CSV_CONVERTERS give for the same column read with its own type.
    """

    impl = String
    cache_ok = True

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    @staticmethod
    def kind_of(column_type) -> str | None:
        if isinstance(column_type, Money):
            return "money"
        if isinstance(column_type, UTCDateTime):
            return "datetime"
        if isinstance(column_type, Date):
            return "date"
        return None

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":  # stored as text (dates, times) and integer cents: no driver conversion
            return dialect.type_descriptor(String())
        native = {"money": Numeric(18, 2, asdecimal=True), "datetime": DateTime(timezone=True), "date": Date()}
        return dialect.type_descriptor(native[self.kind])

    def result_processor(self, dialect, coltype):
        """One small function per kind and database, called once per value."""
        if dialect.name != "sqlite":
            convert = CSV_CONVERTERS[self.kind]  # a time in the server's zone too: iso_utc converts it
            return lambda value: None if value is None else convert(value)
        if self.kind == "money":  # integer cents
            return sqlite_cents_text
        if self.kind == "datetime":
            return sqlite_datetime_text
        return None  # dates are stored as their ISO text


def sqlite_cents_text(cents) -> str | None:
    if cents is None:
        return None
    return f"{'-' if cents < 0 else ''}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def sqlite_datetime_text(value: str | None) -> str | None:
    """"2025-03-31 09:15:00.123456", as SQLAlchemy stores an aware UTC time on SQLite, as iso_utc writes it."""
    if value is None:
        return None
    return f"{value[:10]}T{value[11:19]}Z"


def as_csv_text(column):
    """A labelled column of the dataset query as the export reads it: money, dates and times as CsvText."""
    kind = CsvText.kind_of(column.type)
    return column if kind is None else type_coerce(column.element, CsvText(kind)).label(column.name)


def query(dataset: Dataset, team_id: int, filters: Filters, today, after_id: int | None = None):
    """`dataset.query`, its money, dates and times read as their CSV text, for `rows`."""
    statement = dataset.query(team_id, filters, today, after_id)
    return statement.with_only_columns(*(as_csv_text(column) for column in statement.selected_columns))


def rows(dataset: Dataset, result):
    """The CSV values of a `query` result's rows as lists in `dataset.columns` order, straight from each tuple.

    The same text as `flat_record`, without building the nested record and flattening it again: one C-level
    itemgetter per row, a conversion of the boolean and tags fields only, then text fields neutralised against
    formulas by `neutralise_formula` (never money, numbers or dates: -1234.50 stays a number).
    """
    positions = {key: index for index, key in enumerate(result.keys())}
    getter = itemgetter(*(positions[result_key(field.name)] for field in dataset.fields))
    converters = [(index, CSV_CONVERTERS[field.kind]) for index, field in enumerate(dataset.fields)
                  if field.kind in CSV_CONVERTERS and field.kind not in CSV_TEXT_KINDS]
    texts = [index for index, field in enumerate(dataset.fields) if field.kind in TEXT_KINDS]
    for row in result:
        values = list(getter(row))
        for index, convert in converters:
            values[index] = convert(values[index])
        for index in texts:
            # Only the cells neutralise_formula may change (CELL_BREAKS written out) call it: a function call per
            # text cell is a large share of the export's time.
            text = values[index]
            if text and (text[0] in FORMULA_STARTS or ";" in text or "\n" in text or "\r" in text):
                values[index] = neutralise_formula(text)
        yield values

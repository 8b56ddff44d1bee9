"""The CSV export on PostgreSQL: every cell written as its CSV text by the database and streamed by
`COPY (SELECT ...) TO STDOUT`, so no row passes through Python objects.

It writes the bytes of the plain flattened records (`Dataset.flat_record`) through csv.writer, as SQLite's export
does (csv_sqlite): the dataset query with the same Filters, each field's text as flat_record writes it, text
neutralised against formulas by the very pattern of `neutralise_formula` in regexp_replace. Two things COPY does
its own way are undone: it quotes an empty string (`""`, to tell it from NULL), so empty text is sent as NULL; and
it ends a record with LF where csv.writer ends it with CRLF, so each record's LF is replaced (libpq hands over one
record at a time, and a line break inside a quoted cell is left as it is). tests/analytics/test_csv_copy.py
compares the bytes.
"""

from sqlalchemy import Text, case, cast, func, literal, not_, select

from floqast.analytics.filters import Filters
from floqast.analytics.records import NEUTRALISED_AT, TEXT_KINDS, Dataset, result_key

# Records per response chunk: a chunk of about 300 KiB.
RECORDS_PER_CHUNK = 1000
ISO_UTC_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS"Z"'  # iso_utc's form: to_char truncates to whole seconds, as it does


def neutralised(text):
    """`neutralise_formula` in SQL: the same pattern, a quote at each of its matches."""
    return func.regexp_replace(text, NEUTRALISED_AT.pattern, "'", "g")


def tags_text(tags):
    """The tags of a JSON array joined with ';', as flat_record joins them; NULL for no array (JSON null included)."""
    elements = select(func.json_array_elements_text(tags).column_valued()).scalar_subquery()
    return case((func.json_typeof(tags) == "array", func.array_to_string(func.array(elements), ";")))


def cell(kind: str, value):
    """A field's value as the text flat_record writes for it; NULL for an empty cell."""
    if kind in TEXT_KINDS:
        text = tags_text(value) if kind == "tags" else value
        return func.nullif(neutralised(text), "")
    if kind == "boolean":
        return case((value, literal("true")), (not_(value), literal("false")))
    if kind == "date":
        return func.to_char(value, "YYYY-MM-DD")
    if kind == "datetime":
        return func.to_char(func.timezone("UTC", value), ISO_UTC_FORMAT)
    return cast(value, Text)  # ids, integers and money (NUMERIC(18, 2): "-1234.50", as f"{amount:.2f}")


def query(dataset: Dataset, team_id: int, filters: Filters, today, after_id: int | None = None):
    """`dataset.query` (the same records, in the same order) with every field as its CSV text."""
    statement = dataset.query(team_id, filters, today, after_id)
    columns = {column.name: column.element for column in statement.selected_columns}
    return statement.with_only_columns(*(cell(field.kind, columns[result_key(field.name)])
                                         for field in dataset.fields))


def copy_command(engine, statement) -> tuple[str, dict]:
    """COPY of `statement` and its parameters, which psycopg binds on the client (COPY takes no server ones)."""
    compiled = statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
    return f"COPY ({compiled.string}) TO STDOUT (FORMAT csv)", compiled.params


def copied(engine, statement):
    """The records of `statement` as CSV bytes with CRLF line ends, in chunks of RECORDS_PER_CHUNK records.

    The body is read after the view returns, so it uses its own connection; closing this generator early (a client
    that went away) cancels the COPY and gives the connection back.
    """
    command, params = copy_command(engine, statement)
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor, cursor.copy(command, params) as copy:
            records = []
            for record in copy:
                records.append(record[:-1])  # its LF
                if len(records) == RECORDS_PER_CHUNK:
                    yield b"\r\n".join(records) + b"\r\n"
                    records.clear()
            if records:
                yield b"\r\n".join(records) + b"\r\n"
    finally:
        connection.close()


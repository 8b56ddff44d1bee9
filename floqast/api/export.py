"""Answer a pull: a JSON page or the whole CSV, both streamed from a server-side cursor."""

import csv
import io
import json
from contextlib import closing
from itertools import islice
from urllib.parse import urlencode

from flask import Response, current_app

from floqast.accounts.models import Team
from floqast.analytics import csv_copy, csv_sqlite
from floqast.analytics.filters import Filters
from floqast.analytics.records import Dataset
from floqast.api.auth import api_error, refuse
from floqast.api.cursor import Cursors
from floqast.api.params import Page, parse_query
from floqast.api.pulls import CSV, Pull
from floqast.extensions import db
from floqast.keys.authenticate import entity_refusal

ROWS_PER_FETCH = 1000


def stream_batches(engine, statement):
    """Lists of up to ROWS_PER_FETCH rows from a server-side cursor (on PostgreSQL), so memory stays flat.

    The body is read after the view returns, so it uses its own connection rather than the request's session.
    """
    with engine.connect() as connection:
        # A batch at a time: a row fetched alone costs the result's machinery more than the row itself.
        yield from connection.execution_options(yield_per=ROWS_PER_FETCH).execute(statement).partitions()


def started(chunks):
    """`chunks` with the first one made now, while the view runs: its query is sent before the status line, so a
    database that cannot be reached is the API's 503, never a 200 whose body stops short."""
    chunks = iter(chunks)
    first = list(islice(chunks, 1))

    def the_rest():
        yield from first
        yield from chunks  # closing this closes `chunks` too, and with it its connection

    return the_rest()


def cursors_of(dataset: Dataset) -> Cursors:
    return Cursors(current_app.config["SECRET_KEY"], dataset.service.value)


def checked_query(dataset: Dataset, pull: Pull) -> tuple[Filters, Page, int | None]:
    """The filters (within the entities the pull's key reads), the page and the id the cursor continues after, or a
    400 naming what is wrong, or a refused 403 naming an entity the key may not read (never silently left out)."""
    key = pull.key
    filters, page = parse_query(pull.args, None if key.entity_ids is None else tuple(key.entity_ids))
    if refusal := entity_refusal(key, filters.entity_ids):
        refuse(api_error(refusal), key)
    return filters, page, None if page.cursor is None else cursors_of(dataset).decode(page.cursor, filters.key)


def streamed_page(statement, size: int, rows_json, next_cursor, pull: Pull) -> Response:
    """One JSON page {"data": [...], "links": {"self": ..., "next": ...}}, a batch of rows at a time as
    rows_json(rows) (their JSON, comma-separated), streamed from `statement`, which asks for one row beyond the page
    (to tell whether there is a next page without a second query); next is null on the last page, else the pull's
    URL with page[cursor] set to next_cursor(the last row's id)."""
    # Links are paths of this site, as FloQast's are.
    engine, args = db.engine, pull.args.to_dict()

    def next_url(last_id: int) -> str:
        query = {**args, "page[cursor]": next_cursor(last_id)}
        return f"{pull.path}?{urlencode(query, safe='[]')}"

    def body():
        # A chunk a batch of rows: the first one opens the list, so the query has run before the status line is sent.
        opening, last_id, count, more = '{"data":[', None, 0, False
        with closing(stream_batches(engine, statement)) as batches:
            for batch in batches:
                if count + len(batch) > size:
                    batch, more = batch[:size - count], True
                if batch:
                    yield opening + rows_json(batch)
                    opening, last_id, count = ",", batch[-1].id, count + len(batch)
                if more:
                    break
        links = {"self": pull.url, "next": next_url(last_id) if more else None}
        yield ('{"data":[' if count == 0 else "") + '],"links":' + json.dumps(links) + "}"

    return Response(started(body()), mimetype="application/json")


def json_page(dataset: Dataset, pull: Pull, filters: Filters, page: Page, after_id) -> Response:
    """One page of records as {"data": [...], "links": {"self": ..., "next": ...}}; next is null on the last page."""
    team, cursors = pull.key.team, cursors_of(dataset)
    statement = dataset.query(team.id, filters, team.today(), after_id).limit(page.size + 1)
    return streamed_page(statement, page.size,
                         lambda rows: ",".join([json.dumps(dataset.to_record(row)) for row in rows]),
                         lambda last_id: cursors.encode(filters.key, last_id), pull)


def csv_name(dataset: Dataset, filters: Filters) -> str:
    period = "all-periods" if filters.month is None else f"{filters.year}-{filters.month:02d}"
    return f"{dataset.service.value}-{period}.csv"


def headed(header: str, body):
    """The header, then `body`'s chunks; closing this (a client that went away) closes `body` and its connection."""
    with closing(body):
        yield header
        yield from body


def csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


def csv_export(dataset: Dataset, team: Team, filters: Filters, after_id) -> Response:
    """Every matching record as CSV with a header row, whatever the page size: on PostgreSQL written by the
    database and streamed by COPY (csv_copy), on SQLite made text a batch of rows at a time (csv_sqlite); the same
    bytes either way."""
    engine, today = db.engine, team.today()
    if engine.dialect.name == "postgresql":
        body = csv_copy.copied(engine, csv_copy.query(dataset, team.id, filters, today, after_id))
    else:
        body = csv_sqlite.written(engine, csv_sqlite.query(dataset, team.id, filters, today, after_id), dataset)
    headers = {"Content-Disposition": f'attachment; filename="{csv_name(dataset, filters)}"'}
    return Response(headed(csv_line(dataset.columns), started(body)), mimetype=CSV, headers=headers)


def respond(dataset: Dataset, pull: Pull) -> Response:
    """The records a pull asks for: a JSON page or, in CSV, all of them. Parameters are checked here; the
    records are read while the body is sent, from a query sent before it (started())."""
    filters, page, after_id = checked_query(dataset, pull)
    if pull.format == CSV:
        return csv_export(dataset, pull.key.team, filters, after_id)
    return json_page(dataset, pull, filters, page, after_id)

"""GET /api/v1/audit-trail: the team's API requests from the request log, oldest first, in FloQast's shape."""

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial

from flask import current_app
from sqlalchemy import false, select

from floqast.api import bp
from floqast.api.auth import api_error, refuse
from floqast.api.cursor import Cursors
from floqast.api.export import streamed_page
from floqast.api.lists import allows_redirect
from floqast.api.params import ALLOW_REDIRECT, BadParameter, Page, parse_date, parse_page, single
from floqast.api.pulls import Pull
from floqast.extensions import db
from floqast.keys.authenticate import own_requests_refusal
from floqast.usage.buffer import flush_own
from floqast.usage.capture import trail_entry
from floqast.usage.hours import id_span
from floqast.usage.models import ApiRequest
from floqast.usage.queries import dated

KEY_ID_PATTERN = r"^\s*[1-9][0-9]{0,8}\s*$"
PARAMETERS = ("filter[startDate]", "filter[endDate]", "filter[userApiKey._id]", "page[size]", "page[cursor]",
              ALLOW_REDIRECT)
# An entry (capture.trail_entry: an object without its id, here without its opening brace) with its id put first.
ENTRY_WITH_ID = '{"id": "%d", %s'
# Names the trail's cursors apart from the analytics services' ones.
CURSOR_SCOPE = "audit-trail"


@dataclass(frozen=True)
class TrailFilters:
    """Which requests: days in the team's time zone (both inclusive) and one key, each optional."""

    start: date | None = None
    end: date | None = None
    api_key_id: int | None = None

    def bounds(self, team) -> tuple:
        """The UTC instants the days bound, from and before (None: open)."""
        # The first and last days a date can name bound nothing, and their bounds (the end of the day before the
        # first, of the day after the last) are beyond what a datetime holds.
        since = until = None
        if self.start is not None and self.start > date.min:
            since = team.end_of_day(self.start - timedelta(days=1))
        if self.end is not None and self.end < date.max:
            until = team.end_of_day(self.end)
        return since, until

    def clauses(self, team) -> list:
        """The conditions on the log's rows, beside the team's: a range of days is read as the span of ids its
        hours hold, so that a day long ago reads that day's rows, not every row of the team before it."""
        since, until = self.bounds(team)
        conditions = dated(since, until)
        if self.api_key_id is not None:
            conditions.append(ApiRequest.api_key_id == self.api_key_id)
        if since is not None or until is not None:
            span = id_span(team.id, since, until, self.api_key_id)
            conditions.append(false() if span is None else ApiRequest.id.between(*span))
        return conditions

    @property
    def key(self) -> list:
        """A JSON-ready fingerprint, so that a cursor only continues the query that issued it."""
        return [None if day is None else day.isoformat() for day in (self.start, self.end)] + [self.api_key_id]


@dataclass(frozen=True)
class TrailQuery:
    filters: TrailFilters
    page: Page


def parse_trail_query(pull: Pull) -> TrailQuery:
    """The audit trail's query string (allowRedirect aside, which allows_redirect reads), checked, within what the
    pull's key may read (a key limited to entities: its own requests, a 403 for another key's); unknown parameters
    are refused, not ignored."""
    args, key = pull.args, pull.key
    for name in args:
        if name not in PARAMETERS:
            raise BadParameter(name, f"unknown parameter. Allowed: {', '.join(PARAMETERS)}.")
    start, end = single(args, "filter[startDate]"), single(args, "filter[endDate]")
    key_id = single(args, "filter[userApiKey._id]")
    if key_id is not None and not re.match(KEY_ID_PATTERN, key_id):
        raise BadParameter("filter[userApiKey._id]", f"{key_id!r} is not an API key id; use apiKeyId from "
                           "/api/v1/me or an entry, such as 7.")
    filters = TrailFilters(
        start=None if start is None else parse_date("filter[startDate]", start),
        end=None if end is None else parse_date("filter[endDate]", end),
        api_key_id=None if key_id is None else int(key_id),
    )
    if filters.start and filters.end and filters.end < filters.start:
        raise BadParameter("filter[endDate]", "must be filter[startDate] or a later date.")
    page = parse_page(args)
    if refusal := own_requests_refusal(key, filters.api_key_id):
        refuse(api_error(refusal), key)
    if key.limited_to_entities:
        filters = replace(filters, api_key_id=key.id)
    return TrailQuery(filters, page)


def made_entries(engine, unstored, first_id: int, last_id: int) -> dict[int, str]:
    """The trail's JSON of the requests from first_id to last_id logged before entries were stored, by id, made
    from their columns, which `unstored` selects (with the page's conditions); a request pruned since the page was
    read is not there."""
    rows = unstored.where(ApiRequest.id.between(first_id, last_id), ApiRequest.trail_entry.is_(None))
    with engine.connect() as connection:
        return {row.id: ENTRY_WITH_ID % (row.id, trail_entry(
            row.created_at, row.api_key_id, row.method, row.uri, row.source_ip, row.status, row.service)[1:])
            for row in connection.execute(rows)}


def entries_json(engine, unstored, rows) -> str:
    """Logged requests (rows of id and stored entry) as the trail gives them, in JSON, comma-separated: each
    stored entry with its id put first, else one made from its columns (made_entries)."""
    missing = [request_id for request_id, entry in rows if entry is None]
    made = made_entries(engine, unstored, missing[0], missing[-1]) if missing else {}
    # One expression over the batch: a call per row would cost more than the row itself.
    return ",".join([ENTRY_WITH_ID % (request_id, entry[1:]) if entry is not None else made[request_id]
                     for request_id, entry in rows if entry is not None or request_id in made])


def trail_page(pull: Pull):
    """A page of the key's team's logged requests, oldest first; its cursor works for these filters and this team
    only, so that any key of the team (a rolled key's replacement) resumes a saved links.next."""
    query, team = parse_trail_query(pull), pull.key.team
    flush_own()
    cursors = Cursors(current_app.config["SECRET_KEY"], CURSOR_SCOPE)
    cursor_key = [*query.filters.key, team.id]
    after_id = None if query.page.cursor is None else cursors.decode(query.page.cursor, cursor_key)
    conditions = [ApiRequest.team_id == team.id, *query.filters.clauses(team)]
    # A stored entry needs nothing else to be sent; a row's other columns are read only when it has none.
    statement = (select(ApiRequest.id, ApiRequest.trail_entry).where(*conditions)
                 .order_by(ApiRequest.id).limit(query.page.size + 1))
    if after_id is not None:
        statement = statement.where(ApiRequest.id > after_id)
    unstored = select(ApiRequest.id, ApiRequest.created_at, ApiRequest.api_key_id, ApiRequest.method, ApiRequest.uri,
                      ApiRequest.source_ip, ApiRequest.status, ApiRequest.service).where(*conditions)
    return streamed_page(statement, query.page.size, partial(entries_json, db.engine, unstored),
                         lambda last_id: cursors.encode(cursor_key, last_id), pull)


@bp.get("/audit-trail")
@allows_redirect(parse_trail_query)
def audit_trail(pull: Pull):
    """The team's API requests, any working key of the team (no service needed)."""
    return trail_page(pull)

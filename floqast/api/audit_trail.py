"""GET /api/v1/audit-trail: the team's API requests from the request log, oldest first, in FloQast's shape."""

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import String, case, cast, false, func, literal, select

from floqast.api import bp
from floqast.api.auth import api_error, refuse
from floqast.api.cursor import Cursors
from floqast.api.export import streamed_page
from floqast.api.lists import allows_redirect
from floqast.api.params import ALLOW_REDIRECT, BadParameter, Page, parse_date, parse_page, single
from floqast.api.pulls import Pull
from floqast.keys.authenticate import own_requests_refusal
from floqast.usage.buffer import flush_own
from floqast.usage.capture import trail_entry
from floqast.usage.hours import id_span
from floqast.usage.models import ApiRequest
from floqast.usage.queries import dated

KEY_ID_PATTERN = r"^\s*[1-9][0-9]{0,8}\s*$"
PARAMETERS = ("filter[startDate]", "filter[endDate]", "filter[userApiKey._id]", "page[size]", "page[cursor]",
              ALLOW_REDIRECT)
# A stored entry (capture.trail_entry: an object without its id) with its id put first.
ENTRY_WITH_ID = '{{"id": "{}", {}'
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


def entry_json(row) -> str:
    """One logged request as the trail gives it, in JSON: its stored entry with its id put first (by the database,
    in `stored`), or made from its columns for a row logged before entries were stored."""
    return row.stored or ENTRY_WITH_ID.format(row.id, trail_entry(
        row.created_at, row.api_key_id, row.method, row.uri, row.source_ip, row.status, row.service)[1:])


def stored_entry():
    """The stored entry with its id put first, made by the database (NULL for a row without one)."""
    return (literal('{"id": "') + cast(ApiRequest.id, String) + literal('", ')
            + func.substr(ApiRequest.trail_entry, 2))


def trail_page(pull: Pull):
    """A page of the key's team's logged requests, oldest first; its cursor works for these filters and this team
    only, so that any key of the team (a rolled key's replacement) resumes a saved links.next."""
    query, team = parse_trail_query(pull), pull.key.team
    flush_own()
    cursors = Cursors(current_app.config["SECRET_KEY"], CURSOR_SCOPE)
    cursor_key = [*query.filters.key, team.id]
    after_id = None if query.page.cursor is None else cursors.decode(query.page.cursor, cursor_key)
    # A row's columns are read only when it has no stored entry: a stored one needs nothing else to be sent.
    unstored = ApiRequest.trail_entry.is_(None)
    statement = (
        select(ApiRequest.id, stored_entry().label("stored"), *(
            case((unstored, column)).label(column.key) for column in (
                ApiRequest.created_at, ApiRequest.api_key_id, ApiRequest.method, ApiRequest.uri,
                ApiRequest.source_ip, ApiRequest.status, ApiRequest.service)))
        .where(ApiRequest.team_id == team.id, *query.filters.clauses(team))
        .order_by(ApiRequest.id)
        .limit(query.page.size + 1)
    )
    if after_id is not None:
        statement = statement.where(ApiRequest.id > after_id)
    return streamed_page(statement, query.page.size, lambda rows: ",".join(map(entry_json, rows)),
                         lambda last_id: cursors.encode(cursor_key, last_id), pull)


@bp.get("/audit-trail")
@allows_redirect(parse_trail_query)
def audit_trail(pull: Pull):
    """The team's API requests, any working key of the team (no service needed)."""
    return trail_page(pull)

"""GET /api/v1/audit-trail: the team's API requests from the request log, oldest first, in FloQast's shape."""

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import select

from floqast.analytics.records import iso_utc
from floqast.api import bp
from floqast.api.auth import api_error, refuse
from floqast.api.cursor import Cursors
from floqast.api.export import streamed_page
from floqast.api.lists import allows_redirect
from floqast.api.params import ALLOW_REDIRECT, BadParameter, Page, parse_date, parse_page, single
from floqast.api.pulls import Pull
from floqast.keys.authenticate import own_requests_refusal
from floqast.usage.buffer import flush_own
from floqast.usage.models import ApiRequest
from floqast.usage.queries import query_parameters

KEY_ID_PATTERN = r"^\s*[1-9][0-9]{0,8}\s*$"
PARAMETERS = ("filter[startDate]", "filter[endDate]", "filter[userApiKey._id]", "page[size]", "page[cursor]",
              ALLOW_REDIRECT)
# Names the trail's cursors apart from the analytics services' ones.
CURSOR_SCOPE = "audit-trail"


@dataclass(frozen=True)
class TrailFilters:
    """Which requests: days in the team's time zone (both inclusive) and one key, each optional."""

    start: date | None = None
    end: date | None = None
    api_key_id: int | None = None

    def clauses(self, team) -> list:
        conditions = []
        # The first and last days a date can name bound nothing, and their bounds (the end of the day before the
        # first, of the day after the last) are beyond what a datetime holds.
        if self.start is not None and self.start > date.min:
            conditions.append(ApiRequest.created_at >= team.end_of_day(self.start - timedelta(days=1)))
        if self.end is not None and self.end < date.max:
            conditions.append(ApiRequest.created_at < team.end_of_day(self.end))
        if self.api_key_id is not None:
            conditions.append(ApiRequest.api_key_id == self.api_key_id)
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


def entry(row) -> dict:
    """One logged request as FloQast's audit trail gives it, with our createdAt and apiKeyId."""
    return {
        "id": str(row.id),
        "uri": row.uri,
        "method": row.method,
        "sourceIp": row.source_ip,
        "meta": {"status": str(row.status), "service": row.service,
                 "queryParameters": query_parameters(row.uri)},
        "createdAt": iso_utc(row.created_at),
        "apiKeyId": str(row.api_key_id),
    }


def trail_page(pull: Pull):
    """A page of the key's team's logged requests, oldest first; its cursor works for these filters and this team
    only, so that any key of the team (a rolled key's replacement) resumes a saved links.next."""
    query, team = parse_trail_query(pull), pull.key.team
    flush_own()
    cursors = Cursors(current_app.config["SECRET_KEY"], CURSOR_SCOPE)
    cursor_key = [*query.filters.key, team.id]
    after_id = None if query.page.cursor is None else cursors.decode(query.page.cursor, cursor_key)
    statement = (
        select(ApiRequest.id, ApiRequest.created_at, ApiRequest.api_key_id, ApiRequest.method, ApiRequest.uri,
               ApiRequest.source_ip, ApiRequest.status, ApiRequest.service)
        .where(ApiRequest.team_id == team.id, *query.filters.clauses(team))
        .order_by(ApiRequest.id)
        .limit(query.page.size + 1)
    )
    if after_id is not None:
        statement = statement.where(ApiRequest.id > after_id)
    return streamed_page(statement, query.page.size, entry, lambda last_id: cursors.encode(cursor_key, last_id),
                         pull)


@bp.get("/audit-trail")
@allows_redirect(parse_trail_query)
def audit_trail(pull: Pull):
    """The team's API requests, any working key of the team (no service needed)."""
    return trail_page(pull)

"""GET /api/v1/keys and GET /api/v1/keys/<id>/usage: the team's key list and each key's requests per day, for keys
holding Key administration (read-only)."""

import json
from datetime import date
from urllib.parse import urlencode

from flask import Response, current_app, request
from sqlalchemy import select

from floqast.analytics.records import iso_date
from floqast.api import bp
from floqast.api.auth import requires_service
from floqast.api.cursor import Cursors
from floqast.api.lists import allows_redirect
from floqast.api.params import ALLOW_REDIRECT, BadParameter, parse_date, parse_page, single
from floqast.api.pulls import CSV, JSON, Pull
from floqast.extensions import db
from floqast.keys import inventory
from floqast.keys.inventory import KeyFilters
from floqast.keys.models import ApiKey, Service
from floqast.keys.state import KeyStatus
from floqast.usage.buffer import flush_own
from floqast.usage.days import counted_days
from floqast.web.json_errors import ApiError

PARAMETERS = ("filter[status]", "filter[lastUsedBefore]", "page[size]", "page[cursor]", ALLOW_REDIRECT)
USAGE_PARAMETERS = ("filter[startDate]", "filter[endDate]")
# Names the key list's cursors apart from the other lists' ones.
CURSOR_SCOPE = "keys"
# A usage answer's days by default: the last 30.
USAGE_DAYS = 30


def unknown_parameters(args, allowed) -> None:
    for name in args:
        if name not in allowed:
            raise BadParameter(name, f"unknown parameter. Allowed: {', '.join(allowed)}.")


def parse_key_filters(pull: Pull) -> tuple[KeyFilters, object]:
    """The key list's filters and page, checked; unknown parameters are refused, not ignored."""
    args = pull.args
    unknown_parameters(args, PARAMETERS)
    status, before = single(args, "filter[status]"), single(args, "filter[lastUsedBefore]")
    statuses = [status.value for status in KeyStatus]
    if status is not None and status.lower() not in statuses:
        raise BadParameter("filter[status]", f"{status!r} is not a status; use one of {', '.join(statuses)}.")
    filters = KeyFilters(status=None if status is None else KeyStatus(status.lower()),
                         last_used_before=None if before is None else parse_date("filter[lastUsedBefore]", before))
    return filters, parse_page(args)


def cursors() -> Cursors:
    return Cursors(current_app.config["SECRET_KEY"], CURSOR_SCOPE)


def keys_page(pull: Pull, filters: KeyFilters, page) -> Response:
    """One page of the team's keys as {"data": [...], "links": {"self": ..., "next": ...}}, by id; its cursor works
    for these filters and this team only."""
    team = pull.key.team
    cursor_key = [*filters.key, team.id]
    after_id = None if page.cursor is None else cursors().decode(page.cursor, cursor_key)
    keys = inventory.team_keys(team, filters, after_id, page.size + 1)
    today = team.today()
    next_url = None
    if len(keys) > page.size:
        keys = keys[:page.size]
        query = {**pull.args.to_dict(), "page[cursor]": cursors().encode(cursor_key, keys[-1].id)}
        next_url = f"{pull.path}?{urlencode(query, safe='[]')}"
    body = {"data": [inventory.record(key, today) for key in keys], "links": {"self": pull.url, "next": next_url}}
    return Response(json.dumps(body), mimetype=JSON)


def keys_csv(pull: Pull, filters: KeyFilters) -> Response:
    """Every key of the team under `filters` as CSV, the download an access review keeps."""
    headers = {"Content-Disposition": 'attachment; filename="api-keys.csv"'}
    return Response(inventory.csv_text(pull.key.team, filters), mimetype=CSV, headers=headers)


@bp.get("/keys")
@requires_service(Service.KEY_ADMINISTRATION)
@allows_redirect(parse_key_filters, formats=(JSON, CSV))
def keys(pull: Pull):
    """The team's keys (never a key itself nor its digest): a JSON page, or all of them as CSV."""
    filters, page = parse_key_filters(pull)
    if pull.format == CSV:
        return keys_csv(pull, filters)
    return keys_page(pull, filters, page)


def usage_range(args, today: date) -> tuple[date, date]:
    """The days a usage answer counts: filter[startDate] to filter[endDate] (YYYY-MM-DD, both included, in the
    team's zone), by default the USAGE_DAYS days up to today."""
    unknown_parameters(args, USAGE_PARAMETERS)
    start, end = single(args, "filter[startDate]"), single(args, "filter[endDate]")
    last = today if end is None else parse_date("filter[endDate]", end)
    if start is not None:
        first = parse_date("filter[startDate]", start)
    else:  # the first days a date can name have fewer days before them
        first = date.fromordinal(max(1, last.toordinal() - (USAGE_DAYS - 1)))
    if start is not None and end is not None and last < first:  # a start after today alone is just no days
        raise BadParameter("filter[endDate]", "must be filter[startDate] or a later date.")
    return first, last


@bp.get("/keys/<id:key_id>/usage")
@requires_service(Service.KEY_ADMINISTRATION)
def key_usage(key_id: int):
    """One of the team's keys' requests per day in the team's zone: succeeded, refused (401, 403, 429), other; days
    without requests left out (the log keeps REQUEST_LOG_RETENTION_DAYS, so any range is a few rows)."""
    team = request.context.key.team
    first, last = usage_range(request.args, team.today())
    if db.session.scalar(select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.team_id == team.id)) is None:
        raise ApiError(404, "Not Found", f"Your team has no API key with the id {key_id}; GET /api/v1/keys lists them.")
    flush_own()
    counted = counted_days(team.id, key_id, first, last)
    return {"data": [{"date": iso_date(day), "succeeded": row.succeeded, "refused": row.refused, "other": row.failed}
                     for day, row in sorted(counted.items())]}

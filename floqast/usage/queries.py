"""Reading the log back: a team's requests for the Activity page and a key's page, a key's latest accepted
request."""

from datetime import datetime

from sqlalchemy import select

from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.usage.buffer import flush_own
from floqast.usage.hours import id_span
from floqast.usage.models import ApiRequest
from floqast.usage.rollups import REFUSED_STATUSES

# The request lists' status filter (the Activity page's, a key page's): its choices, each with its condition on
# the status; succeeded, refused and other errors as a key's Usage counts them.
STATUS_FILTERS = {
    "all": ("All", None),
    "succeeded": ("Succeeded", ApiRequest.status < 400),
    "refused": ("Refused (401, 403, 429)", ApiRequest.status.in_(sorted(REFUSED_STATUSES))),
    "failed": ("Other errors", (ApiRequest.status >= 400) & ApiRequest.status.not_in(sorted(REFUSED_STATUSES))),
    **{str(code): (f"{code} {label}", ApiRequest.status == code) for code, label in (
        (200, "OK"), (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (429, "Too Many Requests"))},
}
PAGE_SIZE = 25


def team_requests(team_id: int, api_key_id: int | None, status_filter: str, before_id: int | None = None,
                  limit: int = PAGE_SIZE, since: datetime | None = None, until: datetime | None = None) -> list:
    """The team's logged requests, newest first, `limit` of them (older than `before_id`, from `since` and before
    `until` when given), each with its key's name and hint; one key's only when `api_key_id` is given. Read by
    the index on (team_id, id) or (team_id, api_key_id, id), from the newest down; a date range first becomes the
    span of ids its hours hold, so that a day long ago reads that day's rows, not every later one."""
    flush_own()
    query = (
        select(ApiRequest, ApiKey.name.label("key_name"), ApiKey.hint.label("key_hint"))
        .outerjoin(ApiKey, (ApiKey.id == ApiRequest.api_key_id) & (ApiKey.team_id == team_id))
        .where(ApiRequest.team_id == team_id)
        .order_by(ApiRequest.id.desc())
        .limit(limit)
    )
    condition = STATUS_FILTERS[status_filter][1]
    if condition is not None:
        query = query.where(condition)
    if api_key_id is not None:
        query = query.where(ApiRequest.api_key_id == api_key_id)
    if before_id is not None:
        query = query.where(ApiRequest.id < before_id)
    if since is not None or until is not None:
        span = id_span(team_id, since, until, api_key_id)
        if span is None:
            return []
        query = query.where(ApiRequest.id.between(*span), *dated(since, until))
    return list(db.session.execute(query))


def dated(since: datetime | None, until: datetime | None) -> list:
    """The conditions on created_at of the range from `since` and before `until` (None: open)."""
    conditions = []
    if since is not None:
        conditions.append(ApiRequest.created_at >= since)
    if until is not None:
        conditions.append(ApiRequest.created_at < until)
    return conditions


def latest_accepted(team_id: int, api_key_id: int, since: datetime) -> ApiRequest | None:
    """The key's latest request that its check accepted (not refused: 401, 403, 429) at or after `since`."""
    flush_own()
    return db.session.scalar(
        select(ApiRequest)
        .where(ApiRequest.team_id == team_id, ApiRequest.api_key_id == api_key_id, ApiRequest.created_at >= since,
               ApiRequest.status.not_in(sorted(REFUSED_STATUSES)))
        .order_by(ApiRequest.id.desc())
        .limit(1)
    )

"""The team's key list as data, for access reviews: one record per key (never its plaintext or digest), read for
GET /api/v1/keys and the API Keys tab's Download key list (CSV) alike, in the same columns."""

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from floqast import columns
from floqast.accounts.models import Team
from floqast.analytics.records import flatten, iso_utc, neutralise_formula
from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.keys.queries import status_clause
from floqast.keys.state import KeyStatus

# The CSV's columns: the record's fields, createdBy flattened with ".".
CSV_COLUMNS = ("id", "name", "hint", "services", "entityIds", "description", "createdBy.id", "createdBy.name",
               "createdBy.email", "createdAt", "expiresAt", "lastUsedAt", "lastUsedIp", "status", "deactivatedAt")
# Cells that hold text typed by people or sent by clients, neutralised against spreadsheet formulas.
TEXT_COLUMNS = frozenset({"name", "description", "createdBy.name", "createdBy.email"})
ROWS_PER_READ = 1000


@dataclass(frozen=True)
class KeyFilters:
    """Which keys: in one status, and last used before the start of a day in the team's zone (or never)."""

    status: KeyStatus | None = None
    last_used_before: date | None = None

    def clauses(self, team: Team) -> list:
        conditions = []
        if self.status is not None:
            conditions.append(status_clause(self.status, team.today()))
        if self.last_used_before == date.min:  # nothing is used before the first day a date can name
            conditions.append(ApiKey.last_used_at.is_(None))
        elif self.last_used_before is not None:
            day_starts = team.end_of_day(self.last_used_before - timedelta(days=1))
            conditions.append(ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at < day_starts))
        return conditions

    @property
    def key(self) -> list:
        """A JSON-ready fingerprint, so that a cursor only continues the query that issued it."""
        return [self.status and self.status.value,
                self.last_used_before and self.last_used_before.isoformat()]


def team_keys(team: Team, filters: KeyFilters, after_id: int | None = None, limit: int | None = None) -> list[ApiKey]:
    """The team's keys under `filters`, by id, after `after_id`, at most `limit` of them, with their creators."""
    query = (select(ApiKey).where(ApiKey.team_id == team.id, *filters.clauses(team))
             .options(joinedload(ApiKey.created_by), joinedload(ApiKey.team)).order_by(ApiKey.id).limit(limit))
    if after_id is not None:
        query = query.where(ApiKey.id > after_id)
    return list(db.session.scalars(query))


def record(key: ApiKey, today: date) -> dict:
    """A key as the list gives it: who made it, when, what it may pull, its last use and its status."""
    status = key.status(today)
    return {
        "id": str(key.id),
        "name": key.name,
        "hint": key.hint,
        "services": key.services,
        "entityIds": key.shown_entity_ids,
        "description": key.description,
        "createdBy": {"id": str(key.created_by_id), "name": key.created_by.name, "email": key.created_by.email},
        "createdAt": iso_utc(key.created_at),
        "expiresAt": iso_utc(key.expires_at),
        "lastUsedAt": iso_utc(key.last_used_at),
        "lastUsedIp": key.last_used_ip,
        "status": status.value,
        "deactivatedAt": iso_utc(key.stopped_at) if status is KeyStatus.DEACTIVATED else None,
    }


def csv_row(record_: dict) -> list[str]:
    """A record's CSV cells in CSV_COLUMNS' order, text cells neutralised against formulas."""
    flat = flatten(record_)
    return [neutralise_formula(flat[name]) if name in TEXT_COLUMNS else flat[name] for name in CSV_COLUMNS]


def csv_text(team: Team, filters: KeyFilters) -> str:
    """The team's keys under `filters` as CSV with a header row, read ROWS_PER_READ keys at a time: made whole while
    the request's session is open (a team's keys are thousands at most, not the millions of a dataset)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    after_id, today = None, team.today(columns.utcnow())
    while keys := team_keys(team, filters, after_id, ROWS_PER_READ):
        writer.writerows(csv_row(record(key, today)) for key in keys)
        after_id = keys[-1].id
    return buffer.getvalue()

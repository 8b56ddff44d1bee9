"""Each key's requests per day in its team's time zone: a rollup of the API request log, counted in the
transaction that writes each batch of the log (so the two always agree), read by the key page's Usage chart.

A day is the team's date when the request came, at the time it is counted: a team that changes its time zone
keeps its past days as they were counted.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, PrimaryKeyConstraint, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from floqast.extensions import db
from floqast.models import Team

# Statuses that refuse a key's pull (bad key, not allowed, rate limited), counted apart from the rest.
REFUSED_STATUSES = frozenset({401, 403, 429})


class ApiRequestDay(db.Model):
    """One key's requests on one day of its team: succeeded (below 400), refused (401, 403, 429), other errors."""

    __tablename__ = "api_request_days"
    __table_args__ = (PrimaryKeyConstraint("team_id", "api_key_id", "day", name="pk_api_request_days"),)

    # Plain integers, no foreign keys, like the log it counts.
    team_id: Mapped[int]
    api_key_id: Mapped[int]
    day: Mapped[date] = mapped_column(Date)
    succeeded: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)


def outcome(status: int) -> str:
    """Which of a day's counts a request with this status adds to."""
    if status in REFUSED_STATUSES:
        return "refused"
    return "succeeded" if status < 400 else "failed"


def count_days(connection, requests: Iterable[tuple[int, int, int, int]]) -> None:
    """Add a batch of the log's requests, each (team_id, api_key_id, the Unix second it came, status), to their
    keys' days, in the batch's transaction: one upsert per key and day."""
    # Tallied by whole second first (a day begins on one in every zone), so that a batch's distinct seconds,
    # not its rows, are turned into dates.
    tallies = Counter(requests)
    zones = {team_id: ZoneInfo(name) for team_id, name in connection.execute(
        select(Team.id, Team.timezone).where(Team.id.in_({team_id for team_id, *_ in tallies})))}
    days: dict = {}
    for (team_id, api_key_id, second, status), count in tallies.items():
        zone = zones.get(team_id, ZoneInfo("UTC"))  # a team that is gone: count its rows in UTC
        day = datetime.fromtimestamp(second, zone).date()
        counts = days.setdefault((team_id, api_key_id, day), {"succeeded": 0, "refused": 0, "failed": 0})
        counts[outcome(status)] += count
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    table = ApiRequestDay.__table__
    upsert = insert(table)
    upsert = upsert.on_conflict_do_update(
        index_elements=["team_id", "api_key_id", "day"],
        set_={name: table.c[name] + upsert.excluded[name] for name in ("succeeded", "refused", "failed")},
    )
    # In key and day order, so that two batches touching the same days never wait on each other in a cycle.
    connection.execute(upsert, [
        {"team_id": team_id, "api_key_id": api_key_id, "day": day, **day_counts}
        for (team_id, api_key_id, day), day_counts in sorted(days.items())
    ])


def prune_days(connection, cutoff: datetime) -> int:
    """Delete the days wholly older than `cutoff` in every time zone (a day before its UTC date, to be sure);
    how many."""
    oldest_kept = cutoff.date() - timedelta(days=1)
    return connection.execute(delete(ApiRequestDay).where(ApiRequestDay.day < oldest_kept)).rowcount

"""Each key's requests per day in its team's time zone: a rollup of the API request log, counted in the
transaction that writes each batch of the log (so the two always agree), read by the key page's Usage chart.

A day is the team's date when the request came, at the time it is counted: a team that changes its time zone
keeps its past days as they were counted.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, PrimaryKeyConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from floqast.accounts.models import Team
from floqast.extensions import db
from floqast.usage.rollups import OUTCOMES, Tally, add_counts, outcome

# A day's row as count_days makes it.
COLUMNS = ("team_id", "api_key_id", "day", *OUTCOMES)


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


def count_days(connection, tallies: list[Tally]) -> None:
    """Add a batch's tallies to their keys' days, in the batch's transaction: one upsert per key and day."""
    # A batch's tallies are by whole second (a day begins on one in every zone): its distinct seconds, not its
    # rows, are turned into dates.
    zones = {team_id: ZoneInfo(name) for team_id, name in connection.execute(
        select(Team.id, Team.timezone).where(Team.id.in_({tally.team_id for tally in tallies})))}
    days: dict = {}
    for tally in tallies:
        zone = zones.get(tally.team_id, ZoneInfo("UTC"))  # a team that is gone: count its rows in UTC
        key_day = (tally.team_id, tally.api_key_id, datetime.fromtimestamp(tally.second, zone).date())
        days.setdefault(key_day, dict.fromkeys(OUTCOMES, 0))[outcome(tally.status)] += tally.requests
    # In key and day order, so that two batches touching the same days never wait on each other in a cycle.
    add_counts(connection, ApiRequestDay.__table__, COLUMNS,
               [(*key_day, *counts.values()) for key_day, counts in sorted(days.items())])


def counted_days(team_id: int, api_key_id: int, first: date, last: date) -> dict[date, ApiRequestDay]:
    """The key's counted days from `first` to `last` (both included), by day; days without requests are absent."""
    return {row.day: row for row in db.session.scalars(select(ApiRequestDay).where(
        ApiRequestDay.team_id == team_id,
        ApiRequestDay.api_key_id == api_key_id,
        ApiRequestDay.day.between(first, last),
    ))}


def prune_days(connection, cutoff: datetime) -> int:
    """Delete the days wholly older than `cutoff` in every time zone (a day before its UTC date, to be sure);
    how many."""
    oldest_kept = cutoff.date() - timedelta(days=1)
    return connection.execute(delete(ApiRequestDay).where(ApiRequestDay.day < oldest_kept)).rowcount

"""Each key's requests per UTC hour, and where in the log they lie: a rollup counted with each batch of the log,
beside the days (days.py), so that a key's last 24 hours read at most 24 rows and a range of days becomes a range
of the log's ids (its index on (team_id, id) then reads only that range, whatever the log's size).

An hour is a whole number: hours since the Unix epoch, the same on every database and in every time zone.
"""

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, PrimaryKeyConstraint, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from floqast.extensions import db
from floqast.usage.rollups import OUTCOMES, Tally, add_counts, outcome

SECONDS = 3600
COLUMNS = ("team_id", "hour", "api_key_id", *OUTCOMES, "first_id", "last_id")


class ApiRequestHour(db.Model):
    """One key's requests in one hour: succeeded, refused, other errors, and the lowest and highest of their ids."""

    __tablename__ = "api_request_hours"
    # The team's hours first: a range of days reads every key's hours of the team in it, a key's day only 24 more.
    __table_args__ = (PrimaryKeyConstraint("team_id", "hour", "api_key_id", name="pk_api_request_hours"),)

    team_id: Mapped[int]
    hour: Mapped[int]
    api_key_id: Mapped[int]
    succeeded: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    first_id: Mapped[int] = mapped_column(BigInteger)
    last_id: Mapped[int] = mapped_column(BigInteger)


def hour_of(moment: datetime) -> int:
    return int(moment.timestamp()) // SECONDS


def count_hours(connection, tallies: list[Tally]) -> None:
    """Add a batch's tallies to their keys' hours, in the batch's transaction: one upsert per key and hour."""
    hours: dict = {}
    for tally in tallies:
        key_hour = (tally.team_id, tally.second // SECONDS, tally.api_key_id)
        counts = hours.get(key_hour)
        if counts is None:
            counts = hours[key_hour] = {**dict.fromkeys(OUTCOMES, 0), "first_id": tally.first_id,
                                        "last_id": tally.last_id}
        counts[outcome(tally.status)] += tally.requests
        counts["first_id"] = min(counts["first_id"], tally.first_id)
        counts["last_id"] = max(counts["last_id"], tally.last_id)
    # In primary key order, so that two batches touching the same hours never wait on each other in a cycle.
    add_counts(connection, ApiRequestHour.__table__, COLUMNS,
               [(*key_hour, *counts.values()) for key_hour, counts in sorted(hours.items())])


def id_span(team_id: int, since: datetime | None, until: datetime | None,
            api_key_id: int | None = None) -> tuple[int, int] | None:
    """The lowest and highest ids of the team's (or the key's) requests in the hours that hold [since, until); None
    when they hold none. Every request in the range has its id in the span (requests of the same hours outside the
    range may too: the caller keeps its own condition on created_at)."""
    conditions = [ApiRequestHour.team_id == team_id]
    if since is not None:
        conditions.append(ApiRequestHour.hour >= hour_of(since))
    if until is not None:
        conditions.append(ApiRequestHour.hour <= hour_of(until - timedelta(microseconds=1)))
    if api_key_id is not None:
        conditions.append(ApiRequestHour.api_key_id == api_key_id)
    first, last = db.session.execute(
        select(func.min(ApiRequestHour.first_id), func.max(ApiRequestHour.last_id)).where(*conditions)).one()
    return None if first is None else (first, last)


def prune_hours(connection, cutoff: datetime) -> int:
    """Delete the hours wholly older than `cutoff`; how many."""
    return connection.execute(delete(ApiRequestHour).where(ApiRequestHour.hour < hour_of(cutoff))).rowcount

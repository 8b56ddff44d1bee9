"""Where each key's requests came from, per UTC day: a rollup of the log counted with each batch, so that a key's
page lists its last 30 days of addresses from at most 30 rows an address, however busy the key."""

from datetime import date, datetime, timezone
from typing import NamedTuple

from sqlalchemy import BigInteger, Date, PrimaryKeyConstraint, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from floqast.columns import IP_LENGTH
from floqast.extensions import db
from floqast.usage.models import ApiRequest
from floqast.usage.rollups import REFUSED_STATUSES, Tally, add_counts

COLUMNS = ("team_id", "api_key_id", "day", "source_ip", "requests", "refused", "last_id")


class ApiRequestAddress(db.Model):
    """One key's requests from one address on one UTC day: how many, how many refused, the latest's id."""

    __tablename__ = "api_request_addresses"
    __table_args__ = (PrimaryKeyConstraint("team_id", "api_key_id", "day", "source_ip",
                                           name="pk_api_request_addresses"),)

    team_id: Mapped[int]
    api_key_id: Mapped[int]
    day: Mapped[date] = mapped_column(Date)
    # "" for a request whose address was not known (a key column holds no NULL).
    source_ip: Mapped[str] = mapped_column(String(IP_LENGTH))
    requests: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    last_id: Mapped[int] = mapped_column(BigInteger)


def count_addresses(connection, tallies: list[Tally]) -> None:
    """Add a batch's tallies to their keys' addresses, in the batch's transaction."""
    addresses: dict = {}
    for tally in tallies:
        key_address = (tally.team_id, tally.api_key_id, datetime.fromtimestamp(tally.second, timezone.utc).date(),
                       tally.source_ip or "")
        counts = addresses.setdefault(key_address, [0, 0, tally.last_id])
        counts[0] += tally.requests
        counts[1] += tally.requests if tally.status in REFUSED_STATUSES else 0
        counts[2] = max(counts[2], tally.last_id)
    add_counts(connection, ApiRequestAddress.__table__, COLUMNS,
               [(*key, *counts) for key, counts in sorted(addresses.items())])


class ClientAddress(NamedTuple):
    """An address a key's requests came from: how many, how many refused, the latest's time and user agent."""

    ip: str | None
    requests: int
    refused: int
    last_at: datetime
    user_agent: str | None

    @property
    def accepted(self) -> bool:
        """Whether the key was accepted from here at least once."""
        return self.requests > self.refused


def client_addresses(team_id: int, api_key_id: int, since: datetime, limit: int) -> list[ClientAddress]:
    """The distinct addresses of the key's requests from `since`'s UTC day on, the latest used first, `limit` of
    them at most: their days summed, then each one's latest request read by its id."""
    latest_id = func.max(ApiRequestAddress.last_id)
    grouped = db.session.execute(
        select(ApiRequestAddress.source_ip, func.sum(ApiRequestAddress.requests), func.sum(ApiRequestAddress.refused),
               latest_id)
        .where(ApiRequestAddress.team_id == team_id, ApiRequestAddress.api_key_id == api_key_id,
               ApiRequestAddress.day >= since.date())
        .group_by(ApiRequestAddress.source_ip)
        .order_by(latest_id.desc())
        .limit(limit)
    ).all()
    latest = {row.id: row for row in db.session.execute(
        select(ApiRequest.id, ApiRequest.created_at, ApiRequest.user_agent)
        .where(ApiRequest.team_id == team_id, ApiRequest.api_key_id == api_key_id,
               ApiRequest.id.in_([row[3] for row in grouped]))
    )}
    return [ClientAddress(ip or None, requests, refused, latest[last_id].created_at, latest[last_id].user_agent)
            for ip, requests, refused, last_id in grouped if last_id in latest]


def prune_addresses(connection, cutoff: datetime) -> int:
    """Delete the addresses' days wholly older than `cutoff` (UTC); how many."""
    return connection.execute(delete(ApiRequestAddress).where(
        ApiRequestAddress.day < cutoff.date())).rowcount

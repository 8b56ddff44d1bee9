"""Keeping REQUEST_LOG_RETENTION_DAYS of the log and its rollups (days, hours, addresses): on PostgreSQL whole
months are dropped instead of deleting millions of rows, and the coming months' partitions made; on SQLite, a
DELETE."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, text

from floqast.extensions import db
from floqast.usage.addresses import prune_addresses
from floqast.usage.days import prune_days
from floqast.usage.hours import prune_hours
from floqast.usage.models import ApiRequest
from floqast.usage.partitions import make_partition, month_of, next_month, partition_name, partitions

# Partitions made ahead, besides the current month's.
MONTHS_AHEAD = 2


def prune(now: datetime, retention_days: int) -> list[str]:
    """Keep `retention_days` of the log: what was done, a line each."""
    cutoff = now - timedelta(days=retention_days)
    done = []
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            for name, month in partitions(connection):
                if datetime.combine(next_month(month), datetime.min.time(), timezone.utc) <= cutoff:
                    connection.execute(text(f"DROP TABLE {name}"))
                    done.append(f"dropped {name}")
            month = month_of(now)
            for _ in range(MONTHS_AHEAD + 1):
                if make_partition(connection, month):
                    done.append(f"created {partition_name(month)}")
                month = next_month(month)
        deleted = connection.execute(delete(ApiRequest).where(ApiRequest.created_at < cutoff)).rowcount
        done.append(f"deleted {deleted} rows older than {cutoff:%Y-%m-%d %H:%M} UTC")
        done.append(f"deleted {prune_days(connection, cutoff)} daily usage counts")
        done.append(f"deleted {prune_hours(connection, cutoff)} hourly usage counts")
        done.append(f"deleted {prune_addresses(connection, cutoff)} daily address counts")
    return done

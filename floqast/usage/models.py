"""The API request log's table: one row per API request, never a key in it, and why a refused one was refused."""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, PrimaryKeyConstraint, SmallInteger, String, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column

from floqast.columns import UTCDateTime
from floqast.extensions import db
from floqast.keys.models import USER_AGENT_LENGTH


class PartitionedPrimaryKey(PrimaryKeyConstraint):
    """id, to SQLAlchemy and on SQLite (where a lone INTEGER PRIMARY KEY numbers new rows by itself); on
    PostgreSQL (id, created_at), since a partitioned table's primary key must hold its partition key."""


@compiles(PartitionedPrimaryKey, "postgresql")
def _with_the_partition_key(constraint, compiler, **kw):
    return f"CONSTRAINT {compiler.preparer.format_constraint(constraint)} PRIMARY KEY (id, created_at)"


class ApiRequest(db.Model):
    """One API request: when, which team and key, what was asked (never a key), from where, and the answer."""

    __tablename__ = "api_requests"
    __table_args__ = (
        PartitionedPrimaryKey("id", name="pk_api_requests"),
        Index("ix_api_requests_team_id_id", "team_id", "id"),
        # The team first: PostgreSQL misjudges a key's share of the rows of (api_key_id, id) and reads the team's.
        Index("ix_api_requests_team_id_api_key_id_id", "team_id", "api_key_id", "id"),
        # Prune's DELETE of the oldest kept month's first days: on PostgreSQL a BRIN index (a few pages a month,
        # next to nothing per insert, since rows come in time order), elsewhere a plain one.
        Index("ix_api_requests_created_at", "created_at", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    # Plain integers, no foreign keys: a log outlives what it names, and inserting it checks nothing.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    team_id: Mapped[int]
    api_key_id: Mapped[int]
    method: Mapped[str] = mapped_column(String(16))
    uri: Mapped[str] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(String(45))
    status: Mapped[int] = mapped_column(SmallInteger)
    service: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    # Why the key was refused (a Refusal), for refusals that know; None for the rest.
    refusal: Mapped[str | None] = mapped_column(String(16))
    # The request's audit trail entry as JSON, but for its id (capture.trail_entry); None in rows logged before.
    trail_entry: Mapped[str | None] = mapped_column(Text)

    @property
    def refusal_reason(self) -> str | None:
        """Why the request was refused, in words; None for one that was not (or logged before reasons were)."""
        if self.refusal is not None:
            return Refusal(self.refusal).label
        return Refusal.RATE_LIMITED.label if self.status == 429 else None


class Refusal(enum.StrEnum):
    """Why a key's request was refused, as the log keeps it. A 429 is always a pull over its rate limit (past the
    refusals' own limit nothing is logged), so it needs none stored."""

    DELETED = "deleted"
    ROLLED = "rolled"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    ADDRESS = "address"
    SERVICE = "service"
    OPEN_API_OFF = "open_api_off"
    KEY_IN_URL = "key_in_url"
    RATE_LIMITED = "rate_limited"
    ENTITY = "entity"
    OTHER_KEYS = "other_keys"

    @property
    def label(self) -> str:
        return {
            "deleted": "Deleted key",
            "rolled": "Rolled key, replaced",
            "revoked": "Key revoked as leaked",
            "suspended": "Suspended key",
            "expired": "Expired key",
            "address": "Address not allowed",
            "service": "Service not allowed",
            "open_api_off": "Open API off",
            "key_in_url": "Key in the URL",
            "rate_limited": "Rate limited",
            "entity": "Entity not allowed",
            "other_keys": "Another key's requests",
        }[self.value]

"""The API request log's table: one row per API request, never a key in it."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, PrimaryKeyConstraint, SmallInteger, String, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column

from floqast.extensions import db
from floqast.models import USER_AGENT_LENGTH, UTCDateTime


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
        Index("ix_api_requests_api_key_id_id", "api_key_id", "id"),
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

"""The close: entities, folders, reconciliations and checklist items, with their sign-offs."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, and_, or_, select, type_coerce
from sqlalchemy.orm import Mapped, mapped_column

from floqast.accounts.models import Team
from floqast.analytics.money import Money
from floqast.columns import UTCDateTime, utcnow
from floqast.extensions import db

SIGN_OFF_GROUPS = ("preparer", "reviewer")


class NamedInTeam:
    """What entities and folders share: a name, unique within the team."""

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @classmethod
    def ids_by_name(cls, team: Team, names) -> dict[str, int]:
        """Ids of the team's rows by name, creating the missing ones."""
        existing = dict(db.session.execute(select(cls.name, cls.id).where(cls.team_id == team.id)).all())
        for name in dict.fromkeys(names):
            if name not in existing:
                row = cls(team_id=team.id, name=name)
                db.session.add(row)
                db.session.flush()
                existing[name] = row.id
        return existing


class Entity(NamedInTeam, db.Model):
    """A legal entity of a team, whose books are closed each month."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_entities_team_id_name"),)


class Folder(NamedInTeam, db.Model):
    """A group of accounts or tasks, such as Cash or Payroll."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_folders_team_id_name"),)


class CloseRecord:
    """What reconciliations and checklist items share: owner, period, sign-offs, timestamps."""

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id"))
    period_year: Mapped[int]
    period_month: Mapped[int]
    preparer_assigned_to: Mapped[str | None] = mapped_column(String(100))
    preparer_signed_by: Mapped[str | None] = mapped_column(String(100))
    preparer_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    preparer_due_on: Mapped[date]
    reviewer_assigned_to: Mapped[str | None] = mapped_column(String(100))
    reviewer_signed_by: Mapped[str | None] = mapped_column(String(100))
    reviewer_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewer_due_on: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @classmethod
    def signed(cls, group: str):
        return getattr(cls, f"{group}_signed_at").is_not(None)

    @classmethod
    def past_due(cls, today: date):
        """Some sign-off is still missing after its due date."""
        return or_(*(
            and_(getattr(cls, f"{group}_signed_at").is_(None), getattr(cls, f"{group}_due_on") < today)
            for group in SIGN_OFF_GROUPS
        ))

    @classmethod
    def indexes(cls, table: str) -> tuple:
        """The indexes behind the cursor's id order within a team, the period filter and the modified filters."""
        return (
            Index(f"ix_{table}_team_id_id", "team_id", "id"),
            Index(f"ix_{table}_team_period", "team_id", "period_year", "period_month", "id"),
            Index(f"ix_{table}_team_updated", "team_id", "updated_at", "id"),
        )


class Reconciliation(CloseRecord, db.Model):
    """One account of one entity reconciled for one period."""

    __tablename__ = "reconciliations"
    __table_args__ = (
        *CloseRecord.indexes("reconciliations"),
        UniqueConstraint(
            "team_id", "entity_id", "account_number", "period_year", "period_month",
            name="uq_reconciliations_account_period",
        ),
    )

    account_number: Mapped[str] = mapped_column(String(50))
    account_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    gl_balance: Mapped[Decimal] = mapped_column(Money)
    reconciled_balance: Mapped[Decimal] = mapped_column(Money)
    reconciling_items: Mapped[Decimal] = mapped_column(Money)
    auto_rec_type: Mapped[str | None] = mapped_column(String(50))

    @classmethod
    def derived(cls, today: date) -> dict:
        """The computed fields, as SQL, so that JSON, CSV and filters all read the same values."""
        difference = type_coerce(cls.gl_balance - cls.reconciled_balance - cls.reconciling_items, Money())
        return {
            "difference": difference,
            "reconciled": and_(difference == 0, cls.signed("preparer"), cls.signed("reviewer")),
            "past_due": cls.past_due(today),
        }


class ChecklistItem(CloseRecord, db.Model):
    """One close task of one entity for one period."""

    __tablename__ = "checklist_items"
    __table_args__ = (
        *CloseRecord.indexes("checklist_items"),
        UniqueConstraint(
            "team_id", "entity_id", "description", "period_year", "period_month",
            name="uq_checklist_items_task_period",
        ),
    )

    description: Mapped[str] = mapped_column(String(300))
    frequency: Mapped[str] = mapped_column(String(20))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)

    @classmethod
    def derived(cls, today: date) -> dict:
        """The computed fields, as SQL, so that JSON, CSV and filters all read the same values."""
        return {
            "ready_for_review": and_(cls.signed("preparer"), ~cls.signed("reviewer")),
            "complete": and_(cls.signed("preparer"), cls.signed("reviewer")),
            "past_due": cls.past_due(today),
        }

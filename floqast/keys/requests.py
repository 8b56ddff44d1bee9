"""Key requests: a Manager or User asks for a key with a justification, an Admin approves it (perhaps narrowed) or
denies it with a reason, and the requester reveals the key once, made at that moment. Columns and the rules their own
fields decide; floqast/keys/request_actions.py changes and reads them."""

import enum
from datetime import date, datetime, timedelta

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from floqast import columns
from floqast.accounts.models import Team, User
from floqast.columns import OutsideText, UTCDateTime, str_enum
from floqast.extensions import db
from floqast.keys.models import ApiKey, Service, normal_name

# How long an approved request's key can be revealed; after that the approval lapses.
REVEAL_WINDOW = timedelta(hours=24)
JUSTIFICATION_LENGTH = 1000
DENIAL_REASON_LENGTH = 500


class Decision(enum.StrEnum):
    APPROVED = "approved"
    DENIED = "denied"


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REVEALED = "revealed"
    LAPSED = "lapsed"

    @property
    def label(self) -> str:
        return {"pending": "Pending", "approved": "Approved: ready to reveal", "denied": "Denied",
                "revealed": "Key revealed", "lapsed": "Lapsed"}[self.value]


class Widening(ValueError):
    """An approval that would grant more than was asked for (its message says what)."""


class ApiKeyRequest(db.Model):
    __tablename__ = "api_key_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=columns.utcnow)
    # What was asked for: entity_ids None is every entity of the team, expires_on None no expiration.
    name: Mapped[str] = mapped_column(String(100))
    services: Mapped[list[str]] = mapped_column(JSON)
    entity_ids: Mapped[list[int] | None] = mapped_column(JSON)
    expires_on: Mapped[date | None]
    justification: Mapped[str] = mapped_column(OutsideText(JUSTIFICATION_LENGTH))
    # The decision, once: who, when, and for an approval what was granted (never more than was asked for).
    decision: Mapped[Decision | None] = mapped_column(str_enum(Decision))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    denial_reason: Mapped[str | None] = mapped_column(OutsideText(DENIAL_REASON_LENGTH))
    granted_services: Mapped[list[str] | None] = mapped_column(JSON)
    granted_entity_ids: Mapped[list[int] | None] = mapped_column(JSON)
    granted_expires_on: Mapped[date | None]
    # The key made when the requester revealed it, and when.
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), unique=True)

    team: Mapped[Team] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    api_key: Mapped[ApiKey | None] = relationship()

    @validates("name")
    def _store_normal_name(self, _, name: str) -> str:
        return normal_name(name)

    def status(self, now: datetime | None = None) -> RequestStatus:
        """Pending until decided; an approval is ready to reveal for REVEAL_WINDOW, then lapses unless revealed."""
        if self.decision is None:
            return RequestStatus.PENDING
        if self.decision is Decision.DENIED:
            return RequestStatus.DENIED
        if self.revealed_at is not None:
            return RequestStatus.REVEALED
        return RequestStatus.APPROVED if (now or columns.utcnow()) < self.reveal_by else RequestStatus.LAPSED

    @property
    def reveal_by(self) -> datetime | None:
        """When an approval lapses unless its key is revealed before."""
        return None if self.decided_at is None else self.decided_at + REVEAL_WINDOW

    @property
    def service_list(self) -> list[Service]:
        return [Service(value) for value in self.services]

    @property
    def granted_service_list(self) -> list[Service]:
        return [Service(value) for value in self.granted_services or ()]

    def check_narrower(self, services, entity_ids: list[int] | None, expires_on: date | None) -> None:
        """Widening unless services, entities and expiry grant at most what was asked for."""
        if not set(services) <= set(self.services):
            raise Widening("Approve only services that were asked for.")
        if self.entity_ids is not None and (entity_ids is None or not set(entity_ids) <= set(self.entity_ids)):
            raise Widening("Approve only entities that were asked for.")
        if self.expires_on is not None and (expires_on is None or expires_on > self.expires_on):
            raise Widening(f"Approve an expiration no later than the one asked for, {self.expires_on.isoformat()}.")

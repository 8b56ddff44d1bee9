"""A key's status: one rule over the fields it reads, for ApiKey and the fast path's CheckedKey alike (its SQL twin,
for lists and conditional UPDATEs, is floqast/keys/queries.py status_clause)."""

import enum
from datetime import date, datetime


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"

    @property
    def label(self) -> str:
        return self.value.title()


def key_status(deleted_at: datetime | None, roll_ends_at: datetime | None, suspended_at: datetime | None,
               expires_on: date | None, today: date, now: datetime) -> KeyStatus:
    """Deactivated if deleted or rolled and past its overlap, else Suspended while an admin has it paused, else
    Expired once its last day (`today` in its team's zone) has passed, else Active (a rolled key in its overlap
    too)."""
    if deleted_at is not None or (roll_ends_at is not None and roll_ends_at <= now):
        return KeyStatus.DEACTIVATED
    if suspended_at is not None:
        return KeyStatus.SUSPENDED
    if expires_on is not None and expires_on < today:
        return KeyStatus.EXPIRED
    return KeyStatus.ACTIVE

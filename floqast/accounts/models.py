"""Teams and their people: who may sign in, with which role, in which time zone."""

import enum
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import bcrypt
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from floqast import columns
from floqast.columns import UTCDateTime, str_enum
from floqast.extensions import db
from floqast.keys.changes import AffectsKeyChecks
from floqast.keys.policy import KeyPolicy


class Role(enum.StrEnum):
    ADMIN = "admin"
    SYSADMIN = "sysadmin"
    MANAGER = "manager"
    USER = "user"

    @property
    def label(self) -> str:
        return "System Admin" if self is Role.SYSADMIN else self.value.title()


def end_of_day(day: date, zone: str) -> datetime:
    """The UTC instant at which `day` ends in the time zone named `zone`."""
    return datetime.combine(day + timedelta(days=1), time(), ZoneInfo(zone)).astimezone(timezone.utc)


class TeamDates:
    """A team's calendar, from its time zone alone: for a Team and the fast path's CheckedTeam
    (floqast/keys/lookup.py) alike."""

    __slots__ = ()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: datetime | None = None) -> date:
        """The calendar date in the team's time zone."""
        return (now or columns.utcnow()).astimezone(self.zone).date()

    def end_of_day(self, day: date) -> datetime:
        """The UTC instant at which `day` ends in the team's time zone."""
        return end_of_day(day, self.timezone)


class Team(TeamDates, AffectsKeyChecks, db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    open_api_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=columns.utcnow)
    # The team's API key policy (see key_policy): read and set together as key_policy.
    require_key_expiration: Mapped[bool] = mapped_column(default=False)
    max_key_lifetime_days: Mapped[int | None]

    @property
    def key_policy(self) -> KeyPolicy:
        return KeyPolicy(bool(self.require_key_expiration), self.max_key_lifetime_days)

    @key_policy.setter
    def key_policy(self, policy: KeyPolicy) -> None:
        self.require_key_expiration = policy.require_expiration
        self.max_key_lifetime_days = policy.max_lifetime_days

    @classmethod
    def named(cls, name: str) -> "Team | None":
        """The team called `name`, ignoring surrounding spaces, and case when that leaves one team."""
        name = name.strip()
        team = db.session.scalar(select(cls).where(cls.name == name))
        if team is None:
            matches = db.session.scalars(select(cls).where(func.lower(cls.name) == name.lower()).limit(2)).all()
            team = matches[0] if len(matches) == 1 else None
        return team


def bcrypt_secret(password: str) -> bytes:
    """What bcrypt hashes of a password: its first 72 UTF-8 bytes, all that bcrypt ever reads.

    bcrypt before 5.0 dropped the rest silently; 5.0 raises ValueError instead, which made a long password
    typed at the login form a 500. Cutting here keeps hashes made either way checking the same.
    """
    return password.encode()[:72]


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=columns.utcnow)
    # Raised at logout: a session cookie from before it (a copy kept anywhere) no longer signs anyone in.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    team: Mapped[Team] = relationship()

    # What Flask-Login asks of a signed-in user (its UserMixin's answers, without importing it into the model).
    is_active = is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.ADMIN, Role.SYSADMIN)

    def set_password(self, password: str, rounds: int) -> None:
        self.password_hash = bcrypt.hashpw(bcrypt_secret(password), bcrypt.gensalt(rounds)).decode()

    def check_password(self, password: str) -> bool:
        return bcrypt.checkpw(bcrypt_secret(password), self.password_hash.encode())

    @classmethod
    def by_email(cls, email: str) -> "User | None":
        return db.session.scalar(select(cls).where(cls.email == email.strip().lower()))

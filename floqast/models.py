"""Teams, users and API keys, with the behaviour that belongs to each."""

import enum
import unicodedata
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

import bcrypt
from flask_login import UserMixin
from sqlalchemy import JSON, Enum, ForeignKey, String, bindparam, func, select, update
from sqlalchemy.orm import Mapped, contains_eager, joinedload, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator

from floqast import keys
from floqast.extensions import db


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database; SQLite keeps no zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _str_enum(enum_class) -> Enum:
    """Store a StrEnum by its value in a plain string column, the same on every database."""
    return Enum(
        enum_class,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Role(enum.StrEnum):
    ADMIN = "admin"
    SYSADMIN = "sysadmin"
    MANAGER = "manager"
    USER = "user"

    @property
    def label(self) -> str:
        return "System Admin" if self is Role.SYSADMIN else self.value.title()


class Service(enum.StrEnum):
    RECONCILIATIONS = "reconciliations"
    CHECKLISTS = "checklists"

    @property
    def label(self) -> str:
        return "Reconciliation Analytics" if self is Service.RECONCILIATIONS else "Checklist Analytics"


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"

    @property
    def label(self) -> str:
        return self.value.title()


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    open_api_enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, now: datetime | None = None) -> date:
        """The calendar date in the team's time zone."""
        return (now or utcnow()).astimezone(self.zone).date()

    def end_of_day(self, day: date) -> datetime:
        """The UTC instant at which `day` ends in the team's time zone."""
        return datetime.combine(day + timedelta(days=1), time(), self.zone).astimezone(timezone.utc)

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


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_str_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Raised at logout: a session cookie from before it (a copy kept anywhere) no longer signs anyone in.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    team: Mapped[Team] = relationship()

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


def normal_name(name: str) -> str:
    """A key name as it is stored: NFKC-normalised (full-width and other look-alike forms made plain), trimmed."""
    return unicodedata.normalize("NFKC", name).strip()


def name_key(name: str) -> str:
    """What key names are compared by: "Ｄｕｐ Ｎａｍｅ", "dup name" and "Dup Name" are one name."""
    return unicodedata.normalize("NFKC", normal_name(name).casefold())


DEACTIVATED_REASON_LENGTH = 300


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    hint: Mapped[str] = mapped_column(String(len(keys.PREFIX) + keys.HINT_LENGTH))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    services: Mapped[list[str]] = mapped_column(JSON)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_on: Mapped[date | None]
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_ip: Mapped[str | None] = mapped_column(String(45))
    # When the key was first seen in a URL (refused there, but now in proxy and server logs): roll it.
    exposed_in_url_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Why it was deactivated when no admin deleted it ("reported as leaked"); None for a delete.
    deactivated_reason: Mapped[str | None] = mapped_column(String(DEACTIVATED_REASON_LENGTH))

    team: Mapped[Team] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    deleted_by: Mapped[User | None] = relationship(foreign_keys=[deleted_by_id])

    @classmethod
    def issue(cls, *, creator: User, name: str, services, expires_on: date | None, pepper: bytes):
        """A new key for the creator's team, and its plaintext, which is never stored."""
        plaintext = keys.generate()
        key = cls(
            team=creator.team,
            created_by=creator,
            name=name,
            services=list(dict.fromkeys(Service(service).value for service in services)),  # each once, in order
            expires_on=expires_on,
            digest=keys.digest(plaintext, pepper),
            hint=keys.hint(plaintext),
        )
        return key, plaintext

    @classmethod
    def by_plaintext(cls, plaintext: str, pepper: bytes) -> "ApiKey | None":
        """The key a well-formed plaintext belongs to, with its team, in one indexed query."""
        return db.session.scalar(cls._by_digest(), {"digest": keys.digest(plaintext, pepper)})

    @classmethod
    @cache
    def _by_digest(cls):
        # Built once: constructing the select, its join and its loader option cost more than running it.
        return select(cls).join(cls.team).options(contains_eager(cls.team)).where(cls.digest == bindparam("digest"))

    @property
    def service_list(self) -> list[Service]:
        return [Service(value) for value in self.services]

    def has_service(self, service: Service) -> bool:
        return service.value in self.services

    def status(self, today: date) -> KeyStatus:
        """Deactivated if deleted, else Expired once its last day has passed, else Active."""
        if self.deleted_at is not None:
            return KeyStatus.DEACTIVATED
        if self.expires_on is not None and self.expires_on < today:
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE

    @property
    def expires_at(self) -> datetime | None:
        """The instant the key stops working: the end of its expiration date in the team's zone."""
        return None if self.expires_on is None else self.team.end_of_day(self.expires_on)

    @classmethod
    def status_clause(cls, status: KeyStatus, today: date):
        """The SQL condition for keys in `status` on `today`, the same rule as `status()`."""
        expired = (cls.expires_on.is_not(None)) & (cls.expires_on < today)
        if status is KeyStatus.DEACTIVATED:
            return cls.deleted_at.is_not(None)
        if status is KeyStatus.EXPIRED:
            return cls.deleted_at.is_(None) & expired
        return cls.deleted_at.is_(None) & ~expired

    @classmethod
    def count_by_status(cls, team: Team, today: date) -> dict[KeyStatus, int]:
        """How many of the team's keys are in each status, in one query."""
        columns = [func.count().filter(cls.status_clause(status, today)) for status in KeyStatus]
        row = db.session.execute(select(*columns).where(cls.team_id == team.id)).one()
        return dict(zip(KeyStatus, row, strict=True))

    @classmethod
    def page(cls, team: Team, status: KeyStatus | None, number: int, size: int, today: date) -> list["ApiKey"]:
        """Page `number` (from 1) of `size` of the team's keys in `status` (None: every key), newest first, with
        their creators, in one query."""
        query = (
            select(cls)
            .where(cls.team_id == team.id)
            .options(joinedload(cls.created_by), joinedload(cls.team))
            .order_by(cls.created_at.desc(), cls.id.desc())
            .limit(size)
            .offset((number - 1) * size)
        )
        if status is not None:
            query = query.where(cls.status_clause(status, today))
        return list(db.session.scalars(query))

    @classmethod
    def hold_names(cls, team: Team) -> None:
        """Make every other create for the team wait until this transaction ends, so that checking a new name
        against working_names() and inserting its key are one step.

        A write to the team's row, which PostgreSQL locks (a no-key lock: inserts that refer to the team go on)
        and SQLite serialises with its database write lock; SELECT ... FOR UPDATE would lock nothing on SQLite.
        A unique index cannot say it: a name is taken only while its key works, and expiry comes with the date.
        """
        db.session.execute(
            update(Team).where(Team.id == team.id).values(id=Team.id).execution_options(synchronize_session=False)
        )

    @classmethod
    def working_names(cls, team: Team, today: date) -> list[str]:
        """Names of the team's keys that still work, which a new key may not reuse."""
        query = select(cls.name).where(cls.team_id == team.id, cls.status_clause(KeyStatus.ACTIVE, today))
        return list(db.session.scalars(query))

    def deactivate(self, by: User | None, reason: str | None = None) -> bool:
        """Soft-delete the key once, for the caller to commit, by a user or (with no user) for a reason; False when
        it was already deactivated (by anyone)."""
        now = utcnow()
        result = db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == self.id, ApiKey.deleted_at.is_(None))
            .values(deleted_at=now, deleted_by_id=None if by is None else by.id,
                    deactivated_reason=None if reason is None else reason[:DEACTIVATED_REASON_LENGTH])
        )
        db.session.refresh(self)
        return result.rowcount == 1

    def record_use(self, ip: str | None, interval: timedelta) -> None:
        """Note a pull, for the caller to commit, writing at most once per `interval` even across workers."""
        now = utcnow()
        cutoff = now - interval
        if self.last_used_at is not None and self.last_used_at >= cutoff:
            return
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == self.id)
            .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < cutoff))
            .values(last_used_at=now, last_used_ip=ip)
            .execution_options(synchronize_session=False)
        )

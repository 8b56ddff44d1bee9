"""API keys: their columns, relationships and rules, the services and statuses they have, and what a key's name may
be."""

import enum
import re
import unicodedata
from datetime import date, datetime, timedelta
from functools import cache

from sqlalchemy import JSON, ForeignKey, String, bindparam, func, select, update
from sqlalchemy.orm import Mapped, contains_eager, joinedload, mapped_column, relationship, validates

from floqast import columns
from floqast.accounts.models import Team, User
from floqast.columns import IP_LENGTH, OutsideText, UTCDateTime
from floqast.extensions import db
from floqast.keys import allowlist, tokens

# A key this close to its expiration date gets the list's Expiring soon badge and its first expiry notice.
EXPIRING_SOON_DAYS = 7


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


# What a key name may not hold, by Unicode category: control characters (NUL among them, which PostgreSQL
# refuses in text; a line break ends a mail header), format characters (zero-width spaces, right-to-left
# overrides, which make a name look empty or like another), line and paragraph separators (U+2028, U+2029: a
# line break to a mail header too) and lone surrogates. Each of them stopped a mail header or fooled an eye.
REFUSED_IN_NAMES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
# How a refused character that has no Unicode name is named.
CATEGORY_NAMES = {"Cc": "a control character", "Cs": "a lone surrogate", "Cf": "a format character"}
# Runs of spaces of any width (every Unicode space separator), which make "A  B" look like "A B".
SPACE_RUN = re.compile(r"[\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


def normal_text(text: str) -> str:
    """Text as it is stored: NFKC-normalised (full-width and other look-alike forms made plain), trimmed."""
    return unicodedata.normalize("NFKC", text).strip()


def normal_name(name: str) -> str:
    """A key name as it is stored: normal_text() with each run of spaces made one space, so that names that
    differ only by their spacing, and show alike, are one name."""
    return SPACE_RUN.sub(" ", normal_text(name))


def name_key(name: str) -> str:
    """What key names are compared by: "Ｄｕｐ Ｎａｍｅ", "dup  name" and "Dup Name" are one name."""
    return unicodedata.normalize("NFKC", normal_name(name).casefold())


def refused_character(text: str, allowed=frozenset()) -> str | None:
    """The first character of `text` that a name may not hold (but those `allowed`), as people can look it up:
    "U+2028 (LINE SEPARATOR)"; None when there is none."""
    for char in text:
        if unicodedata.category(char) in REFUSED_IN_NAMES and char not in allowed:
            described = unicodedata.name(char, None) or CATEGORY_NAMES[unicodedata.category(char)]
            return f"U+{ord(char):04X} ({described})"
    return None


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a key's name because of a character it holds, naming it; None when it can."""
    found = refused_character(name)
    if found is None:
        return None
    return (f"The name holds {found}. Use letters, digits, spaces and punctuation on one line: no line breaks, "
            "no control characters or invisible formatting characters.")


# The most of a key's description, and of the user agent its last pull sent, that is kept.
DESCRIPTION_LENGTH = 500
USER_AGENT_LENGTH = 255


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    hint: Mapped[str] = mapped_column(String(len(tokens.PREFIX) + tokens.HINT_LENGTH))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    services: Mapped[list[str]] = mapped_column(JSON)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=columns.utcnow)
    expires_on: Mapped[date | None]
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_ip: Mapped[str | None] = mapped_column(OutsideText(IP_LENGTH))
    last_used_user_agent: Mapped[str | None] = mapped_column(OutsideText(USER_AGENT_LENGTH))
    # When the key was first seen in a URL (refused there, but now in proxy and server logs): roll it.
    exposed_in_url_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The networks a pull may come from, normalised (floqast/keys/allowlist.py); NULL: any address.
    allowed_ips: Mapped[str | None] = mapped_column(String(allowlist.STORED_LENGTH))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # A rolled key: the key that replaced it, and the moment it stops working (its overlap's end; the roll's
    # own moment for "Stop now"). Both are set together, once: a key is rolled at most once.
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    roll_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was deactivated when no admin deleted it ("reported as leaked", "found by GitHub secret scanning at
    # <url>"), whole: the URL is where to look for the leak; None for a delete.
    deactivated_reason: Mapped[str | None] = mapped_column(OutsideText())

    team: Mapped[Team] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    deleted_by: Mapped[User | None] = relationship(foreign_keys=[deleted_by_id])
    replaced_by: Mapped["ApiKey | None"] = relationship(remote_side=[id], foreign_keys=[replaced_by_id],
                                                         back_populates="replaces")
    # The key this one replaced (rolled or regenerated), if any: replaced_by seen from the other side.
    replaces: Mapped["ApiKey | None"] = relationship(foreign_keys=[replaced_by_id], back_populates="replaced_by",
                                                     uselist=False)

    @validates("name")
    def _store_normal_name(self, _, name: str) -> str:
        """Every name is stored as normal_name() gives it, whichever code sets it."""
        return normal_name(name)

    @classmethod
    def issue(cls, *, creator: User, name: str, services, expires_on: date | None, pepper: bytes,
              allowed_ips: str | None = None):
        """A new key for the creator's team, and its plaintext, which is never stored."""
        plaintext = tokens.generate()
        key = cls(
            team=creator.team,
            created_by=creator,
            name=name,
            services=list(dict.fromkeys(Service(service).value for service in services)),  # each once, in order
            expires_on=expires_on,
            allowed_ips=allowed_ips,
            digest=tokens.digest(plaintext, pepper),
            hint=tokens.hint(plaintext),
        )
        return key, plaintext

    @classmethod
    def by_plaintext(cls, plaintext: str, pepper: bytes) -> "ApiKey | None":
        """The key a well-formed plaintext belongs to, with its team, in one indexed query."""
        return db.session.scalar(cls._by_digest(), {"digest": tokens.digest(plaintext, pepper)})

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

    def allows(self, ip: str | None) -> bool:
        """Whether a pull from `ip` may use the key: from anywhere unless it has allowed addresses."""
        return self.allowed_ips is None or allowlist.allows(self.allowed_ips, ip)

    @property
    def allowed_ip_list(self) -> list[str]:
        """The allowed addresses and ranges as people write them; empty for any address."""
        return allowlist.shown(self.allowed_ips)

    def status(self, today: date, now: datetime | None = None) -> KeyStatus:
        """Deactivated if deleted or rolled and past its overlap, else Expired once its last day has passed, else
        Active (a rolled key in its overlap too)."""
        if self.deleted_at is not None or (
            self.roll_ends_at is not None and self.roll_ends_at <= (now or columns.utcnow())
        ):
            return KeyStatus.DEACTIVATED
        if self.expires_on is not None and self.expires_on < today:
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE

    @property
    def exceeds_policy(self) -> bool:
        """Whether the key, from the day it was created to its expiration date, breaks its team's policy of now."""
        return self.team.key_policy.refusal(self.expires_on, self.team.today(self.created_at)) is not None

    @property
    def stopped_at(self) -> datetime | None:
        """When a deactivated key stopped working: deleted, or its roll's overlap over, whichever came first."""
        return min((moment for moment in (self.deleted_at, self.roll_ends_at) if moment is not None), default=None)

    @property
    def expires_at(self) -> datetime | None:
        """The instant the key stops working: the end of its expiration date in the team's zone."""
        return None if self.expires_on is None else self.team.end_of_day(self.expires_on)

    @classmethod
    def status_clause(cls, status: KeyStatus, today: date, now: datetime | None = None):
        """The SQL condition for keys in `status` on `today` at `now`, the same rule as `status()`."""
        # Each part is TRUE or FALSE, never NULL, so that negating it keeps the rows it should.
        rolled_out = cls.roll_ends_at.is_not(None) & (cls.roll_ends_at <= (now or columns.utcnow()))
        deactivated = cls.deleted_at.is_not(None) | rolled_out
        expired = (cls.expires_on.is_not(None)) & (cls.expires_on < today)
        if status is KeyStatus.DEACTIVATED:
            return deactivated
        if status is KeyStatus.EXPIRED:
            return ~deactivated & expired
        return ~deactivated & ~expired

    @classmethod
    def count_by_status(cls, team: Team, today: date, where=()) -> dict[KeyStatus, int]:
        """How many of the team's keys (those meeting the conditions `where` too) are in each status, in one query."""
        now = columns.utcnow()
        counts = [func.count().filter(cls.status_clause(status, today, now)) for status in KeyStatus]
        row = db.session.execute(select(*counts).where(cls.team_id == team.id, *where)).one()
        return dict(zip(KeyStatus, row, strict=True))

    @classmethod
    def page(cls, team: Team, status: KeyStatus | None, number: int, size: int, today: date, where=(),
             order_by=()) -> list["ApiKey"]:
        """Page `number` (from 1) of `size` of the team's keys in `status` (None: every key) that meet the conditions
        `where`, in the order `order_by` then newest first, with their creators and the keys they replaced and were
        replaced by, in one query."""
        query = (
            select(cls)
            .where(cls.team_id == team.id, *where)
            .options(joinedload(cls.created_by), joinedload(cls.team), joinedload(cls.replaced_by),
                     joinedload(cls.replaces))
            .order_by(*order_by, cls.created_at.desc(), cls.id.desc())
            .limit(size)
            .offset((number - 1) * size)
        )
        if status is not None:
            query = query.where(cls.status_clause(status, today))
        return list(db.session.scalars(query))

    @classmethod
    def matching(cls, text: str):
        """The SQL condition for keys whose name, or hint, holds `text` (in any case)."""
        text = text.lower()
        return (func.lower(cls.name).contains(text, autoescape=True)
                | func.lower(cls.hint).contains(text, autoescape=True))

    @classmethod
    def unused_for(cls, days: int):
        """The SQL condition for keys made over `days` days ago and not used in them (or ever)."""
        cutoff = columns.utcnow() - timedelta(days=days)
        return (cls.created_at < cutoff) & (cls.last_used_at.is_(None) | (cls.last_used_at < cutoff))

    @classmethod
    def hold_names(cls, team: Team) -> None:
        """Make every other create for the team wait until this transaction ends, so that checking a new name
        against working_names() and inserting its key are one step.

        A write to the team's row, which PostgreSQL locks (a no-key lock: inserts that refer to the team go on)
        and SQLite serialises with its database write lock; SELECT ... FOR UPDATE would lock nothing on SQLite.
        A unique index cannot say it: a name is taken only while its key works, and expiry comes with the date.
        """
        db.session.execute(
            update(Team).where(Team.id == team.id).values(id=Team.id)
            .execution_options(synchronize_session=False, keeps_keys_as_checked=True)
        )

    @classmethod
    def working_names(cls, team: Team, today: date, except_id: int | None = None) -> list[str]:
        """Names of the team's keys that still work (but key `except_id`), which another key may not take. A rolled
        key in its overlap has handed its name to its replacement, so that a roll never needs a name of its own."""
        query = select(cls.name).where(
            cls.team_id == team.id, cls.status_clause(KeyStatus.ACTIVE, today), cls.replaced_by_id.is_(None)
        )
        if except_id is not None:
            query = query.where(cls.id != except_id)
        return list(db.session.scalars(query))

    def deactivate(self, by: User | None, reason: str | None = None) -> bool:
        """Soft-delete the key once, for the caller to commit, by a user or (with no user) for a reason; False when
        it was already deactivated (by anyone)."""
        now = columns.utcnow()
        result = db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == self.id, ~ApiKey.status_clause(KeyStatus.DEACTIVATED, self.team.today(now), now))
            .values(deleted_at=now, deleted_by_id=None if by is None else by.id, deactivated_reason=reason)
        )
        db.session.refresh(self)
        return result.rowcount == 1

    def replacement_expires_on(self, today: date) -> date | None:
        """The expiration date of this key's replacement made `today`: the lifetime it was made with (from the day
        it was created, in the team's zone, to its expiration date; at least a day) counted from today, or none,
        as far as the team's policy allows."""
        lifetime = None if self.expires_on is None else max(self.expires_on - self.team.today(self.created_at),
                                                             timedelta(days=1))
        return self.team.key_policy.nearest_allowed(None if lifetime is None else today + lifetime, today)

    def roll(self, by: User, overlap: timedelta, pepper: bytes, expires_on: date | None) -> tuple["ApiKey", str] | None:
        """A replacement made by `by` (everything but the key itself and its expiry carried over, see replace()) and
        its plaintext, with this key working on for `overlap`, for the caller to commit; None when this key cannot be
        rolled: rolled already, or no longer working (by anyone, even a moment ago). Then the caller rolls back the
        replacement."""
        return self.replace(by, pepper, expires_on, overlap, KeyStatus.ACTIVE)

    def regenerate(self, by: User, pepper: bytes, expires_on: date | None) -> tuple["ApiKey", str] | None:
        """A replacement for this expired key, as roll() makes one (this key stopping at once); None when it is no
        longer an expired key that was never replaced."""
        return self.replace(by, pepper, expires_on, timedelta(0), KeyStatus.EXPIRED)

    def replace(self, by: User, pepper: bytes, expires_on: date | None, overlap: timedelta,
                status: KeyStatus) -> tuple["ApiKey", str] | None:
        """A new key with this one's name, services, description and allowed addresses, expiring on `expires_on`,
        and its plaintext; this key, while in `status` and never replaced, then points to it and stops after
        `overlap`. None, for the caller to roll back, when this key was replaced or left `status` meanwhile."""
        now = columns.utcnow()
        replacement, plaintext = ApiKey.issue(creator=by, name=self.name, services=self.services,
                                              expires_on=expires_on, pepper=pepper, allowed_ips=self.allowed_ips)
        replacement.description = self.description
        replacement.created_at = now
        db.session.add(replacement)
        db.session.flush()  # its id, for this key to point to
        # One conditional UPDATE: of two admins replacing the key at once, the second finds it replaced.
        result = db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == self.id, ApiKey.replaced_by_id.is_(None),
                   ApiKey.status_clause(status, self.team.today(now), now))
            .values(replaced_by_id=replacement.id, roll_ends_at=now + overlap)
        )
        db.session.refresh(self)
        return (replacement, plaintext) if result.rowcount == 1 else None

    def end_overlap(self) -> bool:
        """Stop a rolled key still in its overlap now, for the caller to commit; False when it had stopped already
        (its overlap over, or deleted: by anyone, even a moment ago)."""
        now = columns.utcnow()
        result = db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == self.id, ApiKey.roll_ends_at > now, ApiKey.deleted_at.is_(None))
            .values(roll_ends_at=now)
        )
        db.session.refresh(self)
        return result.rowcount == 1

    @property
    def rolling(self) -> bool:
        """Whether the key was rolled and still works beside its replacement, its overlap not over."""
        return self.roll_ends_at is not None and self.deleted_at is None and self.roll_ends_at > columns.utcnow()

    def record_use(self, ip: str | None, user_agent: str | None, interval: timedelta) -> bool:
        """Note a pull and where it came from, for the caller to commit, writing at most once per `interval`
        even across workers; whether it wrote (else there is nothing to commit)."""
        now = columns.utcnow()
        cutoff = now - interval
        if self.last_used_at is not None and self.last_used_at >= cutoff:
            return False
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == self.id)
            .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < cutoff))
            .values(last_used_at=now, last_used_ip=ip, last_used_user_agent=user_agent)
            .execution_options(synchronize_session=False, keeps_keys_as_checked=True)
        )
        return True

"""API keys: their columns, relationships and the rules their own fields decide, the services a key may hold, and
what a key's name may be. No query, no session: floqast/keys/queries.py reads keys, floqast/keys/actions.py changes
them."""

import enum
import re
import unicodedata
from datetime import date, datetime, timedelta

from sqlalchemy import JSON, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from floqast import columns
from floqast.accounts.models import Team, User
from floqast.columns import IP_LENGTH, OutsideText, UTCDateTime
from floqast.extensions import db
from floqast.keys import allowlist, tokens
from floqast.keys.changes import AffectsKeyChecks
from floqast.keys.state import KeyStatus, key_status

# A key this close to its expiration date gets the list's Expiring soon badge and its first expiry notice.
EXPIRING_SOON_DAYS = 7


class Service(enum.StrEnum):
    RECONCILIATIONS = "reconciliations"
    CHECKLISTS = "checklists"
    # Read-only: the team's key list and each key's usage (GET /api/v1/keys), for access reviews.
    KEY_ADMINISTRATION = "key_administration"

    @property
    def label(self) -> str:
        return {
            "reconciliations": "Reconciliation Analytics",
            "checklists": "Checklist Analytics",
            "key_administration": "Key administration",
        }[self.value]


# The services that pull records (a dataset each); Key administration reads keys.
ANALYTICS_SERVICES = (Service.RECONCILIATIONS, Service.CHECKLISTS)

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
# The most an admin may write of why a key is suspended.
SUSPEND_REASON_LENGTH = 200


class KeyRules:
    """The rules a key's own fields decide, for an ApiKey and the fast path's CheckedKey (floqast/keys/lookup.py)
    alike; FIELDS are the ones they and a pull's views read, all that the fast path reads of a key."""

    __slots__ = ()
    FIELDS = ("id", "team_id", "created_by_id", "name", "hint", "services", "expires_on", "last_used_at", "deleted_at",
              "roll_ends_at", "replaced_by_id", "allowed_ips", "deactivated_reason", "entity_ids",
              "rate_limit_per_minute", "self_roll_allowed", "suspended_at", "suspended_reason")

    def status(self, today: date, now: datetime | None = None) -> KeyStatus:
        """The key's status on `today` (in its team's zone) at `now` (floqast/keys/state.py)."""
        return key_status(self.deleted_at, self.roll_ends_at, self.suspended_at, self.expires_on, today,
                          now or columns.utcnow())

    def editable(self, today: date) -> bool:
        """Whether its name, description and allowed addresses may still change: it works, or will once resumed."""
        return self.status(today) in (KeyStatus.ACTIVE, KeyStatus.SUSPENDED)

    @property
    def service_list(self) -> list[Service]:
        return [Service(value) for value in self.services]

    def has_service(self, service: Service) -> bool:
        return service.value in self.services

    def allows(self, ip: str | None) -> bool:
        """Whether a pull from `ip` may use the key: from anywhere unless it has allowed addresses."""
        return self.allowed_ips is None or allowlist.allows(self.allowed_ips, ip)

    @property
    def limited_to_entities(self) -> bool:
        """Whether the key reads only the entities it names (else every entity of its team, later ones too)."""
        return self.entity_ids is not None

    @property
    def shown_entity_ids(self) -> list[str] | None:
        """The entities it reads as the API gives them: None for every entity, else their ids as strings."""
        return None if self.entity_ids is None else [str(entity_id) for entity_id in self.entity_ids]

    def cannot_read(self, entity_ids) -> int | None:
        """The first of `entity_ids` that the key may not read, or None."""
        if self.entity_ids is None:
            return None
        return next((entity_id for entity_id in entity_ids if entity_id not in self.entity_ids), None)

    @property
    def allowed_ip_list(self) -> list[str]:
        """The allowed addresses and ranges as people write them; empty for any address."""
        return allowlist.shown(self.allowed_ips)

    @property
    def stopped_at(self) -> datetime | None:
        """When a deactivated key stopped working: deleted, or its roll's overlap over, whichever came first."""
        return min((moment for moment in (self.deleted_at, self.roll_ends_at) if moment is not None), default=None)

    @property
    def expires_at(self) -> datetime | None:
        """The instant the key stops working: the end of its expiration date in the team's zone."""
        return None if self.expires_on is None else self.team.end_of_day(self.expires_on)

    @property
    def rolling(self) -> bool:
        """Whether the key was rolled and still works beside its replacement, its overlap not over."""
        return self.roll_ends_at is not None and self.deleted_at is None and self.roll_ends_at > columns.utcnow()


class ApiKey(KeyRules, AffectsKeyChecks, db.Model):
    __tablename__ = "api_keys"
    # Written on pulls and on a key found in a URL, with keeps_keys_as_checked: no pull's check reads them.
    UNCHECKED_COLUMNS = frozenset({"last_used_at", "last_used_ip", "last_used_user_agent", "exposed_in_url_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    hint: Mapped[str] = mapped_column(String(len(tokens.PREFIX) + tokens.HINT_LENGTH))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The pepper (its id in API_KEY_PEPPERS; API_KEY_PEPPER is 1) the digest was made under.
    pepper_id: Mapped[int] = mapped_column(default=1, server_default="1")
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
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    roll_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was deactivated when no admin deleted it ("reported as leaked", "found by GitHub secret scanning at
    # <url>"), whole: the URL is where to look for the leak; None for a delete.
    deactivated_reason: Mapped[str | None] = mapped_column(OutsideText())
    # The entities whose records the key reads, ids in order; NULL: every entity of its team, those added later too.
    entity_ids: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    # The key's own limit on requests a minute; NULL: the team default (API_RATE_LIMIT).
    rate_limit_per_minute: Mapped[int | None]
    # "Scripts may roll this key": the key may replace itself through POST /api/v1/me/roll.
    self_roll_allowed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Paused by an admin, who said why: refused until resumed (the three are set and cleared together).
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    suspended_reason: Mapped[str | None] = mapped_column(OutsideText(SUSPEND_REASON_LENGTH))

    team: Mapped[Team] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    deleted_by: Mapped[User | None] = relationship(foreign_keys=[deleted_by_id])
    suspended_by: Mapped[User | None] = relationship(foreign_keys=[suspended_by_id])
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
    def issue(cls, *, creator: User, name: str, services, expires_on: date | None, pepper: bytes, pepper_id: int = 1,
              allowed_ips: str | None = None, entity_ids: list[int] | None = None,
              rate_limit_per_minute: int | None = None):
        """A new key for the creator's team, and its plaintext, which is never stored: its digest under `pepper`,
        whose id it keeps."""
        plaintext = tokens.generate()
        key = cls(
            team=creator.team,
            created_by=creator,
            name=name,
            services=list(dict.fromkeys(Service(service).value for service in services)),  # each once, in order
            expires_on=expires_on,
            allowed_ips=allowed_ips,
            entity_ids=entity_ids,
            rate_limit_per_minute=rate_limit_per_minute,
            digest=tokens.digest(plaintext, pepper),
            pepper_id=pepper_id,
            hint=tokens.hint(plaintext),
        )
        return key, plaintext

    @property
    def exceeds_policy(self) -> bool:
        """Whether the key, from the day it was created to its expiration date, breaks its team's policy of now."""
        return self.team.key_policy.refusal(self.expires_on, self.team.today(self.created_at)) is not None

    def replacement_expires_on(self, today: date) -> date | None:
        """The expiration date of this key's replacement made `today`: the lifetime it was made with (from the day
        it was created, in the team's zone, to its expiration date; at least a day) counted from today, or none,
        as far as the team's policy allows."""
        lifetime = None if self.expires_on is None else max(self.expires_on - self.team.today(self.created_at),
                                                             timedelta(days=1))
        return self.team.key_policy.nearest_allowed(None if lifetime is None else today + lifetime, today)

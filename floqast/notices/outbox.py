"""Mail to a key's admins: before it expires, when it has expired, when it is revoked, suspended or resumed and when
it rolls itself; to its creator when another admin deletes or rolls it; and to whoever asked for a key, when an admin
approves or denies the request.

A notice is recorded first, one row per recipient (the key's creator and its team's Admins and System Admins),
in the transaction of whatever caused it, and sent afterwards by `flask --app wsgi keys notify` (cron). So no
web request waits on a mail server, and a delivery that fails stays recorded, with why, and goes out on the next
run. One message that cannot be built or sent never stops the others. Messages name a key by its name and hint,
never more of it.
"""

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import render_template
from sqlalchemy import ForeignKey, UniqueConstraint, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, contains_eager, mapped_column, relationship, selectinload

from floqast.accounts.models import Role, Team, User
from floqast.columns import OutsideText, UTCDateTime, str_enum, utcnow
from floqast.events import KeyEvent, announce
from floqast.extensions import db
from floqast.keys.models import EXPIRING_SOON_DAYS, ApiKey
from floqast.keys.requests import ApiKeyRequest
from floqast.notices import mail

# A key that has expired gets its notice from a run within this many days of its expiration date, so that a
# first run, or one after a long pause, does not mail about keys that stopped working long ago.
EXPIRED_NOTICE_DAYS = 7
# The most of why a notice was not sent (a mail server's words, an error's) that is kept.
FAILURE_LENGTH = 1000


class NoticeKind(enum.StrEnum):
    EXPIRES_IN_7_DAYS = "expires_in_7_days"
    EXPIRES_IN_1_DAY = "expires_in_1_day"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REQUEST_APPROVED = "request_approved"
    REQUEST_DENIED = "request_denied"
    DELETED = "deleted"
    ROLLED = "rolled"
    ROLLED_BY_ITSELF = "rolled_by_itself"
    SUSPENDED = "suspended"
    RESUMED = "resumed"

    @property
    def label(self) -> str:
        return {
            "expires_in_7_days": "Expires within 7 days",
            "expires_in_1_day": "Expires within a day",
            "expired": "Has expired",
            "revoked": "Revoked",
            "request_approved": "Key request approved",
            "request_denied": "Key request denied",
            "deleted": "Deleted by another admin",
            "rolled": "Rolled by another admin",
            "rolled_by_itself": "Rolled by itself",
            "suspended": "Suspended",
            "resumed": "Resumed",
        }[self.value]


# Notices of what someone did to the key, sent whatever has happened to it since (the expiry notices are not).
DONE_TO_THE_KEY = frozenset({NoticeKind.REVOKED, NoticeKind.DELETED, NoticeKind.ROLLED, NoticeKind.ROLLED_BY_ITSELF,
                             NoticeKind.SUSPENDED, NoticeKind.RESUMED})


class KeyNotice(db.Model):
    """One notice about a key, or a key request, to one person: recorded once per kind, sent when sent_at is set."""

    __tablename__ = "key_notices"
    __table_args__ = (UniqueConstraint("api_key_id", "kind", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    api_key_request_id: Mapped[int | None] = mapped_column(ForeignKey("api_key_requests.id"), index=True)
    kind: Mapped[NoticeKind] = mapped_column(str_enum(NoticeKind))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Why a revoked key was revoked, to follow "because it was": "reported as leaked", or "found by GitHub secret
    # scanning at <url>" with the URL whole; why a suspended key was suspended, in its admin's words.
    reason: Mapped[str | None] = mapped_column(OutsideText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time it could not be built or sent, and why; the next run tries again. None once sent.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(OutsideText(FAILURE_LENGTH))

    api_key: Mapped[ApiKey | None] = relationship()
    api_key_request: Mapped[ApiKeyRequest | None] = relationship()
    user: Mapped[User] = relationship()

    @classmethod
    def for_key(cls, key: ApiKey) -> list["KeyNotice"]:
        """The key's notices, oldest first, with their recipients (sent_at None: not sent yet)."""
        query = (
            select(cls).where(cls.api_key_id == key.id).options(selectinload(cls.user)).order_by(cls.id)
        )
        return list(db.session.scalars(query))

    @property
    def subject(self) -> str:
        if self.api_key_request is not None:
            verdict = "approved" if self.kind is NoticeKind.REQUEST_APPROVED else "denied"
            return f'Your request for the API key "{self.api_key_request.name}" was {verdict}'
        name = self.api_key.name
        if self.kind in (NoticeKind.REVOKED, NoticeKind.DELETED, NoticeKind.SUSPENDED, NoticeKind.RESUMED):
            return f'API key "{name}" was {self.kind.value}'
        if self.kind in (NoticeKind.ROLLED, NoticeKind.ROLLED_BY_ITSELF):
            return f'API key "{name}" was rolled'
        if self.kind is NoticeKind.EXPIRED:
            return f'API key "{name}" has expired'
        return f'API key "{name}" expires on {self.api_key.expires_on.isoformat()}'

    @property
    def subject_named(self) -> str:
        """What the notice is about, for a delivery failure's line: a key by its hint, a request by its id."""
        if self.api_key is None:
            return f"key request {self.api_key_request_id}"
        return f"key {self.api_key.hint}…"

    @property
    def still_wanted(self) -> bool:
        """Expiry notices only while the key is neither deleted nor rolled (its replacement gets its own); the others
        always."""
        key = self.api_key
        return key is None or self.kind in DONE_TO_THE_KEY or (key.deleted_at is None and key.replaced_by_id is None)


def notify_key_admins(key: ApiKey, kind: NoticeKind, reason: str | None = None) -> bool:
    """Record a notice about the key for its creator and its team's Admins and System Admins, once per kind, in
    the caller's transaction; `flask --app wsgi keys notify` sends it. No mail server is contacted here. Whether
    this recorded the kind for the first time (no run before, nor one at once, had)."""
    return _record(key, kind, select(User.id).where(
        User.team_id == key.team_id, or_(User.role.in_([Role.ADMIN, Role.SYSADMIN]), User.id == key.created_by_id)
    ).order_by(User.id), reason)


def notify_creator(key: ApiKey, kind: NoticeKind, by: User) -> None:
    """Record a notice about what `by` did to the key for the key's creator, unless `by` is the creator, in the
    caller's transaction: a person learns when someone else deletes, rolls or suspends their key."""
    if by.id != key.created_by_id:
        _record(key, kind, select(User.id).where(User.id == key.created_by_id))


def _record(key: ApiKey, kind: NoticeKind, recipients, reason: str | None = None) -> bool:
    """Record a notice of `kind` about the key for each user id `recipients` selects, once per kind and person;
    whether every one of them was recorded now for the first time."""
    rows = [
        dict(api_key_id=key.id, kind=kind, user_id=user_id, reason=reason, created_at=utcnow())
        for user_id in db.session.scalars(recipients)
    ]
    if not rows:
        return False
    # Insert what is not there yet: runs at once record each notice once (the second waits on the first's
    # rows, then skips them), and a person who joined the admins since gets the notice on the next run.
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = db.session.scalars(
        insert(KeyNotice).values(rows).on_conflict_do_nothing(index_elements=["api_key_id", "kind", "user_id"])
        .returning(KeyNotice.id)  # only the rows inserted (rowcount says -1 for this on PostgreSQL)
    ).all()
    return len(inserted) == len(rows)


# The key event each expiry notice announces, with its lead time.
EXPIRY_EVENTS = {
    NoticeKind.EXPIRES_IN_7_DAYS: (KeyEvent.KEY_EXPIRING, {"within_days": EXPIRING_SOON_DAYS}),
    NoticeKind.EXPIRES_IN_1_DAY: (KeyEvent.KEY_EXPIRING, {"within_days": 1}),
    NoticeKind.EXPIRED: (KeyEvent.KEY_EXPIRED, {}),
}


def notify_requester(key_request: ApiKeyRequest, kind: NoticeKind) -> None:
    """Record a notice to the person who asked for the key that their request was approved or denied, in the
    caller's transaction; `flask --app wsgi keys notify` sends it."""
    db.session.add(KeyNotice(api_key_request=key_request, kind=kind, user_id=key_request.requested_by_id))


def due_notice(expires_on: date, today: date) -> NoticeKind | None:
    """The most urgent expiry notice a key expiring on `expires_on` has reached on its team's `today`, if any.

    Only the most urgent: a key first seen a day before it expires gets the one-day notice, not the 7-day one too.
    """
    days_left = (expires_on - today).days
    if days_left < -EXPIRED_NOTICE_DAYS:
        return None
    if days_left < 0:
        return NoticeKind.EXPIRED
    if days_left <= 1:
        return NoticeKind.EXPIRES_IN_1_DAY
    if days_left <= EXPIRING_SOON_DAYS:
        return NoticeKind.EXPIRES_IN_7_DAYS
    return None


def record_expiry_notices() -> None:
    """Record the expiry notices that keys neither deleted nor rolled, of teams with Open API on, have reached, and
    commit."""
    today = utcnow().date()
    # Every team's date is within a day of UTC's: fetch a little more, then decide by the team's own date.
    window = ApiKey.expires_on.between(
        today - timedelta(days=EXPIRED_NOTICE_DAYS + 1), today + timedelta(days=EXPIRING_SOON_DAYS + 1)
    )
    keys = db.session.scalars(
        select(ApiKey).join(ApiKey.team).options(contains_eager(ApiKey.team))
        .where(ApiKey.deleted_at.is_(None), ApiKey.replaced_by_id.is_(None), Team.open_api_enabled, window)
        .order_by(ApiKey.id)  # the same order in every run: runs at once never wait on each other in a cycle
    )
    for key in keys:
        kind = due_notice(key.expires_on, key.team.today())
        if kind is not None and notify_key_admins(key, kind):
            event, lead_time = EXPIRY_EVENTS[kind]
            announce(event, key.team_id, api_key=key, **lead_time)
    db.session.commit()


@dataclass
class Delivery:
    """What one delivery run did."""

    sent: int = 0
    written: list[Path] = field(default_factory=list)  # the outbox files of a demo run
    failures: list[str] = field(default_factory=list)  # why notices wait for the next run


def deliver(transport) -> Delivery:
    """Send every notice not sent yet, each once even when runs overlap. One that cannot be built or sent is
    recorded as failed, with why, and waits for the next run while the others go; an unreachable server ends the
    run."""
    done = Delivery()
    last_id = 0
    while (notice := _claim_next(after=last_id)) is not None:
        last_id = notice.id
        if not notice.still_wanted:
            db.session.delete(notice)
            db.session.commit()
            continue
        named = f"Not sent to {notice.user.email}"
        about = f"{notice.kind.label.lower()} notice about {notice.subject_named}, notice {notice.id}"
        try:
            receipt = transport.send(_message(notice))
        except mail.ServerUnavailable as error:
            db.session.rollback()
            waiting = db.session.scalar(select(func.count()).where(KeyNotice.sent_at.is_(None)))
            done.failures.append(f"Mail server unavailable ({error}); {waiting} notices wait for the next run")
            break
        except Exception as error:  # this message only, whatever stopped it: the others still go
            reason = str(error) if isinstance(error, mail.MessageRefused) else failure_reason(error)
            _record_failure(notice.id, reason)
            done.failures.append(f"{named}: {reason} ({about})")
            continue
        notice.sent_at = utcnow()
        notice.failed_at = notice.failure = None
        db.session.commit()
        done.sent += 1
        if receipt is not None:
            done.written.append(receipt)
    return done


def failure_reason(error: Exception) -> str:
    """Why a message could not be built or sent, in one line."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def _record_failure(notice_id: int, reason: str) -> None:
    """Note on the notice, in a transaction of its own, that it was not sent and why (unless another run has sent
    it meanwhile)."""
    db.session.rollback()  # whatever the failed attempt left half done, and the notice's lock
    db.session.execute(
        update(KeyNotice).where(KeyNotice.id == notice_id, KeyNotice.sent_at.is_(None))
        .values(failed_at=utcnow(), failure=reason)
    )
    db.session.commit()


def _claim_next(after: int) -> KeyNotice | None:
    """The next unsent notice, locked until this transaction ends; on PostgreSQL one that another run holds is
    skipped, and one it sent meanwhile no longer matches (SQLite has no row locks: one run at a time there)."""
    query = (
        select(KeyNotice).where(KeyNotice.sent_at.is_(None), KeyNotice.id > after)
        .order_by(KeyNotice.id).limit(1).with_for_update(skip_locked=True)
    )
    return db.session.scalar(query)


def _message(notice: KeyNotice):
    """The notice as a message to its recipient: paragraphs from the template, a link to the key's page (for a key
    request, to the requester's requests)."""
    if notice.api_key_request is not None:
        key_request, user = notice.api_key_request, notice.user
        text = render_template("mail/key_request_notice.txt", notice=notice, key_request=key_request,
                               team=key_request.team, user=user)
        url = f"{mail.base_url()}/key-requests"
        return mail.compose(user.name, user.email, notice.subject, paragraphs_of(text), "Open your key requests", url)
    key, user = notice.api_key, notice.user
    text = render_template(
        "mail/key_notice.txt", notice=notice, key=key, team=key.team, user=user,
        services=", ".join(service.label for service in key.service_list),
    )
    url = f"{mail.base_url()}/settings/api-keys/{key.id}"
    return mail.compose(user.name, user.email, notice.subject, paragraphs_of(text), "Open the key's page", url)


def paragraphs_of(text: str) -> list[str]:
    """A rendered mail template's paragraphs (blocks between blank lines), each on one line."""
    return [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]

"""The audit trail: keys created, renamed, described, rolled, regenerated and deleted, rolled keys stopped early,
changes to their allowed addresses, keys revoked as leaked, logins, failed logins and logouts, passwords typed again
at Confirm access, refused API authentications, keys of ours sent in a URL, changes to the team's API key policy,
and to its webhook endpoints, and key requests asked for, approved and denied.

One row per event, added to the transaction of the action it records; nothing here commits: the caller (a
view, the API's before_request, a command) commits once per action, so a change and its row are stored
together or not at all. Never a plaintext key or a password: keys by their hint, logins by the email
typed. Events with no team (an unknown email, a key that does not parse or is unknown) have team_id NULL:
the operator sees them in the database; no team admin does.
"""

import enum
from datetime import datetime

from flask import has_request_context, request
from sqlalchemy import ForeignKey, Index, String, insert, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from floqast.accounts.models import User
from floqast.columns import IP_LENGTH, OutsideText, UTCDateTime, str_enum, utcnow
from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.keys.policy import KeyPolicy
from floqast.keys.requests import ApiKeyRequest

PAGE_SIZE = 25


class AuditKind(enum.StrEnum):
    KEY_CREATED = "key_created"
    KEY_DELETED = "key_deleted"
    KEY_ROLLED = "key_rolled"
    ALLOWED_IPS_CHANGED = "allowed_ips_changed"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    API_REFUSED = "api_refused"
    KEY_IN_URL = "key_in_url"
    POLICY_CHANGED = "policy_changed"
    KEY_RENAMED = "key_renamed"
    KEY_DESCRIBED = "key_described"
    KEY_REVOKED_AS_LEAKED = "key_revoked_as_leaked"
    KEY_REGENERATED = "key_regenerated"
    ROLL_ENDED = "roll_ended"
    KEY_ROLLED_BY_ITSELF = "key_rolled_by_itself"
    SELF_ROLL_CHANGED = "self_roll_changed"
    ACCESS_CONFIRMED = "access_confirmed"
    ACCESS_REFUSED = "access_refused"
    WEBHOOK_ADDED = "webhook_added"
    WEBHOOK_DELETED = "webhook_deleted"
    WEBHOOK_DISABLED = "webhook_disabled"
    WEBHOOK_ENABLED = "webhook_enabled"
    WEBHOOK_SECRET_ROLLED = "webhook_secret_rolled"
    WEBHOOK_TESTED = "webhook_tested"
    ENTITIES_CHANGED = "entities_changed"
    RATE_LIMIT_CHANGED = "rate_limit_changed"
    KEY_REQUESTED = "key_requested"
    KEY_REQUEST_APPROVED = "key_request_approved"
    KEY_REQUEST_DENIED = "key_request_denied"
    KEY_SUSPENDED = "key_suspended"
    KEY_RESUMED = "key_resumed"

    @property
    def label(self) -> str:
        return {
            "key_created": "Key created",
            "key_deleted": "Key deleted",
            "key_rolled": "Key rolled",
            "allowed_ips_changed": "Allowed addresses changed",
            "login": "Logged in",
            "login_failed": "Failed login",
            "logout": "Logged out",
            "api_refused": "API request refused",
            "key_in_url": "Key sent in a URL",
            "policy_changed": "Policy changed",
            "key_renamed": "Key renamed",
            "key_described": "Description changed",
            "key_revoked_as_leaked": "Key revoked as leaked",
            "key_regenerated": "Key regenerated",
            "roll_ended": "Old key stopped",
            "key_rolled_by_itself": "Key rolled by itself",
            "self_roll_changed": "Scripts may roll changed",
            "access_confirmed": "Access confirmed",
            "access_refused": "Wrong password at Confirm access",
            "webhook_added": "Webhook endpoint added",
            "webhook_deleted": "Webhook endpoint deleted",
            "webhook_disabled": "Webhook endpoint disabled",
            "webhook_enabled": "Webhook endpoint enabled",
            "webhook_secret_rolled": "Webhook secret rolled",
            "webhook_tested": "Webhook test event sent",
            "entities_changed": "Entities changed",
            "rate_limit_changed": "Rate limit changed",
            "key_requested": "Key requested",
            "key_request_approved": "Key request approved",
            "key_request_denied": "Key request denied",
            "key_suspended": "Key suspended",
            "key_resumed": "Key resumed",
        }[self.value]


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_team_id_created_at", "team_id", "created_at"),
        Index("ix_audit_events_api_key_id_created_at", "api_key_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[AuditKind] = mapped_column(str_enum(AuditKind))
    # Who: the signed-in user, or for a login the email that was typed (known or not).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str | None] = mapped_column(OutsideText(254))
    # Which key: its id when known, and always its hint (never more of the key) and name when known.
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    key_hint: Mapped[str | None] = mapped_column(String(16))
    key_name: Mapped[str | None] = mapped_column(OutsideText(100))
    ip: Mapped[str | None] = mapped_column(OutsideText(IP_LENGTH))
    # Whole: a change's before and after, a refusal's words, why a key was revoked with the URL where it leaked.
    detail: Mapped[str | None] = mapped_column(OutsideText())

    user: Mapped[User | None] = relationship()

    @classmethod
    def for_team(cls, team_id: int, before_id: int | None = None, limit: int = PAGE_SIZE, key_id: int | None = None,
                 kind: AuditKind | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> list["AuditEvent"]:
        """The team's events (only key `key_id`'s, of `kind`, from `since` and before `until` when given), newest
        first, `limit` of them, older than event `before_id` when given."""
        query = (
            select(cls).where(cls.team_id == team_id).options(selectinload(cls.user))
            .order_by(cls.created_at.desc(), cls.id.desc()).limit(limit)
        )
        if key_id is not None:
            query = query.where(cls.api_key_id == key_id)
        if kind is not None:
            query = query.where(cls.kind == kind)
        if since is not None:
            query = query.where(cls.created_at >= since)
        if until is not None:
            query = query.where(cls.created_at < until)
        if before_id is not None:
            anchor = db.session.get(cls, before_id)
            if anchor is None or anchor.team_id != team_id or (key_id is not None and anchor.api_key_id != key_id):
                return []
            query = query.where(
                (cls.created_at < anchor.created_at) | ((cls.created_at == anchor.created_at) & (cls.id < anchor.id))
            )
        return list(db.session.scalars(query))


def client_ip() -> str | None:
    """The client's IP; None for a command run on the server."""
    return request.remote_addr if has_request_context() else None


def key_event(kind: AuditKind, key: ApiKey, user: User | None, detail: str | None = None) -> AuditEvent:
    """A key created, changed, rolled or deleted by `user` (None: by the key itself, from a script), added to the
    session with the change."""
    event = AuditEvent(
        team_id=key.team_id, kind=kind, user_id=user and user.id, email=user and user.email, api_key_id=key.id,
        key_hint=key.hint, key_name=key.name, ip=client_ip(), detail=detail,
    )
    db.session.add(event)
    return event


def request_event(kind: AuditKind, key_request: ApiKeyRequest, user: User, detail: str) -> AuditEvent:
    """A key request asked for, approved or denied by `user`, added to the session with the change; the request
    has no key yet, so it is named by the key name it asks for."""
    event = AuditEvent(
        team_id=key_request.team_id, kind=kind, user_id=user.id, email=user.email, key_name=key_request.name,
        ip=client_ip(), detail=detail,
    )
    db.session.add(event)
    return event


def record_login(email: str, user: User | None, succeeded: bool) -> None:
    """A login or a failed one: the email typed (never the password), the user's team when it is known."""
    _insert(
        team_id=None if user is None else user.team_id,
        kind=AuditKind.LOGIN if succeeded else AuditKind.LOGIN_FAILED,
        user_id=None if user is None else user.id,
        email=email.strip().lower(),
        ip=client_ip(),
    )


def record_logout(user: User) -> None:
    """A user logging out (which ends every session of theirs)."""
    _insert(team_id=user.team_id, kind=AuditKind.LOGOUT, user_id=user.id, email=user.email, ip=client_ip())


def record_access_check(user: User, confirmed: bool, detail: str) -> None:
    """A signed-in user typing their password again before a risky change (`detail` names it): right or wrong."""
    _insert(
        team_id=user.team_id, kind=AuditKind.ACCESS_CONFIRMED if confirmed else AuditKind.ACCESS_REFUSED,
        user_id=user.id, email=user.email, ip=client_ip(), detail=detail,
    )


def record_api_refusal(detail: str, hint: str | None, key: ApiKey | None) -> None:
    """A refused API authentication: the key's hint when it parsed, its team when it is a real key."""
    _insert(
        team_id=None if key is None else key.team_id,
        kind=AuditKind.API_REFUSED,
        api_key_id=None if key is None else key.id,
        key_hint=hint,
        key_name=None if key is None else key.name,
        ip=client_ip(),
        detail=detail,
    )


def record_key_in_url(key: ApiKey, detail: str) -> None:
    """A key of ours in a refused URL, in its team's trail (by its hint, as every key is)."""
    _insert(
        team_id=key.team_id, kind=AuditKind.KEY_IN_URL, api_key_id=key.id, key_hint=key.hint, key_name=key.name,
        ip=client_ip(), detail=detail,
    )


def record_policy_change(user: User, before: KeyPolicy, after: KeyPolicy) -> None:
    """The user's team's API key policy changed from `before` to `after`."""
    _insert(
        team_id=user.team_id, kind=AuditKind.POLICY_CHANGED, user_id=user.id, email=user.email, ip=client_ip(),
        detail=f"Before: {before.describe()}. After: {after.describe()}.",
    )


def record_revoked_as_leaked(key: ApiKey, reason: str, ip: str | None) -> None:
    """A key of ours revoked because someone reported it as leaked: who reported it is only an IP address."""
    _insert(
        team_id=key.team_id, kind=AuditKind.KEY_REVOKED_AS_LEAKED, api_key_id=key.id, key_hint=key.hint,
        key_name=key.name, ip=ip, detail=reason,
    )


def record_webhook_change(kind: AuditKind, team_id: int, user: User | None, detail: str) -> None:
    """A change to one of the team's webhook endpoints, by `user` (None: by the service, as for an endpoint disabled
    after a day of failures); `detail` names the endpoint by its URL."""
    _insert(team_id=team_id, kind=kind, user_id=None if user is None else user.id,
            email=None if user is None else user.email, ip=client_ip(), detail=detail)


def _insert(**values) -> None:
    """One INSERT in the session's transaction, without building an ORM object."""
    db.session.execute(insert(AuditEvent).values(created_at=utcnow(), **values))

"""Webhook endpoints, the messages written for them (the outbox) and each attempt to send one. No query here but
the ones a model answers about itself: floqast/webhooks/actions.py changes endpoints, delivery.py sends."""

import enum
from datetime import datetime, timedelta

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from floqast.accounts.models import Team, User
from floqast.columns import OutsideText, UTCDateTime, str_enum, utcnow
from floqast.events import KeyEvent
from floqast.extensions import db
from floqast.keys.models import DESCRIPTION_LENGTH

URL_LENGTH = 2000
# What is kept of a receiver's answer, or of why it could not be reached.
ANSWER_LENGTH = 1000
# The recent deliveries an endpoint shows on the Webhooks page.
RECENT_DELIVERIES = 10
# A message is tried for a day from when it was written, then given up.
RETRY_FOR = timedelta(hours=24)


class DisabledBecause(enum.StrEnum):
    ADMIN = "admin"
    FAILING = "failing"


class WebhookEndpoint(db.Model):
    """A team's receiver of key events: its URL, the events it wants, and its signing secret, kept encrypted under
    the app's SECRET_KEY because the sender signs with it (Standard Webhooks); the previous one signs too until
    previous_secret_until, so that a receiver can switch over."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    # The Webhooks form checks the length as a key's description form does; NUL is made U+FFFD on the way in.
    description: Mapped[str | None] = mapped_column(OutsideText(DESCRIPTION_LENGTH))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(Text)  # Fernet token of the whsec_ secret
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_because: Mapped[DisabledBecause | None] = mapped_column(str_enum(DisabledBecause))
    # Since when every attempt failed (None after any success): a day of it disables the endpoint.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The admins' mail about an endpoint disabled for failing, recorded with it and sent by `webhooks deliver`.
    disabled_notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team] = relationship()
    created_by: Mapped[User] = relationship()

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    @property
    def event_list(self) -> list[KeyEvent]:
        return [event for event in KeyEvent if event.value in self.events]

    def wants(self, event: KeyEvent) -> bool:
        return self.enabled and self.deleted_at is None and event.value in self.events

    def recent_attempts(self, limit: int = RECENT_DELIVERIES) -> list["WebhookAttempt"]:
        """The endpoint's latest attempts, newest first, with their messages."""
        query = (select(WebhookAttempt).where(WebhookAttempt.endpoint_id == self.id)
                 .options(joinedload(WebhookAttempt.message)).order_by(WebhookAttempt.id.desc()).limit(limit))
        return list(db.session.scalars(query))


class WebhookMessage(db.Model):
    """One event for one endpoint, written in the transaction of the action that caused it, sent by `webhooks
    deliver` until the endpoint answers 2xx, retried with backoff for a day."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index("ix_webhook_messages_pending", "delivered_at", "given_up_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    # The webhook-id header, the same on every attempt, so that a receiver can drop a message it already has.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the JSON payload, as sent and signed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    given_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship()


class WebhookAttempt(db.Model):
    """One try at sending a message: when, the receiver's status code (None when none came) and what it said."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("webhook_messages.id"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(default=False)
    answer: Mapped[str | None] = mapped_column(OutsideText(ANSWER_LENGTH))

    message: Mapped[WebhookMessage] = relationship()

"""Sending the outbox: each message due, to its endpoint's checked address, signed; a failed one again after
BACKOFF, for a day from when it was written; an endpoint that failed every attempt for a day disabled, and its
team's admins told by mail."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import select

from floqast import columns
from floqast.accounts.models import Role, User
from floqast.extensions import db
from floqast.notices import mail
from floqast.webhooks import actions, sender, signing
from floqast.webhooks.addresses import TargetRefused, resolve
from floqast.webhooks.models import (
    ANSWER_LENGTH,
    RETRY_FOR,
    DisabledBecause,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)

# After the nth failed attempt, the next comes BACKOFF[n - 1] later (the last delay for any later one), as Standard
# Webhooks suggests; never later than RETRY_FOR after the message was written, when a last attempt is made.
BACKOFF = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=5),
           timedelta(hours=10))
# An endpoint whose every attempt failed for this long is disabled.
FAILING_FOR = timedelta(hours=24)


@dataclass
class Run:
    """What one delivery run did."""

    delivered: int = 0
    failed: int = 0
    disabled: list[WebhookEndpoint] = field(default_factory=list)
    notices_sent: int = 0
    problems: list[str] = field(default_factory=list)  # why admins' notices wait for the next run


def next_attempt(message: WebhookMessage, now: datetime) -> datetime | None:
    """When a message that just failed its `attempts`th attempt is tried again; None when its day is over."""
    last_chance = message.created_at + RETRY_FOR
    if now >= last_chance:
        return None
    return min(now + BACKOFF[min(message.attempts, len(BACKOFF)) - 1], last_chance)


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The endpoint's secret, and its previous one while that still signs."""
    kept = [endpoint.secret]
    if endpoint.previous_secret is not None and endpoint.previous_secret_until > now:
        kept.append(endpoint.previous_secret)
    return [signing.unseal(sealed) for sealed in kept]


def attempt(message: WebhookMessage) -> WebhookAttempt:
    """Try to send the message now, and record how it went on it, its attempt and its endpoint, for the caller to
    commit: its address checked first (a refused one is a failed attempt saying why)."""
    endpoint = message.endpoint
    now = columns.utcnow()
    try:
        target = resolve(endpoint.url, current_app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"])
    except TargetRefused as refused:
        answer = sender.Answer(None, f"Not sent: {refused}")
    else:
        answer = sender.post(target, signing.headers(signing_secrets(endpoint, now), message.message_id, now,
                                                     message.body), message.body)
    message.attempts += 1
    tried = WebhookAttempt(message=message, endpoint_id=endpoint.id, attempt=message.attempts, at=now,
                           status_code=answer.status_code, succeeded=answer.succeeded,
                           answer=answer.text[:ANSWER_LENGTH] or None)
    db.session.add(tried)
    if answer.succeeded:
        message.delivered_at = now
        endpoint.failing_since = None
        return tried
    retry_at = next_attempt(message, now)
    if retry_at is None:
        message.given_up_at = now
    else:
        message.next_attempt_at = retry_at
    endpoint.failing_since = endpoint.failing_since or now
    if now - endpoint.failing_since >= FAILING_FOR:
        actions.disable(endpoint, None, DisabledBecause.FAILING)
    return tried


def _claim_next(after: int, now: datetime) -> WebhookMessage | None:
    """The next message due to an endpoint that is on, locked until this transaction ends; on PostgreSQL one that
    another run holds is skipped (SQLite has no row locks: one run at a time there)."""
    query = (
        select(WebhookMessage).join(WebhookMessage.endpoint)
        .where(WebhookMessage.id > after, WebhookMessage.delivered_at.is_(None), WebhookMessage.given_up_at.is_(None),
               WebhookMessage.next_attempt_at <= now, WebhookEndpoint.disabled_at.is_(None),
               WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookMessage.id).limit(1).with_for_update(skip_locked=True, of=WebhookMessage)
    )
    return db.session.scalar(query)


def deliver() -> Run:
    """Send every message that is due, each in a transaction of its own, once even when runs overlap."""
    run = Run()
    last_id = 0
    started = columns.utcnow()
    while (message := _claim_next(last_id, started)) is not None:
        last_id = message.id
        endpoint = message.endpoint
        db.session.refresh(endpoint, with_for_update=True)  # its failure count, as other runs left it
        if not endpoint.enabled:  # disabled by another message of this run or another run
            db.session.commit()
            continue
        tried = attempt(message)
        if tried.succeeded:
            run.delivered += 1
        else:
            run.failed += 1
        if not endpoint.enabled:
            run.disabled.append(endpoint)
        db.session.commit()
    return run


def admins(team_id: int) -> list[User]:
    return list(db.session.scalars(select(User).where(User.team_id == team_id, User.role.in_(
        [Role.ADMIN, Role.SYSADMIN])).order_by(User.id)))


def endpoints_to_tell() -> list[WebhookEndpoint]:
    """Endpoints disabled for failing whose admins were not told yet."""
    return list(db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.disabled_because == DisabledBecause.FAILING,
        WebhookEndpoint.disabled_notice_sent_at.is_(None), WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.id)))


def tell_admins(transport, run: Run) -> None:
    """Mail each team's Admins and System Admins about its endpoints disabled for failing; one that could not go
    waits for the next run."""
    for endpoint in endpoints_to_tell():
        last = endpoint.recent_attempts(1)
        sent_to_all = True
        for user in admins(endpoint.team_id):
            text = render_template("mail/webhook_disabled.txt", endpoint=endpoint, user=user,
                                   last=last[0] if last else None)
            paragraphs = [" ".join(block.split()) for block in text.split("\n\n") if block.strip()]
            try:
                transport.send(mail.compose(user.name, user.email, "A webhook endpoint was disabled", paragraphs,
                                            "Open the Webhooks page", f"{mail.base_url()}/settings/webhooks"))
            except mail.ServerUnavailable as error:
                run.problems.append(f"Mail server unavailable ({error}); notices wait for the next run")
                return
            except mail.MessageRefused as error:
                run.problems.append(f"Not sent to {user.email}: {error} (webhook endpoint {endpoint.id} disabled)")
                sent_to_all = False
        if sent_to_all:
            endpoint.disabled_notice_sent_at = columns.utcnow()
            db.session.commit()
            run.notices_sent += 1

"""Adding, disabling, enabling, deleting a team's webhook endpoint, rolling its secret and sending it a test event,
each with its audit event. Nothing here commits: the caller commits once, the change and its audit row together."""

from datetime import timedelta

from sqlalchemy import update

from floqast import columns
from floqast.accounts.models import User
from floqast.audit import events as audit
from floqast.audit.events import AuditKind
from floqast.extensions import db
from floqast.webhooks import outbox, signing
from floqast.webhooks.models import RETRY_FOR, DisabledBecause, WebhookEndpoint, WebhookMessage

# How long the previous secret still signs beside a rolled one, for receivers to switch over.
PREVIOUS_SECRET_KEPT = timedelta(hours=24)


def give_up(endpoint: WebhookEndpoint, *conditions) -> None:
    """Stop trying the endpoint's messages not sent yet (those matching `conditions`)."""
    db.session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint.id, WebhookMessage.delivered_at.is_(None),
               WebhookMessage.given_up_at.is_(None), *conditions)
        .values(given_up_at=columns.utcnow())
    )


def described(endpoint: WebhookEndpoint) -> str:
    return f"{endpoint.url}" + (f" ({endpoint.description})" if endpoint.description else "")


def add_endpoint(by: User, url: str, events: list[str], description: str | None) -> tuple[WebhookEndpoint, str]:
    """A new endpoint of the user's team and its signing secret (shown once; kept only encrypted)."""
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(team_id=by.team_id, url=url, events=events, description=description,
                               secret=signing.seal(secret), created_by_id=by.id)
    db.session.add(endpoint)
    db.session.flush()
    audit.record_webhook_change(AuditKind.WEBHOOK_ADDED, by.team_id, by,
                                f"{described(endpoint)}; events: {', '.join(events)}.")
    return endpoint, secret


def disable(endpoint: WebhookEndpoint, by: User | None, because: DisabledBecause = DisabledBecause.ADMIN) -> bool:
    """Stop sending to the endpoint (its messages wait, for a day, for it to be enabled again); False when it was
    disabled already."""
    if not endpoint.enabled:
        return False
    endpoint.disabled_at, endpoint.disabled_because = columns.utcnow(), because
    detail = described(endpoint)
    if because is DisabledBecause.FAILING:
        detail += "; every attempt failed for 24 hours."
    audit.record_webhook_change(AuditKind.WEBHOOK_DISABLED, endpoint.team_id, by, detail)
    return True


def enable(endpoint: WebhookEndpoint, by: User) -> bool:
    """Send to the endpoint again, its day of failures counted afresh, with the messages of the last day that did
    not reach it (older ones are given up); False when it was enabled already."""
    if endpoint.enabled:
        return False
    give_up(endpoint, WebhookMessage.created_at < columns.utcnow() - RETRY_FOR)
    endpoint.disabled_at = endpoint.disabled_because = endpoint.failing_since = None
    endpoint.disabled_notice_sent_at = None
    audit.record_webhook_change(AuditKind.WEBHOOK_ENABLED, endpoint.team_id, by, described(endpoint))
    return True


def delete(endpoint: WebhookEndpoint, by: User) -> None:
    """Delete the endpoint: nothing more is sent to it, and its messages not sent yet are dropped."""
    endpoint.deleted_at = columns.utcnow()
    give_up(endpoint)
    audit.record_webhook_change(AuditKind.WEBHOOK_DELETED, endpoint.team_id, by, described(endpoint))


def roll_secret(endpoint: WebhookEndpoint, by: User) -> str:
    """A new signing secret (shown once); the previous one signs too for PREVIOUS_SECRET_KEPT."""
    secret = signing.new_secret()
    endpoint.previous_secret, endpoint.secret = endpoint.secret, signing.seal(secret)
    endpoint.previous_secret_until = columns.utcnow() + PREVIOUS_SECRET_KEPT
    audit.record_webhook_change(AuditKind.WEBHOOK_SECRET_ROLLED, endpoint.team_id, by,
                                f"{described(endpoint)}; the previous secret signs too for 24 hours.")
    return secret


def send_test(endpoint: WebhookEndpoint, by: User) -> WebhookMessage:
    """A test event for the endpoint, written to the outbox (the caller commits, then may send it at once)."""
    message = outbox.write_test(endpoint, by)
    audit.record_webhook_change(AuditKind.WEBHOOK_TESTED, endpoint.team_id, by, described(endpoint))
    return message

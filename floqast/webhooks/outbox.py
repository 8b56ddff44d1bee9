"""Messages written for the endpoints that want an event, in the transaction of the action that announced it
(floqast/events.py), for `webhooks deliver` to send: an action rolled back sends nothing."""

import secrets

from sqlalchemy import select

from floqast.events import KeyEvent
from floqast.extensions import db
from floqast.webhooks import payloads
from floqast.webhooks.models import WebhookEndpoint, WebhookMessage


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def write(endpoint: WebhookEndpoint, event: str, body: str) -> WebhookMessage:
    """A message for one endpoint, added to the caller's transaction."""
    message = WebhookMessage(endpoint=endpoint, message_id=new_message_id(), event=event, body=body)
    db.session.add(message)
    return message


def on_announced(event: KeyEvent, team_id: int, **subjects) -> None:
    """The listener of floqast.events.announced: a message for each of the team's endpoints that wants the event."""
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.team_id == team_id, WebhookEndpoint.disabled_at.is_(None),
                                      WebhookEndpoint.deleted_at.is_(None)).order_by(WebhookEndpoint.id)
    )
    wanting = [endpoint for endpoint in endpoints if endpoint.wants(event)]
    if wanting:
        body = payloads.body(event, subjects)
        for endpoint in wanting:
            write(endpoint, event.value, body)


def write_test(endpoint: WebhookEndpoint, by) -> WebhookMessage:
    """The test event of Send test event, for one endpoint, whatever events it wants."""
    body = payloads.body(payloads.TEST_EVENT, {"endpoint_id": str(endpoint.id), "sent_by": by.name})
    return write(endpoint, payloads.TEST_EVENT, body)

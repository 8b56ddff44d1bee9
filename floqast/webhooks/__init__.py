"""Signed webhooks: a team's endpoints get its key events (floqast/events.py) as Standard Webhooks messages, written
to an outbox in the action's transaction and sent by `flask --app wsgi webhooks deliver`."""

from floqast import events
from floqast.webhooks import outbox


def init_app(app) -> None:
    """Write a message for every key event an endpoint wants (the signal is the process's: connected once)."""
    events.announced.connect(outbox.on_announced)

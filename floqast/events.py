"""What happened to a team's keys and key requests, announced by the action that did it inside its transaction, for
whoever listens (the webhooks package connects in its init_app), so no domain imports its listeners."""

import enum

from blinker import Namespace

_signals = Namespace()
announced = _signals.signal("announced")


class KeyEvent(enum.StrEnum):
    KEY_CREATED = "api_key.created"
    KEY_ROLLED = "api_key.rolled"
    KEY_DELETED = "api_key.deleted"
    KEY_EXPIRING = "api_key.expiring"
    KEY_EXPIRED = "api_key.expired"
    KEY_REVOKED = "api_key.revoked"
    KEY_EXPOSED = "api_key.exposed"
    KEY_SUSPENDED = "api_key.suspended"
    KEY_RESUMED = "api_key.resumed"
    REQUEST_CREATED = "api_key_request.created"
    REQUEST_APPROVED = "api_key_request.approved"
    REQUEST_DENIED = "api_key_request.denied"


def announce(event: KeyEvent, team_id: int, **subjects) -> None:
    """Tell the listeners that `event` happened to the team's `subjects` (api_key=, api_key_request=, and any detail
    such as days_left=), in the caller's transaction: nothing here commits."""
    announced.send(event, team_id=team_id, **subjects)

"""What a webhook says: {"type", "timestamp", "data"} as Standard Webhooks suggests, the key or key request named by
id, name and hint with a link to its page, never the key itself."""

import json
from datetime import date, datetime

from floqast.columns import utcnow
from floqast.events import KeyEvent
from floqast.notices.mail import base_url

# The test event, which no action announces.
TEST_EVENT = "webhook.test"


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def key_data(key) -> dict:
    """A key (an ApiKey or a pull's CheckedKey) as a payload names it."""
    expires_at = key.expires_at
    return {
        "id": str(key.id),
        "name": key.name,
        "hint": key.hint,
        "teamId": str(key.team_id),
        "status": key.status(key.team.today()).label,
        "services": list(key.services),
        "expiresAt": None if expires_at is None else timestamp(expires_at),
        "url": f"{base_url()}/settings/api-keys/{key.id}",
    }


def request_data(key_request) -> dict:
    """A key request as a payload names it: its id, its requester's name, its state, a link to it."""
    requester = getattr(key_request, "requester", None)
    state = getattr(key_request, "state", None) or getattr(key_request, "status", None)
    return {
        "id": str(key_request.id),
        "teamId": str(key_request.team_id),
        "requester": None if requester is None else requester.name,
        "state": None if state is None else str(state),
        "url": f"{base_url()}/settings/api-key-requests/{key_request.id}",
    }


def detail(value):
    """A detail given with an event (days_left=7, reason=...) as JSON holds it."""
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def data(subjects: dict) -> dict:
    """The payload's data: the key (and its replacement, once rolled) or the key request, and the details."""
    shown = {}
    for name, value in subjects.items():
        if name == "api_key":
            shown["apiKey"] = key_data(value)
            replacement = getattr(value, "replaced_by", None)
            if replacement is not None:
                shown["replacedBy"] = key_data(replacement)
        elif name == "api_key_request":
            shown["apiKeyRequest"] = request_data(value)
        else:
            shown[camel(name)] = detail(value)
    return shown


def body(event: KeyEvent | str, subjects: dict) -> str:
    """The JSON text of a message, as sent and signed."""
    return json.dumps({"type": str(event), "timestamp": timestamp(utcnow()), "data": data(subjects)},
                      separators=(",", ":"), ensure_ascii=False)

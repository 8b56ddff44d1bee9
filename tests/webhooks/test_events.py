"""Which actions write which webhook: each key event the existing actions announce (created, rolled, deleted,
revoked as leaked, seen in a URL, expiring with its lead time, expired), once, and every KeyEvent with the subject
it names (a key, or a key request), never a key's plaintext."""

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast.events import KeyEvent, announce
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import Service
from floqast.notices import outbox as notices
from floqast.webhooks import actions as webhook_actions
from floqast.webhooks.models import WebhookMessage
from helpers import ME


@pytest.fixture
def endpoint(admin):
    endpoint, _ = webhook_actions.add_endpoint(admin, "https://hooks.example.com/floqast",
                                               [event.value for event in KeyEvent], None)
    db.session.commit()
    return endpoint


def written() -> list[dict]:
    """The payloads in the outbox, oldest first."""
    return [json.loads(body) for body in db.session.scalars(select(WebhookMessage.body).order_by(WebhookMessage.id))]


def test_a_key_seen_in_a_url_is_announced_the_first_time(endpoint, admin, make_key, api_get):
    key, plaintext = make_key(admin)
    api_get(f"{ME}?api_key={plaintext}")
    api_get(f"{ME}?api_key={plaintext}")
    [payload] = written()
    assert payload["type"] == "api_key.exposed" and payload["data"]["apiKey"]["hint"] == key.hint
    assert plaintext not in json.dumps(payload)


def test_a_key_reported_as_leaked_is_announced_as_revoked(endpoint, admin, make_key, client):
    key, plaintext = make_key(admin)
    assert client.post("/api/v1/credentials/revoke", json={"credentials": [plaintext]}).status_code == 202
    [payload] = written()
    assert payload["type"] == "api_key.revoked"
    assert payload["data"]["apiKey"]["status"] == "Deactivated"
    assert payload["data"]["reason"] == "reported as leaked"
    assert plaintext not in json.dumps(payload)


@pytest.mark.parametrize(("days_left", "event", "within"), [
    (5, "api_key.expiring", 7), (1, "api_key.expiring", 1), (-1, "api_key.expired", None)])
def test_expiry_notices_are_announced_once_with_their_lead_time(endpoint, admin, team, make_key, days_left, event,
                                                                 within):
    make_key(admin, expires_on=team.today() + timedelta(days=days_left))
    notices.record_expiry_notices()
    notices.record_expiry_notices()  # the next hourly run: nothing new
    [payload] = written()
    assert payload["type"] == event
    assert payload["data"].get("withinDays") == within


def test_create_roll_regenerate_and_delete_are_announced(endpoint, admin, team, make_key):
    key, _ = actions.create_key(admin, "Power BI", list(Service), None)
    replacement, _ = actions.roll_key(key, admin, timedelta(0), None)
    lapsed, _ = make_key(admin, name="Lapsed", expires_on=team.today() - timedelta(days=30))
    regenerated, _ = actions.regenerate_key(lapsed, admin, None)
    actions.deactivate_key(replacement, admin)
    db.session.commit()
    assert [(payload["type"], payload["data"]["apiKey"]["id"]) for payload in written()] == [
        ("api_key.created", str(key.id)), ("api_key.rolled", str(key.id)), ("api_key.created", str(replacement.id)),
        ("api_key.created", str(regenerated.id)), ("api_key.deleted", str(replacement.id))]


@dataclass
class Requester:
    name: str


@dataclass
class KeyRequest:
    """What a key request holds for its webhook (the requests package's model has these fields)."""

    id: int
    team_id: int
    requester: Requester
    state: str


@pytest.mark.parametrize("event", list(KeyEvent))
def test_every_key_event_names_its_subject(endpoint, admin, make_key, event):
    key, plaintext = make_key(admin)
    if event.value.startswith("api_key_request."):
        announce(event, admin.team_id, api_key_request=KeyRequest(9, admin.team_id, Requester("Mo Manager"), "pending"))
        expected = {"apiKeyRequest": {"id": "9", "teamId": str(admin.team_id), "requester": "Mo Manager",
                                      "state": "pending", "url": "http://127.0.0.1:5000/settings/api-key-requests/9"}}
    else:
        announce(event, admin.team_id, api_key=key)
        expected = {"apiKey": {"id": str(key.id), "name": "Power BI", "hint": key.hint, "teamId": str(admin.team_id),
                               "status": "Active", "services": ["reconciliations", "checklists"], "expiresAt": None,
                               "url": f"http://127.0.0.1:5000/settings/api-keys/{key.id}"}}
    db.session.commit()
    [payload] = written()
    assert payload["type"] == event.value and payload["data"] == expected
    assert plaintext not in json.dumps(payload)


def test_a_disabled_or_deleted_endpoint_gets_nothing(endpoint, admin):
    webhook_actions.disable(endpoint, admin)
    actions.create_key(admin, "While disabled", list(Service), None)
    webhook_actions.enable(endpoint, admin)
    webhook_actions.delete(endpoint, admin)
    actions.create_key(admin, "After delete", list(Service), None)
    db.session.commit()
    assert written() == []

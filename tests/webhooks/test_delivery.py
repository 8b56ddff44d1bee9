"""Webhooks sent by `flask --app wsgi webhooks deliver` to a receiver the tests run on 127.0.0.1: Standard Webhooks
signatures checked with the `standardwebhooks` package, retries after a 500 with backoff, an endpoint disabled
after a day of failures with mail to its admins, and no request to a loopback or private address without
WEBHOOK_ALLOW_PRIVATE_ADDRESSES."""

import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.events import KeyEvent
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import Service
from floqast.webhooks import actions as webhook_actions
from floqast.webhooks.models import DisabledBecause, WebhookAttempt, WebhookEndpoint, WebhookMessage
from helpers import WebhookReceiver, freeze


@pytest.fixture
def private_allowed(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = True


@pytest.fixture
def receiver(private_allowed):
    with WebhookReceiver() as running:
        yield running


def add_endpoint(admin, url, events=tuple(KeyEvent)) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = webhook_actions.add_endpoint(admin, url, [event.value for event in events], "Slack relay")
    db.session.commit()
    return endpoint, secret


def deliver(runner):
    result = runner.invoke(args=["webhooks", "deliver"])
    assert result.exit_code == 0, result.output
    return result


def verified(secret: str, request) -> dict:
    """The payload of a received request once its signature checks out under `secret`, as a receiver checks it."""
    _, headers, body = request
    return Webhook(secret).verify(body, headers)


def test_a_created_key_reaches_the_endpoint_signed_and_without_the_key(admin, receiver, runner):
    endpoint, secret = add_endpoint(admin, receiver.url)
    key, plaintext = actions.create_key(admin, "Power BI", [Service.RECONCILIATIONS], None)
    db.session.commit()

    result = deliver(runner)

    assert "Delivered 1" in result.output
    [request] = receiver.requests
    payload = verified(secret, request)
    assert payload["type"] == "api_key.created"
    assert payload["data"]["apiKey"] == {
        "id": str(key.id), "name": "Power BI", "hint": key.hint, "teamId": str(admin.team_id), "status": "Active",
        "services": ["reconciliations"], "expiresAt": None, "url": f"http://127.0.0.1:5000/settings/api-keys/{key.id}",
    }
    assert plaintext not in request[2].decode() and plaintext[len(key.hint):] not in request[2].decode()
    assert request[1]["webhook-id"].startswith("msg_")
    assert request[1]["Content-Type"] == "application/json"
    attempt = db.session.scalar(select(WebhookAttempt))
    assert (attempt.attempt, attempt.status_code, attempt.succeeded) == (1, 200, True)
    assert "Delivered 0" in deliver(runner).output  # sent once
    assert len(receiver.requests) == 1


def test_a_wrong_secret_does_not_verify(admin, receiver, runner):
    add_endpoint(admin, receiver.url)
    other = webhook_actions.add_endpoint(admin, "https://hooks.example.com/x", ["api_key.deleted"], None)[1]
    actions.create_key(admin, "Power BI", list(Service), None)
    db.session.commit()
    deliver(runner)
    with pytest.raises(WebhookVerificationError):
        verified(other, receiver.requests[0])


def test_only_the_events_an_endpoint_wants_of_its_own_team(admin, receiver, runner, make_team, make_user):
    add_endpoint(admin, receiver.url, [KeyEvent.KEY_DELETED])
    other_admin = make_user(make_team("Globex"), Role.ADMIN)
    actions.create_key(other_admin, "Globex key", list(Service), None)
    key, _ = actions.create_key(admin, "Power BI", list(Service), None)
    db.session.commit()
    actions.deactivate_key(key, admin)
    db.session.commit()

    deliver(runner)

    assert [json.loads(body)["type"] for _, _, body in receiver.requests] == ["api_key.deleted"]


def test_an_action_rolled_back_sends_nothing(admin, receiver, runner):
    add_endpoint(admin, receiver.url)
    actions.create_key(admin, "Power BI", list(Service), None)
    db.session.rollback()
    assert db.session.scalar(select(WebhookMessage)) is None
    deliver(runner)
    assert receiver.requests == []


def test_a_roll_names_the_old_key_and_its_replacement(admin, make_key, receiver, runner):
    key, _ = make_key(admin)
    _, secret = add_endpoint(admin, receiver.url, [KeyEvent.KEY_ROLLED])
    replacement, plaintext = actions.roll_key(key, admin, timedelta(hours=1), None)
    db.session.commit()
    deliver(runner)
    payload = verified(secret, receiver.requests[0])
    assert payload["type"] == "api_key.rolled"
    assert payload["data"]["apiKey"]["id"] == str(key.id)
    assert payload["data"]["replacedBy"]["hint"] == replacement.hint
    assert payload["data"]["overlapSeconds"] == 3600
    assert plaintext not in receiver.requests[0][2].decode()


def test_a_500_is_tried_again_after_the_backoff_with_the_same_id(admin, private_allowed, runner, monkeypatch):
    with WebhookReceiver((500, {}, b"down"), (200, {}, b"ok")) as receiver:
        _, secret = add_endpoint(admin, receiver.url)
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()

        assert "failed 1" in deliver(runner).output
        assert "Delivered 0, failed 0" in deliver(runner).output  # not due yet: the backoff holds it
        message = db.session.scalar(select(WebhookMessage))
        assert message.next_attempt_at > utcnow()
        freeze(monkeypatch, message.next_attempt_at + timedelta(seconds=1))
        assert "Delivered 1" in deliver(runner).output

    first, second = receiver.requests
    assert first[1]["webhook-id"] == second[1]["webhook-id"]
    assert verified(secret, second)["type"] == "api_key.created"
    attempts = db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
    assert [(a.attempt, a.status_code, a.succeeded, a.answer) for a in attempts] == [
        (1, 500, False, "down"), (2, 200, True, "ok")]
    assert db.session.get(WebhookEndpoint, 1).failing_since is None


def test_backoff_grows_and_ends_after_a_day(admin, private_allowed, runner, monkeypatch):
    with WebhookReceiver((503, {}, b"")) as receiver:
        add_endpoint(admin, receiver.url)
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        message = db.session.scalar(select(WebhookMessage))
        delays, now = [], utcnow()
        while message.given_up_at is None:
            freeze(monkeypatch, now)
            deliver(runner)
            db.session.refresh(message)
            delays.append(message.next_attempt_at - now)
            now = message.next_attempt_at
    assert delays[:6] == [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                          timedelta(hours=5), timedelta(hours=10)]
    assert message.attempts == len(receiver.requests) == 8  # the last at the end of its day
    assert message.given_up_at - message.created_at >= timedelta(hours=24)


def test_a_day_of_failures_disables_the_endpoint_and_mails_the_admins(admin, make_user, team, private_allowed,
                                                                       runner, monkeypatch, mail_server):
    manager = make_user(team, Role.MANAGER)
    with WebhookReceiver((500, {}, b"Internal error")) as receiver:
        endpoint, _ = add_endpoint(admin, receiver.url)
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        deliver(runner)
        freeze(monkeypatch, utcnow() + timedelta(hours=24, minutes=1))
        result = runner.invoke(args=["webhooks", "deliver"])

    assert result.exit_code == 0, result.output
    assert f"Disabled webhook endpoint {endpoint.id}" in result.output
    db.session.refresh(endpoint)
    assert endpoint.disabled_because is DisabledBecause.FAILING
    [(recipients, message)] = mail_server.received
    assert recipients == [admin.email] and manager.email not in recipients
    assert message["Subject"] == "A webhook endpoint was disabled"
    assert receiver.url in message.get_body(("plain",)).get_content()
    assert "https://keys.example.com/settings/webhooks" in message.get_body(("plain",)).get_content()
    disabled = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == AuditKind.WEBHOOK_DISABLED))
    assert disabled.user_id is None and receiver.url in disabled.detail
    runner.invoke(args=["webhooks", "deliver"])
    assert len(mail_server.received) == 1  # told once


def test_no_redirect_is_followed(admin, private_allowed, runner):
    with WebhookReceiver((302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")) as receiver:
        add_endpoint(admin, receiver.url)
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        deliver(runner)
    assert len(receiver.requests) == 1
    attempt = db.session.scalar(select(WebhookAttempt))
    assert (attempt.status_code, attempt.succeeded) == (302, False)


def test_a_huge_answer_is_cut_off(admin, private_allowed, runner):
    with WebhookReceiver((200, {}, b"x" * 5_000_000)) as receiver:
        add_endpoint(admin, receiver.url)
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        deliver(runner)
    attempt = db.session.scalar(select(WebhookAttempt))
    assert attempt.succeeded and len(attempt.answer) == 1000


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_is_refused_without_the_setting(admin, runner, host):
    with WebhookReceiver() as receiver:
        add_endpoint(admin, f"https://{host}:{receiver.server.server_port}/hooks")  # as if saved before the rule
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        deliver(runner)
    assert receiver.requests == []
    attempt = db.session.scalar(select(WebhookAttempt))
    assert attempt.status_code is None and "not a public address" in attempt.answer


def test_a_name_that_resolves_to_loopback_is_refused(admin, runner, monkeypatch):
    resolved = []

    def to_loopback(host, port, *args, **kwargs):
        resolved.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", to_loopback)
    with WebhookReceiver() as receiver:
        endpoint, _ = add_endpoint(admin, f"https://hooks.example.com:{receiver.server.server_port}/hooks")
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        deliver(runner)
    assert resolved == ["hooks.example.com"] and receiver.requests == []
    assert "hooks.example.com resolves to 127.0.0.1, which is not a public address" in db.session.scalar(
        select(WebhookAttempt.answer))


def test_plain_http_is_refused_without_the_setting(admin, runner):
    with WebhookReceiver() as receiver:
        add_endpoint(admin, receiver.url)
        actions.create_key(admin, "Power BI", list(Service), None)
        db.session.commit()
        deliver(runner)
    assert receiver.requests == []
    assert "Enter an https:// URL" in db.session.scalar(select(WebhookAttempt.answer))


def test_a_rolled_secret_signs_beside_the_previous_one_for_a_day(admin, receiver, runner, make_key, monkeypatch):
    endpoint, old_secret = add_endpoint(admin, receiver.url)
    new_secret = webhook_actions.roll_secret(endpoint, admin)
    db.session.commit()
    assert old_secret not in endpoint.secret and new_secret not in endpoint.secret  # stored encrypted
    make_key(admin)
    actions.create_key(admin, "Today", list(Service), None)
    db.session.commit()
    deliver(runner)
    assert verified(old_secret, receiver.requests[0]) == verified(new_secret, receiver.requests[0])

    actions.create_key(admin, "Two days on", list(Service), None)
    db.session.commit()
    freeze(monkeypatch, utcnow() + timedelta(hours=25))
    deliver(runner)
    _, headers, body = receiver.requests[1]
    # Signed a day on (by the frozen clock, which the package's 5-minute window would refuse): signatures compared.
    sent_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), timezone.utc)
    assert headers["webhook-signature"] == Webhook(new_secret).sign(headers["webhook-id"], sent_at, body.decode())

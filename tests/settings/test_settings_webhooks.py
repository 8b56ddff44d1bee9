"""The Webhooks page of Admin Settings: add an endpoint (its whsec_ secret shown once, kept only encrypted), send it a
test event, see its recent deliveries, disable, enable, roll the secret, delete it through the one confirmation
dialog; each audited, each checked for CSRF, only the team's own endpoints, only admins."""

import re

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.webhooks.models import WebhookEndpoint
from helpers import HTMX, WebhookReceiver, csrf_token, log_in, parse_html, text_of

PAGE = "/settings/webhooks"
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{44}")


@pytest.fixture
def signed_in(client, admin):
    log_in(client, admin)
    return client


@pytest.fixture
def token(signed_in):
    return csrf_token(signed_in, PAGE)


@pytest.fixture
def receiver(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = True
    with WebhookReceiver() as running:
        yield running


def add(client, token, url, events=("api_key.created", "api_key.deleted"), description="Slack relay"):
    return client.post(PAGE, data={"url": url, "events": list(events), "description": description,
                                   "csrf_token": token})


def audit_kinds() -> list[AuditKind]:
    return list(db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)))


def test_the_page_is_in_the_admin_settings_navigation(signed_in):
    page = parse_html(signed_in.get("/settings/api-keys").get_data(as_text=True))
    link = page.select_one('nav[aria-label="Admin Settings"] a[href="/settings/webhooks"]')
    assert text_of(link) == "Webhooks"
    page = parse_html(signed_in.get(PAGE).get_data(as_text=True))
    assert page.select_one('nav[aria-label="Admin Settings"] a[aria-current="page"]')["href"] == PAGE
    assert "No endpoints yet" in text_of(page)


def test_adding_an_endpoint_shows_its_secret_once(signed_in, token):
    response = add(signed_in, token, "https://hooks.example.com/floqast")
    assert response.status_code == 201
    [secret] = set(SECRET.findall(response.get_data(as_text=True)))
    assert "only time this secret will be displayed" in response.get_data(as_text=True)
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert (endpoint.url, endpoint.events, endpoint.description) == (
        "https://hooks.example.com/floqast", ["api_key.created", "api_key.deleted"], "Slack relay")
    assert secret not in endpoint.secret
    again = signed_in.get(PAGE).get_data(as_text=True)
    assert secret not in again and not SECRET.search(again)
    assert "https://hooks.example.com/floqast" in again
    assert audit_kinds() == [AuditKind.WEBHOOK_ADDED]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("url", "error"), [
    ("", "Enter the URL to send events to."),
    ("http://hooks.example.com/x", "Enter an https:// URL"),
    ("https://127.0.0.1/x", "127.0.0.1 is not a public address"),
    ("https://169.254.169.254/latest", "169.254.169.254 is not a public address"),
    ("https://[::1]/x", "::1 is not a public address"),
    ("https://user:pw@hooks.example.com/x", "may not hold a user name or password"),
    ("https://" + "a" * 2000 + ".example.com", "longer than 2000 characters"),
    ("https://hooks.example.com/a\x00b", "may hold no spaces, control characters"),
    ("https://hooks.example.com/a b", "may hold no spaces, control characters"),
])
def test_a_refused_url_is_said_next_to_it_keeping_what_was_typed(signed_in, token, url, error):
    response = add(signed_in, token, url, description="Kept as typed")
    assert response.status_code == 422
    page = parse_html(response.get_data(as_text=True))
    assert error in text_of(page.select_one("#url-error"))
    assert page.select_one("#url")["value"] == url if url else True
    assert page.select_one("#url")["aria-invalid"] == "true"
    assert text_of(page.select_one("#description")) == "Kept as typed"
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_a_description_with_nul_is_stored_without_it(signed_in, token):
    assert add(signed_in, token, "https://hooks.example.com/x", description="Relay\x00one").status_code == 201
    assert db.session.scalar(select(WebhookEndpoint.description)) == "Relay\ufffdone"


def test_no_event_chosen_is_said(signed_in, token):
    response = add(signed_in, token, "https://hooks.example.com/x", events=())
    assert response.status_code == 422
    assert "Select at least one event." in response.get_data(as_text=True)


def test_send_test_event_delivers_a_signed_message_and_lists_it(signed_in, token, receiver):
    secret = SECRET.search(add(signed_in, token, receiver.url).get_data(as_text=True)).group()
    endpoint = db.session.scalar(select(WebhookEndpoint))
    response = signed_in.post(f"{PAGE}/{endpoint.id}/test", data={"csrf_token": token}, follow_redirects=True)
    assert f"Test event delivered to {receiver.url}: it answered 200." in response.get_data(as_text=True)
    [(_, headers, body)] = receiver.requests
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"
    page = parse_html(response.get_data(as_text=True))
    row = page.select_one(".webhook tbody tr")
    assert [text_of(cell) for cell in row.select("td")][1:4] == ["webhook.test", "1", "200"]
    assert AuditKind.WEBHOOK_TESTED in audit_kinds()


def test_a_test_event_to_a_refused_address_says_why(signed_in, token, app):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = True
    add(signed_in, token, "http://127.0.0.1:9/hooks")
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = False
    response = signed_in.post(f"{PAGE}/1/test", data={"csrf_token": token}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "The test event did not reach http://127.0.0.1:9/hooks" in text and "Enter an https:// URL" in text


def test_disable_enable_and_roll_the_secret(signed_in, token):
    first = SECRET.search(add(signed_in, token, "https://hooks.example.com/x").get_data(as_text=True)).group()
    response = signed_in.post(f"{PAGE}/1/disable", data={"csrf_token": token}, follow_redirects=True)
    assert "was disabled" in response.get_data(as_text=True)
    assert not db.session.get(WebhookEndpoint, 1).enabled
    assert "Disabled" in text_of(parse_html(response.get_data(as_text=True)).select_one(".webhook"))
    signed_in.post(f"{PAGE}/1/enable", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, 1).enabled
    rolled = signed_in.post(f"{PAGE}/1/roll-secret", data={"csrf_token": token}).get_data(as_text=True)
    [second] = set(SECRET.findall(rolled))
    assert second != first and "previous secret signs each message too" in rolled
    assert audit_kinds() == [AuditKind.WEBHOOK_ADDED, AuditKind.WEBHOOK_DISABLED, AuditKind.WEBHOOK_ENABLED,
                             AuditKind.WEBHOOK_SECRET_ROLLED]


def test_delete_asks_in_the_one_dialog_then_deletes(signed_in, token):
    add(signed_in, token, "https://hooks.example.com/x")
    back = f"?next={PAGE}"
    dialog = signed_in.get(f"{PAGE}/1/delete{back}", headers=HTMX)
    page = parse_html(dialog.get_data(as_text=True))
    assert text_of(page.select_one("#key-dialog-title")) == "Delete webhook endpoint"
    assert "https://hooks.example.com/x" in text_of(page.select_one(".dialog-facts"))
    assert page.select_one("a[data-close-dialog]")["href"] == PAGE
    no_script = signed_in.get(f"{PAGE}/1/delete{back}")
    assert no_script.status_code == 200 and "Delete endpoint" in no_script.get_data(as_text=True)
    response = signed_in.post(f"{PAGE}/1/delete{back}", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    assert db.session.get(WebhookEndpoint, 1).deleted_at is not None
    assert "https://hooks.example.com/x was deleted" in signed_in.get(PAGE).get_data(as_text=True)
    assert signed_in.get(f"{PAGE}/1/delete{back}").status_code == 404
    assert audit_kinds()[-1] is AuditKind.WEBHOOK_DELETED


@pytest.mark.parametrize("action", ["test", "disable", "enable", "roll-secret", "delete"])
def test_every_change_checks_csrf(signed_in, token, action):
    add(signed_in, token, "https://hooks.example.com/x")
    response = signed_in.post(f"{PAGE}/1/{action}")
    assert response.status_code == 400
    assert signed_in.post(PAGE, data={"url": "https://a.example.com", "events": ["api_key.created"]}).status_code == 400


@pytest.mark.parametrize("action", ["test", "disable", "enable", "roll-secret", "delete"])
def test_another_teams_endpoint_is_missing(signed_in, token, make_team, make_user, action):
    other = make_user(make_team("Globex"), Role.ADMIN)
    endpoint = WebhookEndpoint(team_id=other.team_id, url="https://globex.example.com", events=["api_key.created"],
                               secret="sealed", created_by_id=other.id)
    db.session.add(endpoint)
    db.session.commit()
    assert signed_in.post(f"{PAGE}/{endpoint.id}/{action}", data={"csrf_token": token}).status_code == 404
    assert "globex.example.com" not in signed_in.get(PAGE).get_data(as_text=True)


def test_other_roles_are_refused(client, team, make_user):
    log_in(client, make_user(team, Role.MANAGER))
    assert client.get(PAGE).status_code == 403

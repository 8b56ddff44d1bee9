"""Confirm access: the password again before a change that mints a key or widens what keys may do, once the one
typed at login or at the last confirmation is older than CONFIRM_ACCESS_SECONDS; then the change asked for, with
everything typed; wrong passwords counted as failed logins; protective changes never asking; both audited."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys.models import ApiKey, Service
from floqast.keys.requests import ApiKeyRequest
from floqast.settings.access import CONFIRM_FIRST
from floqast.webhooks import signing
from floqast.webhooks.models import WebhookEndpoint
from helpers import (
    HTMX,
    KEY_PATTERN,
    PASSWORD,
    csrf_token,
    freeze,
    log_in,
    parse_html,
    reload,
    text_of,
    with_next,
)

LOGIN_TIME = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
FRESH = LOGIN_TIME + timedelta(seconds=899)
STALE = LOGIN_TIME + timedelta(seconds=901)
KEYS = "/settings/api-keys"
POLICY = "/settings/api-key-policy"
WEBHOOKS = "/settings/webhooks"
IP = "198.51.100.4"


@pytest.fixture
def stale_client(client, admin, monkeypatch):
    """An admin who logged in (typing the password) just over CONFIRM_ACCESS_SECONDS ago."""
    freeze(monkeypatch, LOGIN_TIME)
    log_in(client, admin)
    freeze(monkeypatch, STALE)
    return client


def key_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ApiKey))


def webhook_endpoints() -> list[tuple[str, str]]:
    """Each webhook endpoint's URL and stored secret."""
    return [tuple(row) for row in db.session.execute(select(WebhookEndpoint.url, WebhookEndpoint.secret)
                                                     .order_by(WebhookEndpoint.id))]


def access_events(kind: AuditKind) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))


def gated_requests(admin, make_key, team):
    """Each gated change as (path, form fields) for a key made for it: what the admin sends, CSRF token aside."""
    working, _ = make_key(admin, name="Working")
    lapsed, _ = make_key(admin, name="Lapsed", expires_on=team.today() - timedelta(days=1))
    endpoint = WebhookEndpoint(team_id=team.id, url="https://hooks.example.com/team", events=["api_key.deleted"],
                               secret=signing.seal(signing.new_secret()), created_by_id=admin.id)  # no audit event
    db.session.add(endpoint)
    asked = ApiKeyRequest(team_id=team.id, requested_by=admin, name="Power BI", services=["checklists"],
                          entity_ids=None, expires_on=None, justification="The month-end refresh.")
    db.session.add(asked)
    paused, _ = make_key(admin, name="Paused", suspended_at=LOGIN_TIME, suspended_by_id=admin.id,
                         suspended_reason="Vendor dispute")
    db.session.commit()
    return {
        "settings.approve_request": (f"/settings/key-requests/{asked.id}/approve",
                                     {f"approve-{asked.id}-services": "checklists",
                                      f"approve-{asked.id}-entities": "all"}),
        "settings.create_key": (KEYS, {"name": "Looker", "expiration": "90", "services": ["checklists"]}),
        "settings.roll_key": (f"{KEYS}/{working.id}/roll", {"roll-overlap": "24", "roll-expiration": "90"}),
        "settings.regenerate_key": (f"{KEYS}/{lapsed.id}/regenerate", {"regenerate-expiration": "30"}),
        "settings.resume_key": (f"{KEYS}/{paused.id}/resume", {}),
        "settings.save_allowed_ips": (f"{KEYS}/{working.id}/allowed-ips", {"allowed_ips": "203.0.113.0/24"}),
        "settings.save_limits": (f"{KEYS}/{working.id}/limits", {"entities": "all", "rate_limit_per_minute": "6000"}),
        "settings.save_key_policy": (POLICY, {"require_expiration": "y", "max_lifetime": "90"}),
        "settings.add_webhook": (WEBHOOKS, {"url": "https://hooks.example.com/x", "events": ["api_key.created"]}),
        "settings.roll_webhook_secret": (f"{WEBHOOKS}/{endpoint.id}/roll-secret", {}),
    }


def confirm_form(response):
    """The Confirm access form of an answer: its action and the fields it carries (name, value), in order."""
    form = parse_html(response).find("form", id="confirm-access-form")
    carried = [(field["name"], field["value"]) for field in form.find_all("input", type="hidden") if field.get("name")]
    return form["action"], carried


def test_the_gate_names_every_change_that_mints_or_widens_a_key():
    assert set(CONFIRM_FIRST) == {"settings.create_key", "settings.roll_key", "settings.regenerate_key",
                                  "settings.save_allowed_ips", "settings.save_limits", "settings.save_key_policy",
                                  "settings.add_webhook", "settings.roll_webhook_secret", "settings.approve_request",
                                  "settings.resume_key"}


@pytest.mark.parametrize("endpoint", sorted(CONFIRM_FIRST))
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_past_confirm_access_seconds_a_gated_change_asks_for_the_password_and_changes_nothing(
        stale_client, admin, make_key, team, endpoint, htmx):
    path, fields = gated_requests(admin, make_key, team)[endpoint]
    keys_before, policy_before, webhooks_before = key_count(), team.key_policy, webhook_endpoints()
    data = {**fields, "csrf_token": csrf_token(stale_client, KEYS)}

    answer = stale_client.post(path, data=data, headers=HTMX if htmx else {})

    assert answer.status_code == 403
    page = parse_html(answer)
    assert text_of(page.find(id="confirm-access-title")) == "Confirm access"
    says = text_of(page.find("form", id="confirm-access-form"))
    assert f"You are about to {CONFIRM_FIRST[endpoint]}" in says
    if "/api-keys/" in path:  # a change to one key names it
        assert re.search(r": “(Working|Lapsed|Paused)” \(fq_\w{4}…\)\.", says)
    if htmx:
        assert answer.headers["HX-Retarget"] == "#access-slot"
        assert page.find("dialog", id="confirm-access-dialog") is not None
    else:
        assert page.find("nav") is not None and page.find("dialog", id="confirm-access-dialog") is None
    db.session.expire_all()
    assert key_count() == keys_before and team.key_policy == policy_before
    assert webhook_endpoints() == webhooks_before
    assert [event.kind for event in db.session.scalars(select(AuditEvent))] == []


def test_another_teams_key_is_missing_before_any_password_is_asked(stale_client, make_team, make_user, make_key):
    other_admin = make_user(make_team("Globex"), email="admin@globex.test")
    theirs, _ = make_key(other_admin, name="Theirs")
    db.session.commit()
    token = csrf_token(stale_client, POLICY)
    for path in (f"{KEYS}/{theirs.id}/roll", f"{KEYS}/{theirs.id}/allowed-ips"):
        answer = stale_client.post(path, data={"roll-overlap": "24", "allowed_ips": "", "csrf_token": token})
        assert answer.status_code == 404 and "Theirs" not in answer.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", sorted(CONFIRM_FIRST))
def test_within_confirm_access_seconds_of_the_login_nothing_asks(client, admin, make_key, team, monkeypatch, endpoint):
    freeze(monkeypatch, LOGIN_TIME)
    path, fields = gated_requests(admin, make_key, team)[endpoint]
    log_in(client, admin)
    freeze(monkeypatch, FRESH)
    # The token from a page that loads no key: the test shares the app's session, and on PostgreSQL the addresses'
    # refresh FOR UPDATE cannot join the replaced_by keys the list would have loaded into it.
    answer = client.post(path, data={**fields, "csrf_token": csrf_token(client, POLICY)})
    assert answer.status_code in (200, 201, 302, 303)  # a rolled webhook secret is shown at once (200)
    assert "confirm-access-form" not in answer.get_data(as_text=True)


def test_the_login_form_starts_the_time_and_the_setting_sets_its_length(client, admin, app, monkeypatch):
    freeze(monkeypatch, LOGIN_TIME)
    token = csrf_token(client, "/login")
    login = client.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token})
    assert login.status_code == 302
    data = {"name": "Looker", "expiration": "90", "services": ["checklists"], "csrf_token": csrf_token(client, KEYS)}
    freeze(monkeypatch, LOGIN_TIME + timedelta(seconds=100))
    app.config["CONFIRM_ACCESS_SECONDS"] = 60
    assert client.post(KEYS, data=data).status_code == 403
    app.config["CONFIRM_ACCESS_SECONDS"] = 120
    assert client.post(KEYS, data=data).status_code == 201


def test_without_javascript_the_page_reposts_every_field_typed_and_the_key_is_made_from_them(stale_client, team):
    token = csrf_token(stale_client, KEYS)
    name = 'Looker "EU" <finance> & co'
    description = "Nightly load for\nthe controller's pack"
    custom = team.today() + timedelta(days=45)
    typed = {"name": name, "description": description, "expiration": "custom", "custom_date": custom.isoformat(),
             "services": ["reconciliations", "checklists"], "allowed_ips": "203.0.113.7\n198.51.100.0/24"}
    asked = stale_client.post(KEYS, data={**typed, "csrf_token": token})
    assert asked.status_code == 403
    action, carried = confirm_form(asked)
    assert action == KEYS
    page = parse_html(asked)
    assert page.find("input", id="access_password")["type"] == "password"
    assert [(name, value) for name, value in carried if name == "services"] == [
        ("services", "reconciliations"), ("services", "checklists")]
    assert dict(carried)["csrf_token"] == token and dict(carried)["name"] == name

    done = stale_client.post(action, data=MultiDict(carried + [("access_password", PASSWORD)]))

    assert done.status_code == 201
    plaintext = KEY_PATTERN.search(done.get_data(as_text=True)).group()
    key = db.session.scalar(select(ApiKey))
    assert (key.name, key.description, key.expires_on, set(key.services)) == (
        name, description, custom, {Service.RECONCILIATIONS, Service.CHECKLISTS})
    assert key.allowed_ips == "198.51.100.0/24,203.0.113.7/32"
    assert plaintext.startswith(key.hint)
    assert PASSWORD not in done.get_data(as_text=True)


def test_with_htmx_the_same_request_sent_again_with_the_password_lands_where_it_would_have(stale_client, admin,
                                                                                          make_key):
    key, _ = make_key(admin, name="Warehouse")
    db.session.commit()
    back = f"{KEYS}/{key.id}"
    path = with_next(f"{KEYS}/{key.id}/roll", back)
    data = {"roll-overlap": "168", "roll-expiration": "30", "csrf_token": csrf_token(stale_client, KEYS)}
    headers = {**HTMX, "HX-Source": "form#key-dialog-form"}

    asked = stale_client.post(path, data=data, headers=headers)
    assert asked.status_code == 403
    dialog = parse_html(asked).find("dialog", id="confirm-access-dialog")
    assert dialog["data-resubmit"] == "key-dialog-form"
    assert dialog.find("a", string="Cancel")["href"] == back

    rolled = stale_client.post(path, data={**data, "access_password": PASSWORD}, headers=headers)

    assert rolled.status_code == 201 and rolled.headers["HX-Retarget"] == "#reveal-slot"
    key = reload(key)
    assert key.replaced_by is not None and key.roll_ends_at - key.replaced_by.created_at == timedelta(hours=168)
    assert key.replaced_by.expires_on == key.team.today() + timedelta(days=30)


def test_the_action_sent_again_still_checks_its_csrf_token_and_its_fields(stale_client):
    fields = {"name": "Looker", "expiration": "90", "services": ["checklists"], "access_password": PASSWORD}
    refused = stale_client.post(KEYS, data={**fields, "csrf_token": "forged"})
    assert refused.status_code == 400
    assert key_count() == 0 and access_events(AuditKind.ACCESS_CONFIRMED) == []

    token = csrf_token(stale_client, KEYS)
    invalid = stale_client.post(KEYS, data={**fields, "name": "", "csrf_token": token}, headers=HTMX)
    assert invalid.status_code == 422
    assert "Enter a name for the key." in text_of(parse_html(invalid))
    assert key_count() == 0
    assert len(access_events(AuditKind.ACCESS_CONFIRMED)) == 1  # the password was right: no asking again now
    again = stale_client.post(KEYS, data={**fields, "access_password": "", "csrf_token": token})
    assert again.status_code == 201


def test_a_wrong_password_is_refused_audited_and_keeps_every_field(stale_client, admin):
    typed = {"name": "Looker", "expiration": "30", "services": ["checklists"],
             "csrf_token": csrf_token(stale_client, KEYS)}
    answer = stale_client.post(KEYS, data={**typed, "access_password": "hunter2"}, environ_base={"REMOTE_ADDR": IP})
    assert answer.status_code == 422
    page = parse_html(answer)
    assert text_of(page.find(id="access_password-error")) == "Incorrect password."
    assert page.find("input", id="access_password").get("value") in (None, "")  # never sent back
    _, carried = confirm_form(answer)
    assert ("name", "Looker") in carried and ("expiration", "30") in carried
    assert key_count() == 0
    [event] = access_events(AuditKind.ACCESS_REFUSED)
    assert (event.user_id, event.team_id, event.ip) == (admin.id, admin.team_id, IP)
    assert event.detail == "Asked before: create an API key."
    assert "hunter2" not in str(vars(event))

    empty = stale_client.post(KEYS, data={**typed, "access_password": ""})
    assert empty.status_code == 422
    assert text_of(parse_html(empty).find(id="access_password-error")) == "Enter your password."


def test_wrong_passwords_count_toward_the_failed_login_limits(stale_client, admin, app):
    app.config["LOGIN_FAILURES_PER_ACCOUNT_AND_IP"] = "3 per minute"
    token = csrf_token(stale_client, KEYS)
    policy = {"require_expiration": "y", "max_lifetime": "90", "csrf_token": token}
    for _ in range(3):
        assert stale_client.post(POLICY, data={**policy, "access_password": "guess"}).status_code == 422

    held = stale_client.post(POLICY, data={**policy, "access_password": PASSWORD})
    assert held.status_code == 429 and int(held.headers["Retry-After"]) >= 1
    assert "Too many wrong passwords" in text_of(parse_html(held).find(id="access_password-error"))
    assert not admin.team.key_policy.require_expiration
    other = app.test_client()  # the login form from the same address is held back by the same count
    login = other.post("/login", data={"email": admin.email, "password": PASSWORD,
                                       "csrf_token": csrf_token(other, "/login")})
    assert login.status_code == 429


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "no-js"])
def test_protective_changes_never_ask(stale_client, admin, make_key, htmx):
    doomed, _ = make_key(admin, name="Doomed")
    form_doomed, _ = make_key(admin, name="Doomed by form")
    rolling, _ = make_key(admin, name="Rolling")
    db.session.commit()
    token = csrf_token(stale_client, KEYS)
    headers = {**HTMX, "X-CSRFToken": token} if htmx else {}
    assert stale_client.delete(f"{KEYS}/{doomed.id}", headers={**HTMX, "X-CSRFToken": token}).status_code == 200
    assert stale_client.post(f"{KEYS}/{form_doomed.id}/delete", data={"csrf_token": token},
                             headers=headers).status_code in (200, 303)
    for path in (f"{KEYS}/{rolling.id}/roll", f"{KEYS}/{rolling.id}/allow-seen", f"{KEYS}/new", POLICY):
        assert "confirm-access-form" not in stale_client.get(path).get_data(as_text=True)  # asking first is no change
    rename = stale_client.post(f"{KEYS}/{rolling.id}", data={"name": "Renamed", "csrf_token": token}, headers=headers)
    assert rename.status_code in (200, 303)
    assert reload(doomed).deleted_at is not None and reload(form_doomed).deleted_at is not None
    assert reload(rolling).name == "Renamed"
    assert access_events(AuditKind.ACCESS_CONFIRMED) == access_events(AuditKind.ACCESS_REFUSED) == []


def test_access_confirmed_is_audited_and_lasts_confirm_access_seconds(stale_client, admin, monkeypatch):
    token = csrf_token(stale_client, KEYS)
    policy = {"require_expiration": "y", "max_lifetime": "90", "csrf_token": token}
    assert stale_client.post(POLICY, data={**policy, "access_password": PASSWORD},
                             environ_base={"REMOTE_ADDR": IP}).status_code == 302
    [event] = access_events(AuditKind.ACCESS_CONFIRMED)
    assert (event.user_id, event.email, event.team_id, event.ip) == (admin.id, admin.email, admin.team_id, IP)
    assert event.detail == "Asked before: change the API key policy."
    activity = text_of(parse_html(stale_client.get("/settings/api-keys/activity")).find(id="activity"))
    assert "Access confirmed" in activity and "Asked before: change the API key policy." in activity

    create = {"name": "Looker", "expiration": "90", "services": ["checklists"], "csrf_token": token}
    freeze(monkeypatch, STALE + timedelta(seconds=899))
    assert stale_client.post(KEYS, data=create).status_code == 201
    freeze(monkeypatch, STALE + timedelta(seconds=901))
    assert stale_client.post(KEYS, data={**create, "name": "Tableau"}).status_code == 403
    assert len(access_events(AuditKind.ACCESS_CONFIRMED)) == 1

"""The audit trail: what is recorded, that no secret is, and the Activity list admins read."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast.accounts.models import Role
from floqast.analytics.models import Entity
from floqast.audit.events import PAGE_SIZE, AuditEvent, AuditKind
from floqast.auth.access import ACCESS_CONFIRMED_AT
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import tokens
from floqast.keys.models import ApiKey, Service
from helpers import CHECKLISTS, HTMX, KEY_PATTERN, ME, PASSWORD, csrf_token, free_port, log_in, parse_html, text_of

IP = "203.0.113.9"


def events(**where) -> list[AuditEvent]:
    db.session.expire_all()
    query = select(AuditEvent).order_by(AuditEvent.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    return list(db.session.scalars(query))


def row_text(event: AuditEvent) -> str:
    return " ".join(str(getattr(event, column.key)) for column in AuditEvent.__table__.columns)


def log_in_with(client, email, password, ip=IP):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def create_key(client, name="Nightly load"):
    token = csrf_token(client, "/settings/api-keys")
    response = client.post("/settings/api-keys", headers=HTMX, environ_base={"REMOTE_ADDR": IP},
                           data={"name": name, "expiration": "90", "services": ["reconciliations"],
                                 "csrf_token": token})
    assert response.status_code == 201
    return db.session.scalar(select(ApiKey).where(ApiKey.name == name))


# ---------------------------------------------------------------- what is recorded


def test_creating_and_deleting_a_key_is_recorded_with_who_when_hint_and_name(admin_client, admin, team):
    before = utcnow()
    key = create_key(admin_client)
    token = csrf_token(admin_client, "/settings/api-keys")
    headers = {**HTMX, "X-CSRFToken": token}
    assert admin_client.delete(f"/settings/api-keys/{key.id}", headers=headers).status_code == 200
    # Deleting it again deactivates nothing, so records nothing.
    admin_client.delete(f"/settings/api-keys/{key.id}", headers={**HTMX, "X-CSRFToken": token})

    created, deleted = events(team_id=team.id)
    assert [created.kind, deleted.kind] == [AuditKind.KEY_CREATED, AuditKind.KEY_DELETED]
    for event in (created, deleted):
        assert event.user_id == admin.id and event.email == admin.email
        assert event.api_key_id == key.id and event.key_hint == key.hint and event.key_name == "Nightly load"
        assert before <= event.created_at <= utcnow()
    assert (created.ip, deleted.ip) == (IP, "127.0.0.1")


def test_deleting_from_the_confirmation_page_is_recorded(admin_client, admin, make_key, team):
    key, _ = make_key(admin)
    token = csrf_token(admin_client, "/settings/api-keys")
    admin_client.post(f"/settings/api-keys/{key.id}/delete", data={"csrf_token": token})
    [event] = events(kind=AuditKind.KEY_DELETED)
    assert event.api_key_id == key.id and event.team_id == team.id


def test_logins_and_failed_logins_are_recorded_without_the_password(client, admin, team):
    assert log_in_with(client, "nobody@acme.test", "a wrong password").status_code == 422
    assert log_in_with(client, admin.email, "another wrong password").status_code == 422
    assert log_in_with(client, " Admin@Acme.test", PASSWORD).status_code == 302

    unknown, wrong, good = events()
    assert (unknown.kind, unknown.team_id, unknown.user_id, unknown.email) == (
        AuditKind.LOGIN_FAILED, None, None, "nobody@acme.test")
    assert (wrong.kind, wrong.team_id, wrong.user_id) == (AuditKind.LOGIN_FAILED, team.id, admin.id)
    assert (good.kind, good.team_id, good.email) == (AuditKind.LOGIN, team.id, "admin@acme.test")
    assert {event.ip for event in (unknown, wrong, good)} == {IP}
    for event in (unknown, wrong, good):
        assert "wrong password" not in row_text(event) and PASSWORD not in row_text(event)


def test_a_logout_is_recorded_and_shown_in_activity(client, admin, team):
    log_in(client, admin)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/api-keys")},
                environ_base={"REMOTE_ADDR": IP})

    [event] = events(kind=AuditKind.LOGOUT)
    assert (event.team_id, event.user_id, event.email, event.ip) == (team.id, admin.id, admin.email, IP)
    assert log_in_with(client, admin.email, PASSWORD).status_code == 302  # (the logout ended the old session)
    activity = parse_html(client.get("/settings/api-keys/activity"))
    logged_out = [row for row in activity.find("tbody").find_all("tr") if "Logged out" in text_of(row)]
    assert len(logged_out) == 1 and admin.name in text_of(logged_out[0]) and IP in text_of(logged_out[0])


def test_refused_api_authentications_are_recorded_with_hint_ip_and_reason(client, make_team, make_user, make_key,
                                                                           admin, team):
    def pull(key, path=ME):
        return client.get(path, headers={"x-api-key": key}, environ_base={"REMOTE_ADDR": IP})

    deleted, deleted_plain = make_key(admin, name="Old", deleted_at=utcnow() - timedelta(days=1))
    expired, expired_plain = make_key(admin, name="Late", expires_on=team.today() - timedelta(days=2))
    recs_only, recs_plain = make_key(admin, name="Recs only", services=[Service.RECONCILIATIONS])
    closed_admin = make_user(make_team("Initech", open_api=False), Role.ADMIN)
    closed, closed_plain = make_key(closed_admin, name="Closed")
    unknown = tokens.generate()

    assert pull("fq_garbage").status_code == 401
    assert client.get(ME, environ_base={"REMOTE_ADDR": IP}).status_code == 401
    assert pull(unknown).status_code == 401
    assert pull(deleted_plain).status_code == 401
    assert pull(expired_plain).status_code == 401
    assert pull(recs_plain, CHECKLISTS).status_code == 403
    assert pull(closed_plain).status_code == 403
    assert client.get(ME, query_string={"api_key": unknown}, environ_base={"REMOTE_ADDR": IP}).status_code == 400

    refused = events(kind=AuditKind.API_REFUSED)
    summary = [(event.team_id, event.api_key_id, event.key_hint) for event in refused]
    assert summary == [
        (None, None, None),                                   # malformed: no hint
        (None, None, None),                                   # no key at all
        (None, None, tokens.hint(unknown)),                     # parsed but unknown: hint, no team
        (team.id, deleted.id, deleted.hint),
        (team.id, expired.id, expired.hint),
        (team.id, recs_only.id, recs_only.hint),
        (closed.team_id, closed.id, closed.hint),
        (None, None, None),                                   # a key in the URL
    ]
    assert all(event.ip == IP and event.detail for event in refused)
    assert "malformed" in refused[0].detail and "deactivated" in refused[3].detail
    assert "Checklist Analytics" in refused[5].detail and "not enabled" in refused[6].detail


def test_a_key_of_ours_in_a_url_is_in_its_teams_trail_with_its_hint(client, admin, make_key, make_team, make_user,
                                                                    team):
    key, plaintext = make_key(admin, name="Nightly load")
    _, globex_plain = make_key(make_user(make_team("Globex"), Role.ADMIN), name="Globex BI")
    response = client.get(ME, query_string={"api_key": plaintext}, headers={"x-api-key": globex_plain},
                          environ_base={"REMOTE_ADDR": IP})
    assert response.status_code == 400

    [event] = events(kind=AuditKind.KEY_IN_URL)
    assert (event.team_id, event.api_key_id, event.key_hint, event.key_name, event.ip) == (
        team.id, key.id, key.hint, "Nightly load", IP)
    assert "replace it" in event.detail
    assert plaintext not in row_text(event) and globex_plain not in row_text(event)
    assert events(kind=AuditKind.API_REFUSED) == []  # the refusal is this event; Globex's key was not the one sent
    assert AuditKind.KEY_IN_URL.label == "Key sent in a URL"


def test_the_exposed_key_carries_a_badge_and_activity_says_why(client, admin, make_key, team):
    exposed, plaintext = make_key(admin, name="Leaky script")
    other, _ = make_key(admin, name="Careful script")
    assert client.get(ME, query_string={"key": plaintext}, environ_base={"REMOTE_ADDR": IP}).status_code == 400
    log_in(client, admin)

    page = parse_html(client.get("/settings/api-keys"))
    status = page.find(id=f"key-{exposed.id}").find("td", attrs={"data-label": "Status"})
    assert text_of(status.find("span", class_="badge-exposed")) == "Exposed in a URL"
    today = team.today()
    assert f"on {today:%b} {today.day}, {today.year}: replace it with a new key, then delete it" in text_of(status)
    assert page.find(id=f"key-{other.id}").find("span", class_="badge-exposed") is None
    activity = parse_html(client.get("/settings/api-keys/activity", headers=HTMX)).find(id="activity")
    [row] = activity.find("tbody").find_all("tr")
    assert "Key sent in a URL" in text_of(row) and exposed.hint in text_of(row) and "Leaky script" in text_of(row)


def test_an_accepted_pull_writes_no_audit_row(client, admin, make_key):
    _, plaintext = make_key(admin)
    for _ in range(3):
        assert client.get(ME, headers={"x-api-key": plaintext}).status_code == 200
    assert events() == []


def test_no_plaintext_key_or_password_is_ever_in_the_trail(client, app, admin, make_key, make_user, team):
    typed_passwords = ["hunter2-wrong", "fq_looks-like-a-key", PASSWORD]
    assert log_in_with(client, admin.email, typed_passwords[0]).status_code == 422
    assert log_in_with(client, "ghost@acme.test", typed_passwords[1]).status_code == 422
    assert log_in_with(client, admin.email, PASSWORD).status_code == 302
    created = create_key(client, "Secret holder")
    plaintext = text_of(parse_html(client.get("/settings/api-keys")))  # the page after: never the key
    edited = client.post(f"/settings/api-keys/{created.id}", data={
        "name": "Secret keeper", "description": "Nightly load", "csrf_token": csrf_token(client, "/settings/api-keys")})
    assert edited.status_code == 303
    existing, existing_plain = make_key(admin, name="Existing")
    plaintexts = [existing_plain]
    mistyped = existing_plain[:-1] + ("x" if existing_plain[-1] != "x" else "y")
    for presented in (existing_plain, mistyped, tokens.generate(), "Bearer " + existing_plain):
        client.get(ME, headers={"x-api-key": presented})
        client.get(ME, headers={"Authorization": f"Bearer {presented}"})
        plaintexts.append(presented)
    token = csrf_token(client, "/settings/api-keys")
    client.post(f"/settings/api-keys/{created.id}/allowed-ips", data={"allowed_ips": IP, "csrf_token": token})
    entity = Entity(team_id=team.id, name="Acme UK")
    db.session.add(entity)
    db.session.commit()
    client.post(f"/settings/api-keys/{created.id}/limits", data={
        "entities": "only", "entity_ids": str(entity.id), "rate_limit_per_minute": "120", "csrf_token": token})
    client.delete(f"/settings/api-keys/{existing.id}", headers={**HTMX, "X-CSRFToken": token})
    client.get(ME, headers={"x-api-key": existing_plain})  # refused now: deactivated
    client.get(ME, query_string={"key": existing_plain})   # refused: in the URL
    with client.session_transaction() as session:  # the password typed at login is stale: Confirm access asks
        del session[ACCESS_CONFIRMED_AT]
    policy = {"require_expiration": "y", "max_lifetime": "90", "csrf_token": token}
    typed_passwords.append("hunter3-wrong")
    wrong = client.post("/settings/api-key-policy", data={**policy, "access_password": "hunter3-wrong"})
    assert wrong.status_code == 422
    client.post("/settings/api-key-policy", data={**policy, "access_password": PASSWORD})
    rolled, rolled_plain = make_key(admin, name="Rolled")
    answer = client.post(f"/settings/api-keys/{rolled.id}/roll", data={"roll-overlap": "24", "csrf_token": token})
    plaintexts += [rolled_plain, KEY_PATTERN.search(answer.get_data(as_text=True)).group()]
    client.post(f"/settings/api-keys/{rolled.id}/stop", data={"csrf_token": token})  # stopped before its overlap ends
    client.get(ME, headers={"x-api-key": rolled_plain})  # refused now: rolled
    lapsed, lapsed_plain = make_key(admin, name="Lapsed", expires_on=team.today() - timedelta(days=1))
    answer = client.post(f"/settings/api-keys/{lapsed.id}/regenerate",
                         data={"regenerate-expiration": "30", "csrf_token": token})
    plaintexts += [lapsed_plain, KEY_PATTERN.search(answer.get_data(as_text=True)).group()]
    paused, paused_plain = make_key(admin, name="Paused")
    client.post(f"/settings/api-keys/{paused.id}/suspend", data={"suspend-reason": "Dispute", "csrf_token": token})
    client.get(ME, headers={"x-api-key": paused_plain})  # refused now: suspended
    client.post(f"/settings/api-keys/{paused.id}/resume", data={"csrf_token": token})
    plaintexts.append(paused_plain)
    _, leaked_plain = make_key(admin, name="Leaked")
    client.post("/api/v1/credentials/revoke", json={"credentials": [leaked_plain]})  # revoked as leaked
    plaintexts.append(leaked_plain)
    scripted, scripted_plain = make_key(admin, name="Scripted")
    client.post(f"/settings/api-keys/{scripted.id}",  # Scripts may roll this key, then the key rolls itself
                data={"name": "Scripted", "description": "", "self_roll": "y", "csrf_token": token})
    answer = client.post("/api/v1/me/roll", headers={"x-api-key": scripted_plain, "Idempotency-Key": "audited"})
    plaintexts += [scripted_plain, answer.get_json()["data"]["apiKey"]]
    added = client.post("/settings/webhooks", data={"url": "https://hooks.example.com/x", "events": ["api_key.created"],
                                                    "csrf_token": token})
    plaintexts += re.findall(r"whsec_[A-Za-z0-9+/=]+", added.get_data(as_text=True))
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = True  # its test event goes to a closed loopback port, at once
    client.post("/settings/webhooks", data={"url": f"http://127.0.0.1:{free_port()}/x", "events": ["api_key.created"],
                                            "csrf_token": token})
    client.post("/settings/webhooks/2/test", data={"csrf_token": token})
    for action in ("disable", "enable", "roll-secret", "delete"):
        answer = client.post(f"/settings/webhooks/1/{action}", data={"csrf_token": token})
        plaintexts += re.findall(r"whsec_[A-Za-z0-9+/=]+", answer.get_data(as_text=True))
    requester = app.test_client()  # a Manager's requests: one approved and revealed, one denied
    log_in(requester, make_user(team, Role.MANAGER))
    asking = csrf_token(requester, "/key-requests")
    for name in ("Requested", "Refused"):
        requester.post("/key-requests", data={"name": name, "services": ["checklists"], "entities": ["all"],
                                              "expiration": "30", "justification": "Month-end", "csrf_token": asking})
    client.post("/settings/key-requests/1/approve", data={
        "approve-1-services": "checklists", "approve-1-entities": "all", "csrf_token": token,
        "approve-1-expires_on": (team.today() + timedelta(days=30)).isoformat()})
    client.post("/settings/key-requests/2/deny", data={"deny-2-reason": "Not now.", "csrf_token": token})
    answer = requester.post("/key-requests/1/reveal", data={"csrf_token": asking})
    plaintexts.append(KEY_PATTERN.search(answer.get_data(as_text=True)).group())
    client.post("/logout", data={"csrf_token": token})

    trail = [row_text(event) for event in events()]
    assert len(trail) >= 12
    kinds = {event.kind for event in events()}
    assert kinds == set(AuditKind)
    everything = "\n".join(trail)
    for secret in plaintexts + typed_passwords:
        assert secret not in everything
    assert existing.digest not in everything and created.digest not in everything
    assert "fq_" + existing_plain[3:12] not in everything  # not even more than the hint
    assert plaintext  # (the page was read)


# ---------------------------------------------------------------- the Activity list


@pytest.fixture
def globex_admin(make_team, make_user):
    return make_user(make_team("Globex"), Role.ADMIN, email="admin@globex.test", name="Gina Globex")


def test_creating_or_deleting_with_htmx_tells_the_activity_list_to_reload(admin_client, admin, make_key):
    token = csrf_token(admin_client, "/settings/api-keys")
    created = admin_client.post("/settings/api-keys", headers=HTMX, data={
        "name": "Fresh", "expiration": "30", "services": ["checklists"], "csrf_token": token})
    assert created.headers["HX-Trigger"] == "keys-changed"
    key, _ = make_key(admin, name="Doomed")
    deleted = admin_client.delete(f"/settings/api-keys/{key.id}", headers={**HTMX, "X-CSRFToken": token})
    assert deleted.headers["HX-Trigger"] == "keys-changed"
    fragment = parse_html(admin_client.get("/settings/api-keys/activity", headers=HTMX)).find(id="activity")
    assert fragment.get("hx-trigger") == "keys-changed from:body"
    assert fragment.get("hx-get") == "/settings/api-keys/activity"


def test_activity_shows_the_teams_events_newest_first_escaped(admin_client, admin, make_key, globex_admin):
    create_key(admin_client, "<script>alert(1)</script>")
    other, _ = make_key(globex_admin, name="Globex Tableau")
    log_in_with(admin_client.application.test_client(), globex_admin.email, "wrong")  # Globex's own failed login

    fragment = admin_client.get("/settings/api-keys/activity", headers=HTMX)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Globex" not in body and "globex" not in body
    section = parse_html(fragment).find(id="activity")
    rows = section.find("tbody").find_all("tr")
    assert len(rows) == 1
    assert "Key created" in text_of(rows[0]) and admin.name in text_of(rows[0]) and IP in text_of(rows[0])


def test_activity_without_javascript_is_a_full_page(admin_client):
    create_key(admin_client)
    page = parse_html(admin_client.get("/settings/api-keys/activity"))
    assert text_of(page.find("h1")) == "Activity"
    assert text_of(page.find("h2", id="activity-title")) == "Audit events"
    assert page.find("header") is not None  # the whole page, with the site header
    assert "Key created" in text_of(page.find(id="activity"))


def test_activity_pages_go_back_in_time(admin_client, admin, team):
    now = utcnow()
    for number in range(PAGE_SIZE + 5):
        db.session.add(AuditEvent(team_id=team.id, kind=AuditKind.LOGIN, user_id=admin.id, email=f"n{number}@x.test",
                                  created_at=now - timedelta(minutes=number)))
    db.session.commit()

    first = parse_html(admin_client.get("/settings/api-keys/activity", headers=HTMX)).find(id="activity")
    rows = first.find("tbody").find_all("tr")
    assert len(rows) == PAGE_SIZE
    older = first.find("nav", class_="pager").find_all("a")
    assert [text_of(link) for link in older] == ["Older"]
    assert older[0].get("hx-get") == older[0].get("href") and older[0].get("hx-target") == "#activity"

    second = parse_html(admin_client.get(older[0].get("href"), headers=HTMX)).find(id="activity")
    assert len(second.find("tbody").find_all("tr")) == 5
    assert [text_of(link) for link in second.find("nav", class_="pager").find_all("a")] == ["Newest"]
    first_times = [row.find("time").get("datetime") for row in rows]
    assert first_times == sorted(first_times, reverse=True)
    assert max(row.find("time").get("datetime") for row in second.find("tbody").find_all("tr")) < min(first_times)


def test_another_teams_event_id_as_the_page_anchor_shows_nothing(admin_client, globex_admin):
    event = AuditEvent(team_id=globex_admin.team_id, kind=AuditKind.LOGIN, user_id=globex_admin.id,
                       email=globex_admin.email)
    db.session.add(event)
    db.session.commit()
    response = admin_client.get("/settings/api-keys/activity", query_string={"before": event.id}, headers=HTMX)
    assert response.status_code == 200
    assert "Globex" not in response.get_data(as_text=True)


def test_events_without_a_team_are_never_shown(admin_client, team):
    stranger = admin_client.application.test_client()
    log_in_with(stranger, "stranger@nowhere.test", "guess")
    stranger.get(ME, headers={"x-api-key": tokens.generate()})
    assert len(events()) == 2 and all(event.team_id is None for event in events())

    section = parse_html(admin_client.get("/settings/api-keys/activity", headers=HTMX)).find(id="activity")
    assert "stranger@nowhere.test" not in str(section) and section.find("tbody") is None
    assert "No activity yet." in text_of(section)

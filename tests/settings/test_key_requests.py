"""Key requests over HTTP: a Manager or User asks for a key with a justification, the team's admins see a count and
approve (perhaps narrowed, never widened) or deny with a reason, the requester is mailed either way and reveals an
approved key once within 24 hours; other teams and other roles see and decide nothing."""

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

import floqast.columns
from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.events import KeyEvent, announced
from floqast.extensions import db
from floqast.keys import request_actions, tokens
from floqast.keys.models import ApiKey
from floqast.keys.requests import ApiKeyRequest
from helpers import ME, PASSWORD, add_entities, csrf_token, key_by_plaintext, log_in, parse_html, revealed_key, text_of

KEY_PATTERN = re.compile(r"fq_[0-9A-Za-z]{38}")
JUSTIFICATION = "The Power BI month-end refresh reads reconciliations for the controller's dashboard."


@pytest.fixture
def entities(team):
    return add_entities(team, "Acme US", "Acme UK", "Acme DE")


@pytest.fixture
def manager(team, make_user):
    return make_user(team, Role.MANAGER, email="mia@acme.test", name="Mia Manager")


@pytest.fixture
def as_user(app):
    """A fresh test client signed in as `user`."""

    def sign_in(user):
        client = app.test_client()
        log_in(client, user)
        return client

    return sign_in


def ask(client, **fields):
    """Send the Request an API key form, as a browser would."""
    data = {"name": "Power BI refresh", "services": ["reconciliations", "checklists"], "entities": ["all"],
            "expiration": "90", "justification": JUSTIFICATION, "csrf_token": csrf_token(client, "/key-requests")}
    return client.post("/key-requests", data={**data, **fields})


def decide(client, key_request_id: int, action: str, access_password=None, **fields):
    prefix = f"{action}-{key_request_id}"
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    if access_password is not None:  # Confirm access's own field, beside the form's
        data["access_password"] = access_password
    data[f"{prefix}-csrf_token"] = csrf_token(client, "/settings/key-requests")
    return client.post(f"/settings/key-requests/{key_request_id}/{action}", data=data)


def only_request() -> ApiKeyRequest:
    db.session.expire_all()
    return db.session.scalars(select(ApiKeyRequest)).one()


def reveal(client, key_request_id: int):
    return client.post(f"/key-requests/{key_request_id}/reveal",
                       data={"csrf_token": csrf_token(client, "/key-requests")})


def facts(element) -> dict[str, str]:
    """A facts list's values by their terms."""
    return {text_of(item.find("dt")): text_of(item.find("dd")) for item in element.select(".key-facts > div")}


def nav_requests(page) -> str:
    return text_of(page.find("nav", class_="settings-nav").find("a", href="/settings/key-requests"))


def test_a_manager_finds_the_page_in_the_navigation_and_asks_for_a_key(as_user, manager, entities):
    client = as_user(manager)
    home = parse_html(client.get("/"))
    link = home.find("nav", class_="topnav").find("a", string="Request an API key")
    assert link["href"] == "/key-requests"
    page = parse_html(client.get("/key-requests"))
    assert {text_of(label) for label in page.find("fieldset", class_="entities").find_all("label")} == {
        "All entities", "Acme US", "Acme UK", "Acme DE"}

    sent = ask(client, entities=[str(entities["Acme US"]), str(entities["Acme UK"])])

    assert sent.status_code == 303
    mine = parse_html(client.get("/key-requests"))
    assert "Request sent." in text_of(mine.find(id="flash"))
    card = mine.find("article", class_="key-request")
    assert "Power BI refresh" in text_of(card.find("h3")) and "Pending" in text_of(card.find("h3"))
    assert "Acme US, Acme UK" in text_of(card) and JUSTIFICATION in text_of(card)
    stored = only_request()
    assert stored.requested_by_id == manager.id and stored.entity_ids == sorted([entities["Acme US"],
                                                                                 entities["Acme UK"]])
    assert stored.expires_on == manager.team.today() + timedelta(days=90)


def test_all_entities_is_stored_as_every_entity(as_user, make_user, team, entities):
    client = as_user(make_user(team, Role.USER))
    assert ask(client, entities=["all", str(entities["Acme US"])]).status_code == 303
    assert only_request().entity_ids is None


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"justification": "  "}, "justification", "Say what the key is for"),
    ({"services": []}, "services", "Select at least one API service."),
    ({"entities": []}, "entities", "Choose the entities the key may read, or All entities."),
    ({"justification": f"Like {tokens.generate()}, please"}, "justification", "This holds an API key."),
])
def test_a_request_with_a_mistake_says_so_and_keeps_what_was_typed(as_user, manager, entities, fields, field,
                                                                   message):
    answer = ask(as_user(manager), name="Looker nightly", **fields)
    assert answer.status_code == 422
    page = parse_html(answer)
    assert message in text_of(page.find(id=f"{field}-error"))
    assert page.find("input", id="name")["value"] == "Looker nightly"
    assert db.session.scalars(select(ApiKeyRequest)).all() == []


def test_the_teams_policy_bounds_the_expiration_asked_for(as_user, manager, team, entities):
    team.max_key_lifetime_days = 30
    db.session.commit()
    answer = ask(as_user(manager), expiration="never")
    assert answer.status_code == 422
    assert "at most 30 days" in text_of(parse_html(answer).find(id="expiration-error"))


def test_admins_see_the_pending_count_and_who_asked_what_and_why(as_user, admin, manager, entities):
    ask(as_user(manager))
    admin_client = as_user(admin)
    assert nav_requests(parse_html(admin_client.get("/settings/api-keys"))) == "Requests 1 pending"

    page = parse_html(admin_client.get("/settings/key-requests"))

    card = page.find("article", class_="key-request")
    assert "Mia Manager" in text_of(card.find("h3")) and "mia@acme.test" in text_of(card.find("h3"))
    assert JUSTIFICATION in text_of(card)
    assert "Reconciliation Analytics, Checklist Analytics" in text_of(card)
    assert card.find("form", class_="approve-form") and card.find("form", class_="deny-form")


def test_an_approval_narrowed_is_revealed_once_owned_by_the_requester(as_user, admin, manager, team, entities,
                                                                      api_get, caplog):
    caplog.set_level(logging.DEBUG)
    requester = as_user(manager)
    ask(requester, entities=[str(entities["Acme US"]), str(entities["Acme UK"])])
    key_request = only_request()
    earlier = team.today() + timedelta(days=30)
    admin_client = as_user(admin)

    approved = decide(admin_client, key_request.id, "approve", services=["checklists"],
                      entities=[str(entities["Acme UK"])], expires_on=earlier.isoformat())

    assert approved.status_code == 303
    assert nav_requests(parse_html(admin_client.get("/settings/key-requests"))) == "Requests"
    key_request = only_request()
    assert (key_request.granted_services, key_request.granted_entity_ids, key_request.granted_expires_on) == (
        ["checklists"], [entities["Acme UK"]], earlier)
    assert db.session.scalars(select(ApiKey)).all() == []  # made only when revealed
    card = parse_html(requester.get("/key-requests")).find("article", class_="key-request")
    assert "Approved: ready to reveal" in text_of(card.find("h3")) and facts(card)["Approved by"].startswith("Alex")
    assert facts(card)["Granted"] == f"Checklist Analytics; Acme UK; expires {earlier:%b} {earlier.day}, {earlier.year}"

    revealed = reveal(requester, key_request.id)

    assert revealed.status_code == 201 and revealed.headers["Cache-Control"] == "no-store"
    plaintext = revealed_key(revealed.get_data(as_text=True))
    me = api_get(ME, plaintext).get_json()["data"]
    assert me["userId"] == str(manager.id) and me["services"] == ["checklists"]
    assert me["expiresAt"] == f"{earlier + timedelta(days=1)}T00:00:00Z"  # the end of that day, in UTC
    key = key_by_plaintext(plaintext)
    assert key.created_by_id == manager.id and only_request().api_key_id == key.id
    assert key.entity_ids == [entities["Acme UK"]]  # it reads only the entity granted

    again = reveal(requester, key_request.id)
    assert again.status_code == 409
    assert "can no longer be revealed" in text_of(parse_html(again).find(class_="notice error"))
    for answer in (again, requester.get("/key-requests"), admin_client.get("/settings/key-requests"),
                   admin_client.get(f"/settings/api-keys/{key.id}")):
        assert plaintext not in answer.get_data(as_text=True)
    assert "Revealed" in text_of(parse_html(requester.get("/key-requests")).find("article", class_="key-request"))

    key_facts = facts(parse_html(admin_client.get(f"/settings/api-keys/{key.id}")))
    assert key_facts["Created by"] == "Mia Manager"
    assert key_facts["Requested by"].startswith("Mia Manager") and key_facts["Approved by"].startswith("Alex Admin")
    assert key_facts["Justification"] == JUSTIFICATION
    trail = db.session.scalars(select(AuditEvent).where(AuditEvent.api_key_id == key.id)).all()
    made = next(event for event in trail if event.kind is AuditKind.KEY_REQUEST_APPROVED)
    assert "requested by Mia Manager" in made.detail and "approved by Alex Admin" in made.detail
    assert JUSTIFICATION in made.detail
    assert {event.kind for event in db.session.scalars(select(AuditEvent))} >= {
        AuditKind.KEY_REQUESTED, AuditKind.KEY_REQUEST_APPROVED, AuditKind.KEY_CREATED}
    assert not any(plaintext in (event.detail or "") for event in db.session.scalars(select(AuditEvent)))
    assert plaintext not in caplog.text


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"services": ["checklists"], "entities": ["Acme US"], "expires_on": "+40"}, "expires_on",
     "no later than the one asked for"),
    ({"services": ["checklists"], "entities": ["Acme US"], "expires_on": ""}, "expires_on",
     "no later than the one asked for"),
    ({"services": ["checklists"], "entities": ["all"], "expires_on": "+30"}, "entities", "not a valid choice"),
    ({"services": ["checklists"], "entities": ["Acme UK"], "expires_on": "+30"}, "entities", "not a valid choice"),
    ({"services": ["reconciliations"], "entities": ["Acme US"], "expires_on": "+30"}, "services",
     "not a valid choice"),
])
def test_an_approval_never_grants_more_than_was_asked_for(as_user, admin, manager, team, entities, fields, field,
                                                          message):
    ask(as_user(manager), services=["checklists"], entities=[str(entities["Acme US"])], expiration="30")
    key_request = only_request()
    values = {name: [str(entities.get(value, value)) for value in given] if isinstance(given, list) else given
              for name, given in fields.items()}
    if values["expires_on"].startswith("+"):
        values["expires_on"] = (team.today() + timedelta(days=int(values["expires_on"]))).isoformat()

    answer = decide(as_user(admin), key_request.id, "approve", **values)

    assert answer.status_code == 422
    error = parse_html(answer).find(id=f"approve-{key_request.id}-{field}-error")
    assert message in text_of(error)
    assert only_request().decided_at is None


def test_a_denial_needs_a_reason_and_the_requester_reads_it_by_email(as_user, admin, manager, entities, runner,
                                                                     mail_server):
    ask(as_user(manager))
    key_request = only_request()
    admin_client = as_user(admin)
    refused = decide(admin_client, key_request.id, "deny", reason="")
    assert refused.status_code == 422
    assert "Give the reason for denying" in text_of(parse_html(refused).find(id=f"deny-{key_request.id}-reason-error"))

    denied = decide(admin_client, key_request.id, "deny", reason="Use the shared BI key; ask Finance Ops.")
    assert denied.status_code == 303

    card = parse_html(as_user(manager).get("/key-requests")).find("article", class_="key-request")
    assert "Denied" in text_of(card.find("h3")) and facts(card)["Reason"] == "Use the shared BI key; ask Finance Ops."
    assert reveal(as_user(manager), key_request.id).status_code == 409
    assert runner.invoke(args=["keys", "notify"]).output == "Sent 1 notice.\n"
    (recipients, message), = mail_server.received
    assert recipients == ["mia@acme.test"]
    assert message["Subject"] == 'Your request for the API key "Power BI refresh" was denied'
    assert "Use the shared BI key; ask Finance Ops." in message.get_body(("plain",)).get_content()


def test_the_approval_email_says_until_when_and_no_mail_holds_the_key(as_user, admin, manager, team, entities, runner,
                                                                      mail_server):
    ask(as_user(manager))
    key_request = only_request()
    decide(as_user(admin), key_request.id, "approve", services=["reconciliations"], entities=["all"],
           expires_on=(team.today() + timedelta(days=60)).isoformat())
    plaintext = revealed_key(reveal(as_user(manager), key_request.id).get_data(as_text=True))

    assert runner.invoke(args=["keys", "notify"]).exit_code == 0

    (recipients, message), = mail_server.received
    assert recipients == ["mia@acme.test"]
    assert message["Subject"] == 'Your request for the API key "Power BI refresh" was approved'
    body = " ".join(message.get_body(("plain",)).get_content().split())
    assert "Alex Admin approved your request" in body and "Reveal the key on your key requests page before" in body
    assert "https://keys.example.com/key-requests" in body
    assert not any(KEY_PATTERN.search(raw.decode(errors="replace")) for raw in mail_server.raw)
    assert plaintext not in b"".join(mail_server.raw).decode(errors="replace")


def test_an_approval_not_revealed_within_24_hours_lapses(as_user, admin, manager, team, entities, monkeypatch):
    ask(as_user(manager))
    key_request = only_request()
    decide(as_user(admin), key_request.id, "approve", services=["checklists"], entities=["all"],
           expires_on=(team.today() + timedelta(days=30)).isoformat())
    later = only_request().decided_at + timedelta(hours=24, seconds=1)
    monkeypatch.setattr(floqast.columns, "utcnow", lambda: later)
    requester = as_user(manager)

    card = parse_html(requester.get("/key-requests")).find("article", class_="key-request")
    assert "Lapsed" in text_of(card.find("h3")) and card.find("button", string="Reveal key") is None
    assert reveal(requester, key_request.id).status_code == 409
    assert db.session.scalars(select(ApiKey)).all() == []


def test_a_request_is_decided_once(as_user, admin, make_user, manager, team, entities):
    ask(as_user(manager))
    key_request = only_request()
    other_admin = as_user(make_user(team, Role.SYSADMIN))
    decide(as_user(admin), key_request.id, "deny", reason="Not this quarter.")

    late = decide(other_admin, key_request.id, "approve", services=["checklists"], entities=["all"],
                  expires_on=(team.today() + timedelta(days=30)).isoformat())

    assert late.status_code == 303
    assert "Another admin has decided this request already." in text_of(
        parse_html(other_admin.get("/settings/key-requests")).find(id="flash"))
    assert only_request().decision == "denied"


def test_another_teams_admins_neither_see_nor_decide_a_request(as_user, manager, entities, make_team, make_user):
    ask(as_user(manager))
    key_request = only_request()
    globex_admin = as_user(make_user(make_team("Globex"), Role.ADMIN))

    page = globex_admin.get("/settings/key-requests")

    assert "Power BI refresh" not in page.get_data(as_text=True)
    assert nav_requests(parse_html(page)) == "Requests"
    token = csrf_token(globex_admin, "/settings/key-requests")
    for action, data in (("approve", {f"approve-{key_request.id}-services": "checklists"}),
                         ("deny", {f"deny-{key_request.id}-reason": "no"})):
        answer = globex_admin.post(f"/settings/key-requests/{key_request.id}/{action}",
                                   data={**data, f"{action}-{key_request.id}-csrf_token": token})
        assert answer.status_code == 404
    assert reveal(globex_admin, key_request.id).status_code == 302  # admins decide in Admin Settings instead
    assert only_request().decided_at is None


@pytest.mark.parametrize("role", [Role.MANAGER, Role.USER])
def test_managers_and_users_cannot_reach_the_admins_requests(as_user, manager, make_user, team, entities, role):
    ask(as_user(manager))
    key_request = only_request()
    client = as_user(manager if role is Role.MANAGER else make_user(team, role))

    assert client.get("/settings/key-requests").status_code == 403
    answer = decide(client, key_request.id, "deny", reason="Denying my own request")
    assert answer.status_code == 403
    assert only_request().decided_at is None
    assert "request an API key" in text_of(parse_html(client.get("/settings/key-requests")))


def test_another_requesters_approval_cannot_be_revealed(as_user, admin, manager, make_user, team, entities):
    ask(as_user(manager))
    key_request = only_request()
    decide(as_user(admin), key_request.id, "approve", services=["checklists"], entities=["all"],
           expires_on=(team.today() + timedelta(days=30)).isoformat())

    assert reveal(as_user(make_user(team, Role.USER)), key_request.id).status_code == 404
    assert only_request().revealed_at is None


def test_without_open_api_there_is_nothing_to_request(as_user, make_team, make_user):
    client = as_user(make_user(make_team("Initech", open_api=False), Role.MANAGER))
    assert client.get("/key-requests").status_code == 404
    assert parse_html(client.get("/")).find("a", string="Request an API key") is None


def test_admins_are_sent_to_their_requests(as_user, admin):
    answer = as_user(admin).get("/key-requests")
    assert answer.status_code == 302 and answer.headers["Location"] == "/settings/key-requests"


def test_signed_out_visitors_log_in_first(client):
    answer = client.get("/key-requests")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def test_a_name_taken_since_the_approval_says_to_ask_again(as_user, admin, manager, team, entities, make_key):
    ask(as_user(manager))
    key_request = only_request()
    decide(as_user(admin), key_request.id, "approve", services=["checklists"], entities=["all"],
           expires_on=(team.today() + timedelta(days=30)).isoformat())
    make_key(admin, name="Power BI refresh")

    answer = reveal(as_user(manager), key_request.id)

    assert answer.status_code == 409
    assert "ask for it again below" in text_of(parse_html(answer).find(class_="notice error"))
    assert KEY_PATTERN.search(answer.get_data(as_text=True)) is None
    assert only_request().revealed_at is None and len(db.session.scalars(select(ApiKey)).all()) == 1


def test_each_step_is_announced_for_the_webhooks(as_user, admin, manager, team, entities):
    heard = []

    def listen(event, team_id, **subjects):
        heard.append((event, team_id, subjects["api_key_request"].id))

    announced.connect(listen)
    try:
        ask(as_user(manager), name="Announced")
        ask(as_user(manager), name="Refused")
        approved, denied = db.session.scalars(select(ApiKeyRequest).order_by(ApiKeyRequest.id)).all()
        decide(as_user(admin), approved.id, "approve", services=["checklists"], entities=["all"],
               expires_on=(team.today() + timedelta(days=30)).isoformat())
        decide(as_user(admin), denied.id, "deny", reason="One key is enough.")
    finally:
        announced.disconnect(listen)

    assert heard == [(KeyEvent.REQUEST_CREATED, team.id, approved.id), (KeyEvent.REQUEST_CREATED, team.id, denied.id),
                     (KeyEvent.REQUEST_APPROVED, team.id, approved.id), (KeyEvent.REQUEST_DENIED, team.id, denied.id)]


def test_pending_requests_come_first_oldest_first_then_the_latest_decisions(as_user, admin, manager, entities,
                                                                            monkeypatch):
    monkeypatch.setattr(request_actions, "DECIDED_SHOWN", 2)
    requester, admin_client = as_user(manager), as_user(admin)
    for name in ("First", "Second", "Third", "Fourth", "Fifth"):
        ask(requester, name=name)
    ids = {request.name: request.id for request in db.session.scalars(select(ApiKeyRequest))}
    for name in ("Second", "Fourth", "First"):
        decide(admin_client, ids[name], "deny", reason="Not now.")

    page = parse_html(admin_client.get("/settings/key-requests"))

    titles = [text_of(card.find("h3")).split("”")[0].lstrip("“") for card in page.find_all("article")]
    assert titles == ["Third", "Fifth", "First", "Fourth"]


def test_activity_lists_each_step_with_the_name_asked_for(as_user, admin, manager, entities):
    ask(as_user(manager))
    admin_client = as_user(admin)
    decide(admin_client, only_request().id, "deny", reason="Use the shared BI key.")

    activity = parse_html(admin_client.get("/settings/api-keys/activity")).find(id="activity")

    rows = [{cell["data-label"]: text_of(cell) for cell in row.find_all("td")}
            for row in activity.find("tbody").find_all("tr")]
    assert [(row["Event"], row["Who"], row["Key"]) for row in rows] == [
        ("Key request denied", "Alex Admin", "Power BI refresh"), ("Key requested", "Mia Manager", "Power BI refresh")]
    assert "Use the shared BI key." in rows[0]["Detail"] and JUSTIFICATION in rows[1]["Detail"]


def test_approving_asks_for_the_password_again_once_the_login_is_old(as_user, admin, manager, team, entities,
                                                                     monkeypatch):
    ask(as_user(manager))
    key_request = only_request()
    admin_client = as_user(admin)
    later = floqast.columns.utcnow() + timedelta(hours=1)
    monkeypatch.setattr(floqast.columns, "utcnow", lambda: later)
    fields = {"services": ["checklists"], "entities": ["all"],
              "expires_on": (team.today() + timedelta(days=30)).isoformat()}

    asked = decide(admin_client, key_request.id, "approve", **fields)
    assert asked.status_code == 403
    assert "You are about to approve a key request" in text_of(parse_html(asked).find("form", id="confirm-access-form"))
    assert only_request().decided_at is None

    confirmed = decide(admin_client, key_request.id, "approve", **fields, access_password=PASSWORD)
    assert confirmed.status_code == 303 and only_request().decision == "approved"

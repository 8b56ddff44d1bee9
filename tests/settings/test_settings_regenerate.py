"""Regenerating an expired key: a new key with everything but its secret and expiry, an expiry the team's policy
allows, shown once, audited; through the confirmation dialog, with and without JavaScript."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import actions as key_actions
from floqast.keys.models import ApiKey, KeyStatus, Service
from floqast.keys.policy import KeyPolicy
from helpers import (
    HTMX,
    ME,
    csrf_token,
    issue_key,
    key_by_plaintext,
    key_rows,
    parse_html,
    reload,
    revealed_key,
    same_url,
    text_of,
    with_next,
)

EXPIRED_LIST = "/settings/api-keys?status=expired"


@pytest.fixture
def lapsed(team, admin, make_key):
    """A 60-day key that expired 5 days ago, with a description and allowed addresses; and its plaintext."""
    created = utcnow() - timedelta(days=65)
    key, plaintext = make_key(admin, name="Tableau pilot", services=[Service.RECONCILIATIONS],
                              expires_on=team.today(created) + timedelta(days=60), created_at=created,
                              description="Pilot for the Q3 close", allowed_ips="198.51.100.0/24")
    return key, plaintext


def regenerate(client, key, htmx=True, back=EXPIRED_LIST, **fields):
    data = {"csrf_token": csrf_token(client, "/settings/api-keys"),
            **{f"regenerate-{name}": value for name, value in fields.items()}}
    return client.post(with_next(f"/settings/api-keys/{key.id}/regenerate", back), data=data,
                       headers=HTMX if htmx else {})


def test_only_expired_keys_have_a_regenerate_button_beside_their_trash_can(admin_client, keys_in_every_status):
    page = parse_html(admin_client.get("/settings/api-keys?status=all"))

    for name, key in keys_in_every_status.items():
        row = page.find("tr", id=f"key-{key.id}")
        button = row.find("a", attrs={"aria-label": f"Regenerate key {name}"})
        if key.status(key.team.today()) is KeyStatus.EXPIRED:
            assert same_url(button.get("href"), f"/settings/api-keys/{key.id}/regenerate",
                            "/settings/api-keys?status=all")
            assert button.get("hx-target") == "#dialog-slot"
            assert button.find_next_sibling("a").get("aria-label") == f"Delete key {name}"
        else:
            assert button is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_the_dialog_says_what_the_new_key_keeps_and_asks_its_expiration(admin_client, team, lapsed, htmx):
    key, _ = lapsed

    page = parse_html(admin_client.get(with_next(f"/settings/api-keys/{key.id}/regenerate", EXPIRED_LIST),
                                       headers=HTMX if htmx else {}))

    title = page.find("dialog", id="key-dialog").find("h2") if htmx else page.find("h1")
    assert text_of(title) == "Regenerate API key"
    form = page.find("form", id="key-dialog-form")
    assert "Pilot for the Q3 close" in text_of(form.find("div", class_="carries-over"))
    assert "198.51.100.0/24" in text_of(form.find("div", class_="carries-over"))
    expiration = form.find("select", id="regenerate-expiration")
    assert "autofocus" in expiration.attrs
    assert text_of(expiration.find("option", selected=True)) == "60 days"  # its lifetime, from today
    expires = team.today() + timedelta(days=60)
    assert text_of(form.find("p", class_="works-through")) == (
        f"Works through {expires:%b} {expires.day}, {expires.year} (UTC)")
    assert text_of(form.find("button", type="submit")) == "Regenerate key"
    assert form.find("a", string="Cancel").get("href") == EXPIRED_LIST


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_regenerating_shows_a_new_key_once_that_keeps_everything_and_retires_the_old_one(admin_client, admin, team,
                                                                                        api_get, lapsed, htmx):
    key, old_plaintext = lapsed

    response = regenerate(admin_client, key, htmx=htmx, expiration="30")

    assert response.status_code == 201
    body = response.get_data(as_text=True)
    plaintext = revealed_key(body)
    new = reload(key).replaced_by
    assert key_by_plaintext(plaintext).id == new.id
    assert (new.name, new.services, new.description, new.allowed_ips, new.expires_on) == (
        "Tableau pilot", ["reconciliations"], "Pilot for the Q3 close", "198.51.100.0/24",
        team.today() + timedelta(days=30))
    assert reload(key).status(team.today()) is KeyStatus.DEACTIVATED
    page = parse_html(body)
    assert {row.get("id") for row in key_rows(page)} == {f"key-{new.id}"}  # the active keys
    if htmx:
        assert response.headers["HX-Retarget"] == "#reveal-slot"
        assert page.find("hx-partial", attrs={"hx-target": "#dialog-slot"}) is not None
    assert api_get(ME, plaintext, environ_overrides={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200
    events = db.session.execute(select(AuditEvent.kind, AuditEvent.api_key_id, AuditEvent.detail)
                                .order_by(AuditEvent.id)).all()
    assert events[-2:] == [(AuditKind.KEY_REGENERATED, key.id, f"Replaced by {new.hint}…."),
                           (AuditKind.KEY_CREATED, new.id, f"Regenerates {key.hint}…")]
    # Once only: the old key is replaced now.
    again = regenerate(admin_client, key, expiration="30")
    assert again.status_code == 409
    assert f"was already replaced by {new.hint}…" in text_of(parse_html(again).find(role="alert"))


def test_the_new_expiry_must_keep_the_teams_policy(admin_client, admin, lapsed):
    key, _ = lapsed
    key_actions.change_key_policy(admin, KeyPolicy(require_expiration=True, max_lifetime_days=30))
    db.session.commit()

    response = regenerate(admin_client, key, expiration="60")

    assert response.status_code == 422
    assert "at most 30 days" in text_of(parse_html(response).find(id="regenerate-expiration-error"))
    assert reload(key).replaced_by_id is None


def test_a_name_taken_since_by_a_working_key_is_refused(admin_client, admin, lapsed):
    key, _ = lapsed
    issue_key(admin, name="TABLEAU PILOT")
    db.session.commit()

    response = regenerate(admin_client, key, expiration="30")

    assert response.status_code == 409
    assert "A key that still works already has this name." in text_of(parse_html(response).find(role="alert"))
    assert reload(key).replaced_by_id is None


def test_a_key_whose_name_holds_a_line_separator_is_not_regenerated_until_renamed(admin_client, admin, team,
                                                                                  make_key):
    """The new key takes the old one's name: one named with U+2028 before names refused it is a 422 naming the
    character, in the dialog and when sent."""
    created = utcnow() - timedelta(days=65)
    key, _ = make_key(admin, name="Tableau\u2028pilot", expires_on=team.today(created) + timedelta(days=60),
                      created_at=created)
    said = "The name holds U+2028 (LINE SEPARATOR)."

    dialog = parse_html(admin_client.get(with_next(f"/settings/api-keys/{key.id}/regenerate", EXPIRED_LIST),
                                         headers=HTMX))
    assert said in text_of(dialog.find(role="alert"))

    response = regenerate(admin_client, key, expiration="30")

    assert response.status_code == 422
    assert said in text_of(parse_html(response).find(role="alert"))
    assert reload(key).replaced_by_id is None
    assert len(db.session.scalars(select(ApiKey)).all()) == 1


def test_a_key_that_still_works_is_not_regenerated(admin_client, keys_in_every_status):
    key = keys_in_every_status["Forever"]

    response = regenerate(admin_client, key, expiration="30")

    assert response.status_code == 409
    assert "Only an expired key can be regenerated" in text_of(parse_html(response).find(role="alert"))
    assert len(db.session.scalars(select(ApiKey)).all()) == 5


def test_regenerating_from_the_keys_page_reveals_the_new_key_there(admin_client, lapsed):
    key, _ = lapsed
    key_page = f"/settings/api-keys/{key.id}"
    link = parse_html(admin_client.get(key_page)).find("a", id="page-regenerate")
    assert same_url(link.get("href"), f"{key_page}/regenerate", key_page)

    response = regenerate(admin_client, key, back=key_page, expiration="90")

    assert response.headers["HX-Retarget"] == "#reveal-slot"
    page = parse_html(response)
    new = reload(key).replaced_by
    top = page.find("hx-partial", attrs={"hx-target": "#key-page"})
    assert f"Replaced by {new.hint}…" in text_of(top.find("dl", class_="key-facts"))
    assert top.find("a", id="page-regenerate") is None

"""Rolling a key: the dialog, the replacement shown once, the overlap, the refusal after it, one roll per key."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import actions as key_actions
from floqast.keys.models import ApiKey, KeyStatus, Service
from floqast.keys.policy import KeyPolicy
from helpers import (
    HTMX,
    KEY_PATTERN,
    ME,
    assert_api_error,
    cells,
    csrf_token,
    freeze,
    key_by_plaintext,
    key_rows,
    log_in,
    parse_html,
    reload,
    revealed_key,
    same_url,
    tab_counts,
    text_of,
    with_next,
)

# 10:30 UTC on Dec 2 is already Dec 3 in Kiritimati (UTC+14): dates in the refusal and rows follow the team.
ROLLED_AT = datetime(2026, 12, 2, 10, 30, tzinfo=timezone.utc)


def roll(client, key, overlap="24", htmx=True, back=None, **fields):
    """Submit the Roll API key form for `key`, as htmx or as a plain form, from the list (or `back`); the expiration
    is the one the dialog suggests unless `fields` choose one (expiration="30", custom_date=...)."""
    data = {"roll-overlap": overlap, "csrf_token": csrf_token(client, "/settings/api-keys"),
            **{f"roll-{name}": value for name, value in fields.items()}}
    return client.post(with_next(f"/settings/api-keys/{key.id}/roll", back or "/settings/api-keys?status=active"),
                       data=data, headers=HTMX if htmx else {})


def replacement_of(key) -> ApiKey:
    return reload(key).replaced_by


@pytest.fixture
def sam(team, make_user):
    """A second admin of the team, who does the rolling."""
    return make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")


@pytest.fixture
def sam_client(client, sam):
    log_in(client, sam)
    return client


@pytest.fixture
def old_key(team, admin, make_key):
    """A 90-day key for Reconciliation Analytics made 40 days ago by Alex; and its plaintext."""
    created = utcnow() - timedelta(days=40)
    return make_key(admin, name="Warehouse load", services=[Service.RECONCILIATIONS],
                    expires_on=team.today(created) + timedelta(days=90), created_at=created)


# ---- the button and the dialog ----


def test_every_working_key_has_a_roll_button_beside_its_trash_can(admin_client, keys_in_every_status):
    page = parse_html(admin_client.get("/settings/api-keys?status=all"))

    for name, key in keys_in_every_status.items():
        row = page.find("tr", id=f"key-{key.id}")
        roll_button = row.find("a", attrs={"aria-label": f"Roll key {name}"})
        if key.status(key.team.today()) is KeyStatus.ACTIVE:
            assert same_url(roll_button.get("href"), f"/settings/api-keys/{key.id}/roll",
                            "/settings/api-keys?status=all")
            assert roll_button.get("hx-get") == roll_button.get("href")
            assert roll_button.get("hx-target") == "#dialog-slot"
            assert [link.get("aria-label") for link in roll_button.find_next_siblings("a")] == [
                f"Suspend key {name}", f"Delete key {name}"]
        else:
            assert roll_button is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_the_dialog_asks_how_long_the_old_key_keeps_working_and_when_the_new_one_expires(admin_client, old_key, team,
                                                                                         htmx):
    key, _ = old_key
    key.description = "Loads the ledger\ninto Snowflake"
    key.allowed_ips = "203.0.113.0/24"
    db.session.commit()

    response = admin_client.get(with_next(f"/settings/api-keys/{key.id}/roll", "/settings/api-keys?status=all"),
                                headers=HTMX if htmx else {})

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    page = parse_html(body)
    if htmx:
        assert "<html" not in body
        dialog = page.find("dialog", id="key-dialog")
        assert "open" in dialog.attrs
        assert text_of(page.find(id=dialog.get("aria-labelledby"))) == "Roll API key"
    else:
        assert "<html" in body
        assert text_of(page.find("h1")) == "Roll API key"
    form = page.find("form", id="key-dialog-form")
    assert form.get("method") == "post"
    assert same_url(form.get("action"), f"/settings/api-keys/{key.id}/roll", "/settings/api-keys?status=all")
    assert form.find("a", string="Cancel").get("href") == "/settings/api-keys?status=all"
    assert text_of(form.find("label", attrs={"for": "roll-overlap"})) == "Old key keeps working"
    select_ = form.find("select", id="roll-overlap")
    assert [text_of(option) for option in select_.find_all("option")] == ["Stop now", "1 hour", "24 hours", "7 days"]
    assert text_of(select_.find("option", selected=True)) == "24 hours"
    assert text_of(form.find("button", type="submit")) == "Roll key"
    # What carries over, and the new key's expiration: the same lifetime (90 days) from today, to choose again.
    assert text_of(form.find("div", class_="carries-over")) == (
        "The new key keeps everything but its secret and its expiration: Name: Warehouse load "
        "Services: Reconciliation Analytics Description: Loads the ledger into Snowflake "
        "Entities: All entities Rate limit: The team default (100000 per minute) "
        "Allowed IP addresses: 203.0.113.0/24")
    expiration = form.find("select", id="roll-expiration")
    assert text_of(expiration.find("option", selected=True)) == "90 days"
    expires = team.today() + timedelta(days=90)
    assert text_of(form.find("p", class_="works-through")) == (
        f"Works through {expires:%b} {expires.day}, {expires.year} (UTC)")


# ---- the replacement ----


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_rolling_reveals_a_replacement_with_the_same_name_services_and_lifetime(sam_client, sam, team, old_key, htmx):
    key, _ = old_key

    response = roll(sam_client, key, htmx=htmx)

    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    plaintext = revealed_key(body)
    page = parse_html(body)
    new = replacement_of(key)
    assert key_by_plaintext(plaintext).id == new.id
    assert (new.name, new.services, new.created_by_id) == ("Warehouse load", ["reconciliations"], sam.id)
    assert new.expires_on == team.today() + timedelta(days=90)
    if htmx:  # the same answer as a create: the panel, the list and a closed Create dialog; no roll dialog left
        assert response.headers["HX-Retarget"] == "#reveal-slot"
        assert response.headers["HX-Trigger"] == "keys-changed"
        assert page.find("hx-partial", attrs={"hx-target": "#dialog-slot"}).text.strip() == ""
        assert "open" not in page.find("dialog", id="create-key-dialog").attrs
    else:
        assert "<html" in body
    assert {row.get("id") for row in key_rows(page)} == {f"key-{key.id}", f"key-{new.id}"}


def test_a_key_without_expiration_is_replaced_by_one_without(admin_client, admin, make_key):
    key, _ = make_key(admin, expires_on=None)

    assert roll(admin_client, key).status_code == 201

    assert replacement_of(key).expires_on is None


def test_a_custom_lifetime_is_kept_and_a_lifetime_of_a_day_or_less_gives_a_day(admin_client, team, admin, make_key):
    custom, _ = make_key(admin, name="Custom", expires_on=team.today() + timedelta(days=17),
                         created_at=utcnow() - timedelta(days=3))
    last_day, _ = make_key(admin, name="Last day", expires_on=team.today())

    roll(admin_client, custom)
    roll(admin_client, last_day)

    assert replacement_of(custom).expires_on == team.today() + timedelta(days=20)
    assert replacement_of(last_day).expires_on == team.today() + timedelta(days=1)


# ---- the overlap ----


@pytest.mark.parametrize(("overlap", "hours"), [("1", 1), ("24", 24), ("168", 24 * 7)])
def test_both_keys_work_until_the_overlap_ends_then_the_old_one_names_its_replacement(
        admin_client, api_get, team, old_key, monkeypatch, overlap, hours):
    team.timezone = "Pacific/Kiritimati"
    db.session.commit()
    key, old_plaintext = old_key
    freeze(monkeypatch, ROLLED_AT)
    new_plaintext = KEY_PATTERN.search(roll(admin_client, key, overlap).get_data(as_text=True)).group()
    new = replacement_of(key)
    assert reload(key).roll_ends_at == ROLLED_AT + timedelta(hours=hours)

    freeze(monkeypatch, ROLLED_AT + timedelta(hours=hours) - timedelta(seconds=1))
    assert api_get(ME, old_plaintext).status_code == 200
    assert api_get(ME, new_plaintext).status_code == 200

    freeze(monkeypatch, ROLLED_AT + timedelta(hours=hours))
    assert_api_error(api_get(ME, old_plaintext), 401,
                     f"This API key was rolled on 2026-12-03 and replaced by {new.hint}…")
    assert api_get(ME, new_plaintext).status_code == 200


def test_stop_now_refuses_the_old_key_at_once(admin_client, api_get, old_key):
    key, old_plaintext = old_key

    roll(admin_client, key, "0")

    new = replacement_of(key)
    assert_api_error(api_get(ME, old_plaintext), 401,
                     f"This API key was rolled on {new.created_at.date().isoformat()} and replaced by {new.hint}…")
    assert reload(key).status(key.team.today()) is KeyStatus.DEACTIVATED


def test_the_rows_say_rolling_until_the_overlap_ends_then_rolled(admin_client, team, old_key, monkeypatch):
    team.timezone = "Pacific/Kiritimati"
    db.session.commit()
    key, _ = old_key
    freeze(monkeypatch, ROLLED_AT)
    roll(admin_client, key, "1")
    new = replacement_of(key)

    page = parse_html(admin_client.get("/settings/api-keys"))
    # Dec 2, 10:30 UTC + 1 hour is Dec 3, 1:30 AM in Kiritimati (UTC+14).
    assert cells(page, key)[7] == (f"Active Rolling → replaced by {new.hint}…, stops at Dec 3, 2026, 1:30 AM +14 "
                                   f"Stop old key now (Warehouse load, {key.hint}…)")
    assert cells(page, new)[7] == f"Active Replaces {key.hint}…"
    # Each hint of the pair links to the other key's page.
    row, new_row = page.find("tr", id=f"key-{key.id}"), page.find("tr", id=f"key-{new.id}")
    assert row.find("code", string=f"{new.hint}…").parent.get("href") == f"/settings/api-keys/{new.id}"
    assert new_row.find("code", string=f"{key.hint}…").parent.get("href") == f"/settings/api-keys/{key.id}"
    assert tab_counts(page)["active"] == "2"
    row = page.find("tr", id=f"key-{key.id}")
    assert row.find("a", attrs={"aria-label": "Roll key Warehouse load"}) is None  # rolled once already
    assert row.find("a", attrs={"aria-label": "Delete key Warehouse load"}) is not None  # still works

    freeze(monkeypatch, ROLLED_AT + timedelta(hours=1))
    page = parse_html(admin_client.get("/settings/api-keys?status=deactivated"))
    assert cells(page, key)[7] == f"Deactivated on Dec 3, 2026 Replaced by {new.hint}…"
    assert tab_counts(page) == {"active": "1", "suspended": "0", "expired": "0", "deactivated": "1", "all": "2"}
    assert page.find("tr", id=f"key-{key.id}").find("td", class_="actions").find("a") is None


def test_deleting_a_rolling_key_stops_it_at_once_and_its_refusal_still_names_the_replacement(
        admin_client, api_get, old_key):
    key, old_plaintext = old_key
    roll(admin_client, key, "168")
    token = csrf_token(admin_client, "/settings/api-keys")

    response = admin_client.delete(f"/settings/api-keys/{key.id}", headers={**HTMX, "X-CSRFToken": token})

    assert "“Warehouse load” was deactivated." in text_of(parse_html(response).find("p", role="status"))
    assert reload(key).deleted_at is not None
    new = replacement_of(key)
    assert_api_error(api_get(ME, old_plaintext), 401,
                     f"This API key was rolled on {new.created_at.date().isoformat()} and replaced by {new.hint}…")


def test_deleting_a_key_whose_overlap_ended_says_when_it_stopped_and_records_nothing(
        admin_client, old_key, monkeypatch):
    key, _ = old_key
    roll(admin_client, key, "1")
    freeze(monkeypatch, utcnow() + timedelta(hours=2))
    token = csrf_token(admin_client, "/settings/api-keys")

    response = admin_client.delete(f"/settings/api-keys/{key.id}", headers={**HTMX, "X-CSRFToken": token})

    assert "was already deactivated on" in text_of(parse_html(response).find("p", role="status"))
    assert reload(key).deleted_at is None
    kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.api_key_id == key.id))
    assert AuditKind.KEY_DELETED not in list(kinds)


# ---- once ----


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_a_key_is_rolled_once_and_a_second_roll_says_why(admin_client, old_key, htmx):
    key, _ = old_key
    roll(admin_client, key)
    new = replacement_of(key)

    response = roll(admin_client, key, htmx=htmx)

    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert KEY_PATTERN.search(body) is None
    alert = parse_html(body).find("p", role="alert")
    assert "“Warehouse load” was already rolled on" in text_of(alert)
    assert f"replaced by {new.hint}…. A key can be rolled once: roll its replacement instead." in text_of(alert)
    assert parse_html(body).find("form", id="key-dialog-form").find("button", type="submit") is None
    assert len(db.session.scalars(select(ApiKey)).all()) == 2
    assert reload(key).replaced_by_id == new.id


def test_the_dialog_of_a_rolled_key_says_so_without_a_roll_button(admin_client, old_key):
    key, _ = old_key
    roll(admin_client, key)

    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/roll", headers=HTMX))

    assert "was already rolled on" in text_of(page.find("p", role="alert"))
    assert page.find("button", type="submit") is None
    assert page.find("select") is None


def test_the_replacement_can_be_rolled_in_turn(admin_client, api_get, old_key):
    key, _ = old_key
    roll(admin_client, key)
    second = replacement_of(key)

    response = roll(admin_client, second, "0")

    assert response.status_code == 201
    third = replacement_of(second)
    assert third.name == "Warehouse load"
    assert reload(key).status(key.team.today()) is KeyStatus.ACTIVE  # the first one's own overlap goes on


@pytest.mark.parametrize("state", ["expired", "deactivated"])
def test_a_key_that_no_longer_works_cannot_be_rolled(admin_client, admin, team, make_key, state):
    fields = ({"expires_on": team.today() - timedelta(days=1)} if state == "expired"
              else {"deleted_at": utcnow(), "deleted_by_id": admin.id})
    key, _ = make_key(admin, **fields)

    response = roll(admin_client, key)

    assert response.status_code == 409
    alert = parse_html(response).find("p", role="alert")
    assert "“Power BI” no longer works, so it cannot be rolled." in text_of(alert)
    assert len(db.session.scalars(select(ApiKey)).all()) == 1


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_a_key_whose_name_holds_a_line_separator_is_not_rolled_until_renamed(admin_client, admin, make_key, htmx):
    """A name from before names were checked for U+2028: the replacement would take it, and a notice's Subject
    naming it stopped every team's mail. The roll is a 422 naming the character; renamed, the key rolls."""
    key, _ = make_key(admin, name="Nightly\u2028load")  # stored before create and rename refused it
    said = "The name holds U+2028 (LINE SEPARATOR)."

    dialog = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/roll", headers=HTMX))
    assert said in text_of(dialog.find("p", role="alert"))
    assert dialog.find("button", type="submit") is None

    response = roll(admin_client, key, htmx=htmx)

    assert response.status_code == 422
    alert = text_of(parse_html(response).find("p", role="alert"))
    assert said in alert and "Rename the key first" in alert
    assert KEY_PATTERN.search(response.get_data(as_text=True)) is None
    assert reload(key).replaced_by_id is None
    assert len(db.session.scalars(select(ApiKey)).all()) == 1
    with pytest.raises(key_actions.NameRefused, match="U\\+2028"):
        key_actions.roll_key(key, admin, timedelta(hours=24), None)
    db.session.rollback()

    key.name = "Nightly load"
    db.session.commit()
    assert roll(admin_client, key, htmx=htmx).status_code == 201


@pytest.mark.parametrize("overlap", ["2", "", "forever"])
def test_an_overlap_the_dialog_does_not_offer_is_refused(admin_client, old_key, overlap):
    key, _ = old_key

    response = roll(admin_client, key, overlap)

    assert response.status_code == 422
    assert "Not a valid choice" in text_of(parse_html(response).find(id="roll-overlap-error"))
    assert reload(key).replaced_by_id is None
    assert len(db.session.scalars(select(ApiKey)).all()) == 1


def test_a_roll_without_the_csrf_token_is_refused(admin_client, old_key):
    key, _ = old_key

    response = admin_client.post(f"/settings/api-keys/{key.id}/roll", data={"roll-overlap": "24"}, headers=HTMX)

    assert response.status_code == 400
    assert reload(key).replaced_by_id is None


# ---- names ----


def test_the_replacement_holds_the_name_so_a_third_key_with_it_is_refused(admin_client, old_key):
    key, _ = old_key
    roll(admin_client, key)
    token = csrf_token(admin_client, "/settings/api-keys")
    data = {"name": "WAREHOUSE LOAD", "expiration": "90", "services": ["checklists"], "csrf_token": token}

    response = admin_client.post("/settings/api-keys", data=data, headers=HTMX)

    assert response.status_code == 422
    assert "A key that still works already has this name." in text_of(parse_html(response).find(id="name-error"))


# ---- the audit trail ----


def test_the_roll_is_in_the_audit_trail_with_both_hints_and_the_overlap(sam_client, sam, old_key):
    key, _ = old_key

    roll(sam_client, key, "168")

    new = replacement_of(key)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.KEY_ROLLED))
    assert (event.user_id, event.api_key_id, event.key_hint, event.key_name) == (sam.id, key.id, key.hint,
                                                                                 "Warehouse load")
    assert event.detail == f"Replaced by {new.hint}…; the old key keeps working for 7 days."
    [created] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.KEY_CREATED))
    assert (created.user_id, created.api_key_id, created.key_hint) == (sam.id, new.id, new.hint)
    assert created.detail == f"Replaces {key.hint}…"
    activity = parse_html(sam_client.get("/settings/api-keys/activity"))
    assert "Key rolled" in text_of(activity) and "Sam Sysadmin" in text_of(activity)


def test_stop_now_is_in_the_audit_trail_as_stopped_at_once(admin_client, old_key):
    key, _ = old_key

    roll(admin_client, key, "0")

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == AuditKind.KEY_ROLLED))
    assert event.detail.endswith("; the old key stopped at once.")


def test_a_replacement_keeps_the_old_lifetime_only_as_far_as_the_teams_policy_allows(sam_client, sam, team, make_key):
    """A 365-day key and a key without expiration, rolled under "Require an expiration date, 30 days": both
    replacements expire 30 days on."""
    long_lived, _ = make_key(sam, name="Long lived", expires_on=team.today() + timedelta(days=365))
    never, _ = make_key(sam, name="Forever")
    key_actions.change_key_policy(sam, KeyPolicy(require_expiration=True, max_lifetime_days=30))
    db.session.commit()

    for key in (long_lived, never):
        assert roll(sam_client, key, overlap="0").status_code == 201
        assert replacement_of(key).expires_on == team.today() + timedelta(days=30)


def test_a_replacement_keeps_the_old_keys_allowed_addresses(sam_client, old_key):
    key, _ = old_key
    key.allowed_ips = "203.0.113.0/24"
    db.session.commit()

    assert roll(sam_client, key).status_code == 201
    assert replacement_of(key).allowed_ip_list == ["203.0.113.0/24"]


def test_a_replacement_keeps_the_name_services_description_and_allowed_addresses(sam_client, old_key):
    key, _ = old_key
    key.description = "Nightly load into the warehouse.\nOwner: data team"
    key.allowed_ips = "198.51.100.24/32,203.0.113.0/24"
    db.session.commit()

    assert roll(sam_client, key).status_code == 201

    new = replacement_of(key)
    assert (new.name, new.services, new.description, new.allowed_ips) == (
        "Warehouse load", ["reconciliations"], "Nightly load into the warehouse.\nOwner: data team",
        "198.51.100.24/32,203.0.113.0/24")
    page = parse_html(sam_client.get(f"/settings/api-keys/{new.id}"))
    assert "Owner: data team" in text_of(page.find("dd", class_="description"))


# ---- choosing the new key's expiration ----


@pytest.mark.parametrize(("fields", "days"), [({"expiration": "30"}, 30), ({"expiration": "365"}, 365),
                                              ({"expiration": "custom", "custom_date": "+12"}, 12)])
def test_the_new_key_expires_as_chosen(admin_client, team, old_key, fields, days):
    key, _ = old_key
    if fields.get("custom_date"):
        fields = {**fields, "custom_date": (team.today() + timedelta(days=days)).isoformat()}

    assert roll(admin_client, key, **fields).status_code == 201

    assert replacement_of(key).expires_on == team.today() + timedelta(days=days)


def test_an_expiration_the_policy_refuses_is_a_422_in_the_dialog_and_rolls_nothing(admin_client, admin, team,
                                                                                 old_key):
    key, _ = old_key
    key_actions.change_key_policy(admin, KeyPolicy(require_expiration=True, max_lifetime_days=60))
    db.session.commit()

    for fields in ({"expiration": "never"}, {"expiration": "custom",
                                             "custom_date": (team.today() + timedelta(days=61)).isoformat()}):
        response = roll(admin_client, key, **fields)

        assert response.status_code == 422
        page = parse_html(response)
        assert page.find().get("id") == "key-dialog-form"  # swapped for itself, in the dialog
        assert "Your team's API key policy" in text_of(page.find("p", class_="field-error"))
        assert reload(key).replaced_by_id is None
    # The dialog offers only what the policy allows, and suggests the longest of them for a 90-day key.
    dialog = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/roll", headers=HTMX))
    options = dialog.find("select", id="roll-expiration").find_all("option")
    assert [option.get("value") for option in options] == ["60", "30", "custom"]
    assert dialog.find("option", selected=True, value="60") is not None


# ---- from a key's page ----


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_rolling_from_the_keys_page_reveals_the_new_key_there(admin_client, old_key, htmx):
    key, _ = old_key
    key_page = f"/settings/api-keys/{key.id}"
    link = parse_html(admin_client.get(key_page)).find("a", id="page-roll")
    assert same_url(link.get("href"), f"{key_page}/roll", key_page) and link.get("hx-target") == "#dialog-slot"

    response = roll(admin_client, key, htmx=htmx, back=key_page)

    assert response.status_code == 201
    body = response.get_data(as_text=True)
    revealed_key(body)
    page = parse_html(body)
    new = replacement_of(key)
    if htmx:
        assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#reveal-slot", "innerHTML")
        top = page.find("hx-partial", attrs={"hx-target": "#key-page"})
        assert page.find("hx-partial", attrs={"hx-target": "#dialog-slot"}) is not None
    else:
        top = page
        assert text_of(page.find("h1")) == "Warehouse load"
        assert page.find(id="reveal-slot").find("section", class_="reveal") is not None
    assert "Your new API key “Warehouse load”" in text_of(page.find("section", class_="reveal"))
    assert f"Rolling → replaced by {new.hint}…" in text_of(top.find("dl", class_="key-facts"))
    assert top.find("a", id="page-roll") is None
    assert top.find("a", id="page-stop") is not None


# ---- stop the old key now ----


def stop(client, key, back="/settings/api-keys?status=active", htmx=True):
    token = csrf_token(client, "/settings/api-keys")
    return client.post(with_next(f"/settings/api-keys/{key.id}/stop", back), data={"csrf_token": token},
                       headers=HTMX if htmx else {})


def test_stop_old_key_now_from_the_list_refuses_it_at_once(admin_client, admin, api_get, old_key):
    key, old_plaintext = old_key
    roll(admin_client, key, "168")
    new = replacement_of(key)
    row = parse_html(admin_client.get("/settings/api-keys")).find("tr", id=f"key-{key.id}")
    link = row.find("a", id=f"stop-{key.id}")
    assert text_of(link).startswith("Stop old key now")
    assert link.get("hx-target") == "#dialog-slot"

    dialog = parse_html(admin_client.get(link.get("href"), headers=HTMX))
    assert text_of(dialog.find("h2")) == "Stop the old key now"
    assert f"works beside its replacement {new.hint}…" in text_of(dialog.find("form"))
    assert text_of(dialog.find("button", type="submit")) == "Stop old key now"
    assert api_get(ME, old_plaintext).status_code == 200  # asking is not stopping

    response = stop(admin_client, key)

    assert response.headers["HX-Retarget"] == "#key-list"
    page = parse_html(response)
    assert f"The old key “Warehouse load” ({key.hint}…) was stopped." in text_of(page.find("p", role="status"))
    assert {text_of(row.find("th")) for row in key_rows(page)} == {"Warehouse load"}
    assert reload(key).status(key.team.today()) is KeyStatus.DEACTIVATED
    assert reload(key).deleted_at is None  # rolled and over, not deleted
    assert_api_error(api_get(ME, old_plaintext), 401,
                     f"This API key was rolled on {new.created_at.date().isoformat()} and replaced by {new.hint}…")
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.ROLL_ENDED))
    assert (event.user_id, event.api_key_id) == (admin.id, key.id)
    assert event.detail == f"Stopped before the end of its overlap; replaced by {new.hint}…."


def test_stop_old_key_now_without_javascript_from_its_page(admin_client, old_key):
    key, _ = old_key
    roll(admin_client, key, "24")
    key_page = f"/settings/api-keys/{key.id}"
    confirm = parse_html(admin_client.get(parse_html(admin_client.get(key_page)).find("a", id="page-stop").get("href")))
    assert text_of(confirm.find("h1")) == "Stop the old key now"
    assert confirm.find("a", string="Cancel").get("href") == key_page

    response = stop(admin_client, key, back=key_page, htmx=False)

    assert (response.status_code, response.headers["Location"]) == (303, key_page)
    assert reload(key).status(key.team.today()) is KeyStatus.DEACTIVATED


def test_stopping_a_key_that_stopped_meanwhile_says_when(admin_client, old_key, monkeypatch):
    key, _ = old_key
    roll(admin_client, key, "1")
    freeze(monkeypatch, utcnow() + timedelta(hours=2))

    response = stop(admin_client, key)

    assert "had already stopped, at" in text_of(parse_html(response).find("p", role="status"))
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.kind == AuditKind.ROLL_ENDED)) is None


def test_a_key_that_was_never_rolled_cannot_be_stopped(admin_client, old_key):
    key, _ = old_key

    response = stop(admin_client, key)

    assert response.status_code == 409
    assert "is not working beside a replacement" in text_of(parse_html(response).find(role="alert"))
    assert reload(key).status(key.team.today()) is KeyStatus.ACTIVE

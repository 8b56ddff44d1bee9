"""A key's own page: every field, its last use, its audit events, and editing its name and description."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast.accounts.models import Role
from floqast.audit.events import PAGE_SIZE, AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import actions, queries, tokens
from floqast.keys.actions import KeyStopped, NameTaken
from floqast.keys.models import ApiKey, Service
from helpers import (
    HTMX,
    INVALID_NAMES,
    ME,
    assert_error_next_to,
    csrf_token,
    log_in,
    parse_html,
    reload,
    same_url,
    statements_sent,
    text_of,
)


def facts(page) -> dict[str, str]:
    """The key page's details, by their term."""
    return {text_of(div.find("dt")): text_of(div.find("dd"))
            for div in page.find("dl", class_="key-facts").find_all("div")}


def edit(client, key, htmx=False, **fields):
    """Submit the key's name and description form (its name and description as they are, unless given)."""
    data = {"name": key.name, "description": key.description or "", **fields,
            "csrf_token": csrf_token(client, "/settings/api-keys")}
    return client.post(f"/settings/api-keys/{key.id}", data=data, headers=HTMX if htmx else {})


def key_events(key, *kinds) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.api_key_id == key.id,
                                                            AuditEvent.kind.in_(kinds)).order_by(AuditEvent.id)))


@pytest.fixture
def power_bi(admin, make_key):
    return make_key(admin, name="Power BI", description="Finance dashboards\nrefreshed hourly")[0]


# ---------------------------------------------------------------- the page


def test_the_page_shows_every_field_and_the_last_use_with_ip_and_user_agent(admin_client, admin, make_key, team):
    used = utcnow() - timedelta(minutes=3)
    key, _ = make_key(admin, name="Snowflake", services=[Service.CHECKLISTS], description="Nightly <load>",
                      expires_on=team.today() + timedelta(days=3), last_used_at=used, last_used_ip="203.0.113.7",
                      last_used_user_agent="python-requests/2.32")

    response = admin_client.get(f"/settings/api-keys/{key.id}")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = parse_html(response)
    assert text_of(page.find("h1")) == "Snowflake"
    expires = team.today() + timedelta(days=3)
    assert facts(page) == {
        "Description": "Nightly <load>",
        "Key": f"{key.hint}…",
        "Services": "Checklist Analytics",
        "Status": "Active Expiring soon",
        "Created by": "Alex Admin",
        "Created": text_of(page.find("dt", string="Created").find_next("dd")),
        "Expires": f"{expires:%b} {expires.day}, {expires.year}",
        "Scripts may roll it": "No",
        "Last used": "3 minutes ago",
        "Last used from": "203.0.113.7",
        "Last user agent": "python-requests/2.32",
    }
    assert facts(page)["Created"].startswith(f"{key.created_at:%b} {key.created_at.day}, {key.created_at.year}, ")
    assert page.find("time", datetime=used.isoformat()) is not None
    assert "<load>" not in response.get_data(as_text=True)  # text, not markup


def test_a_never_used_key_says_so_and_has_no_address(admin_client, power_bi):
    details = facts(parse_html(admin_client.get(f"/settings/api-keys/{power_bi.id}")))

    assert details["Last used"] == "Never"
    assert "Last used from" not in details and "Last user agent" not in details
    assert details["Description"] == "Finance dashboards refreshed hourly"


def test_a_deactivated_key_says_who_deleted_it_and_when_and_cannot_be_edited(admin_client, team, make_user,
                                                                             make_key, admin):
    deleter = make_user(team, Role.SYSADMIN, name="Sam Sysadmin")
    key, _ = make_key(admin, name="Old export", deleted_at=utcnow() - timedelta(days=2), deleted_by_id=deleter.id)

    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))

    deleted = key.deleted_at
    assert facts(page)["Status"] == f"Deactivated on {deleted:%b} {deleted.day}, {deleted.year}"
    assert facts(page)["Deleted"].endswith("by Sam Sysadmin")
    assert facts(page)["Deleted"].startswith(f"{deleted:%b} {deleted.day}, {deleted.year}, ")
    assert page.find("form", id="edit-key-form") is None
    assert "can no longer be changed" in text_of(page.find("section", class_="key-edit"))
    assert page.find("a", string="Delete key") is None and page.find("a", string="Roll key") is None


def test_a_working_key_can_be_rolled_or_deleted_from_its_page_and_a_rolled_one_only_deleted(admin_client, admin,
                                                                                           power_bi):
    key_page = f"/settings/api-keys/{power_bi.id}"
    page = parse_html(admin_client.get(key_page))
    assert same_url(page.find("a", string="Roll key")["href"], f"{key_page}/roll", key_page)
    assert same_url(page.find("a", string="Delete key")["href"], f"{key_page}/delete", key_page)

    actions.roll_key(power_bi, admin, timedelta(hours=24), None)  # rolling: it works a day more, rolled once
    db.session.commit()
    page = parse_html(admin_client.get(key_page))
    assert page.find("a", string="Roll key") is None and page.find("a", string="Delete key") is not None
    assert same_url(page.find("a", string="Stop old key now")["href"], f"{key_page}/stop", key_page)


def test_the_page_never_holds_the_key_itself(admin_client, admin, make_key):
    key, plaintext = make_key(admin)

    body = admin_client.get(f"/settings/api-keys/{key.id}").get_data(as_text=True)

    assert plaintext not in body and plaintext[:12] not in body and key.digest not in body
    assert key.hint in body


def test_the_key_name_in_the_list_links_to_its_page(admin_client, power_bi):
    for headers in ({}, HTMX):
        page = parse_html(admin_client.get("/settings/api-keys", headers=headers))
        link = page.find("tr", id=f"key-{power_bi.id}").find("th").find("a")
        assert link.get("href") == f"/settings/api-keys/{power_bi.id}"
        assert text_of(link) == "Power BI"


def test_the_page_shows_only_the_keys_own_events_newest_first(admin_client, admin, power_bi, make_key):
    other, _ = make_key(admin, name="Other")
    edit(admin_client, power_bi, name="Power BI prod")
    edit(admin_client, other, name="Other renamed")
    edit(admin_client, power_bi, description="")

    page = parse_html(admin_client.get(f"/settings/api-keys/{power_bi.id}"))

    rows = page.find(id="activity").find("tbody").find_all("tr")
    assert [text_of(row.find_all("td")[1]) for row in rows] == ["Description changed", "Key renamed"]
    assert "Other" not in text_of(page.find(id="activity"))


def test_the_keys_events_are_paged_like_the_activity_list(admin_client, admin, power_bi):
    for number in range(PAGE_SIZE + 2):
        db.session.add(AuditEvent(team_id=power_bi.team_id, kind=AuditKind.API_REFUSED, api_key_id=power_bi.id,
                                  key_hint=power_bi.hint, detail=f"refusal {number}",
                                  created_at=utcnow() - timedelta(minutes=100 - number)))
    db.session.commit()
    url = f"/settings/api-keys/{power_bi.id}"

    first = parse_html(admin_client.get(url)).find(id="activity")
    older = first.find("a", string="Older")
    assert older.get("href").startswith(f"{url}?before=")
    details = [text_of(row.find_all("td")[5]) for row in first.find("tbody").find_all("tr")]
    assert details == [f"refusal {number}" for number in range(PAGE_SIZE + 1, 1, -1)]

    second = admin_client.get(older.get("href"), headers=HTMX)
    fragment = parse_html(second)
    assert fragment.find().get("id") == "activity" and "<html" not in second.get_data(as_text=True)
    assert [text_of(row.find_all("td")[5]) for row in fragment.find("tbody").find_all("tr")] == [
        "refusal 1", "refusal 0"]
    assert fragment.find("a", string="Newest").get("href") == url


def test_another_keys_event_as_the_page_anchor_shows_nothing(admin_client, admin, power_bi, make_key):
    other, _ = make_key(admin, name="Other")
    edit(admin_client, other, name="Other renamed")
    [event] = key_events(other, AuditKind.KEY_RENAMED)

    page = parse_html(admin_client.get(f"/settings/api-keys/{power_bi.id}?before={event.id}"))

    assert "No older activity." in text_of(page.find(id="activity"))


# ---------------------------------------------------------------- editing


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_renaming_changes_the_name_only_and_is_audited_with_before_and_after(client, admin, power_bi, htmx):
    log_in(client, admin)
    digest, hint = power_bi.digest, power_bi.hint

    response = edit(client, power_bi, htmx=htmx, name="  Ｐｏｗｅｒ BI prod ")

    if htmx:
        assert response.status_code == 200
        fragment = parse_html(response)
        assert fragment.find().get("id") == "key-page"
        assert text_of(fragment.find("h1")) == "Power BI prod"
        assert text_of(fragment.find("p", role="status")) == "Saved."
        assert fragment.find("input", id="name").get("value") == "Power BI prod"
        assert response.headers["HX-Trigger"] == "keys-changed"  # the page's Activity list reloads itself
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == f"/settings/api-keys/{power_bi.id}"
        landed = parse_html(client.get(response.headers["Location"]))
        assert "Saved." in text_of(landed.find("div", class_="flashes"))
        assert text_of(landed.find("h1")) == "Power BI prod"
    key = reload(power_bi)
    assert (key.name, key.digest, key.hint) == ("Power BI prod", digest, hint)
    assert key.description == "Finance dashboards\nrefreshed hourly"
    [event] = key_events(key, AuditKind.KEY_RENAMED, AuditKind.KEY_DESCRIBED)
    assert event.kind is AuditKind.KEY_RENAMED and event.kind.label == "Key renamed"
    assert event.detail == "From “Power BI” to “Power BI prod”"
    assert (event.user_id, event.key_name, event.key_hint) == (admin.id, "Power BI prod", hint)


def test_the_renamed_key_still_works(admin_client, admin, make_key):
    key, plaintext = make_key(admin, name="Looker")

    assert edit(admin_client, key, name="Looker BI").status_code == 303

    response = admin_client.get(ME, headers={"x-api-key": plaintext})
    assert response.status_code == 200
    assert response.get_json()["data"]["name"] == "Looker BI"


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_changing_the_description_is_audited_and_emptying_it_removes_it(admin_client, power_bi, htmx):
    assert edit(admin_client, power_bi, htmx=htmx, description="  Line one\r\nLine two  ").status_code in (200, 303)
    assert reload(power_bi).description == "Line one\nLine two"
    assert edit(admin_client, reload(power_bi), htmx=htmx, description="   ").status_code in (200, 303)
    assert reload(power_bi).description is None

    changed, emptied = key_events(power_bi, AuditKind.KEY_RENAMED, AuditKind.KEY_DESCRIBED)
    assert {changed.kind, emptied.kind} == {AuditKind.KEY_DESCRIBED}
    assert changed.detail == "From “Finance dashboards\nrefreshed hourly” to “Line one\nLine two”"
    assert emptied.detail == "From “Line one\nLine two” to none"
    assert AuditKind.KEY_DESCRIBED.label == "Description changed"


def test_a_500_character_description_is_kept_whole_in_the_key_and_its_audit_event(admin_client, power_bi):
    description = "d" * 499 + "é"

    assert edit(admin_client, power_bi, name="n" * 100, description=description).status_code == 303

    assert reload(power_bi).description == description
    renamed, described = key_events(power_bi, AuditKind.KEY_RENAMED, AuditKind.KEY_DESCRIBED)
    assert renamed.detail == f"From “Power BI” to “{'n' * 100}”"
    assert described.detail.endswith(f"to “{description}”")


def test_saving_without_a_change_records_nothing(admin_client, power_bi):
    response = edit(admin_client, power_bi, htmx=True)

    assert response.status_code == 200
    assert text_of(parse_html(response).find("p", role="status")) == "Nothing changed."
    assert "HX-Trigger" not in response.headers
    assert key_events(power_bi, AuditKind.KEY_RENAMED, AuditKind.KEY_DESCRIBED) == []


def test_a_key_may_take_its_own_name_in_another_case(admin_client, power_bi):
    assert edit(admin_client, power_bi, name="POWER BI").status_code == 303
    assert reload(power_bi).name == "POWER BI"


@pytest.mark.parametrize("status", ["expired", "deactivated"])
def test_the_name_of_a_key_that_no_longer_works_may_be_taken(admin_client, admin, make_key, team, status):
    fields = ({"expires_on": team.today() - timedelta(days=1)} if status == "expired"
              else {"deleted_at": utcnow(), "deleted_by_id": admin.id})
    make_key(admin, name="Tableau", **fields)
    key, _ = make_key(admin, name="Looker")

    assert edit(admin_client, key, name="tableau").status_code == 303
    assert reload(key).name == "tableau"


INVALID_EDITS = [
    *((case, {"name": name}, "name", message) for case, name, message in INVALID_NAMES),
    ("description too long", {"description": "d" * 501}, "description", "Use at most 500 characters."),
    ("control character in description", {"description": "bell\x07"}, "description",
     "no control characters or invisible formatting"),
    ("NUL in description", {"description": "nul\x00"}, "description", "no control characters"),
    ("a key in the description", {"description": f"the key is {tokens.generate()} ok"}, "description",
     "This holds an API key."),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize(("fields", "field", "message"), [case[1:] for case in INVALID_EDITS],
                         ids=[case[0] for case in INVALID_EDITS])
def test_an_invalid_edit_is_a_422_with_the_error_next_to_its_field(admin_client, admin, make_key, fields, field,
                                                                    message, htmx):
    make_key(admin, name="Power BI")
    key, _ = make_key(admin, name="Looker", description="As it was")

    response = edit(admin_client, key, htmx=htmx, **fields)

    assert response.status_code == 422
    page = parse_html(response)
    assert (page.find().get("id") == "key-page") is htmx
    assert_error_next_to(page, field, message)
    assert page.find(attrs={"name": field}).get("autofocus") is not None
    key = reload(key)
    assert (key.name, key.description) == ("Looker", "As it was")
    assert key_events(key, AuditKind.KEY_RENAMED, AuditKind.KEY_DESCRIBED) == []


def test_an_invalid_edit_keeps_what_was_typed(admin_client, power_bi):
    page = parse_html(edit(admin_client, power_bi, name="", description="New words"))

    # (HTML drops the newline that starts a textarea's content.)
    assert page.find("textarea", id="description").get_text().removeprefix("\r\n") == "New words"
    assert text_of(page.find("h1")) == "Power BI"  # the page still names the key as it is


@pytest.mark.parametrize("status", ["expired", "deactivated"])
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_key_that_no_longer_works_cannot_be_edited(admin_client, admin, make_key, team, status, htmx):
    fields = ({"expires_on": team.today() - timedelta(days=1)} if status == "expired"
              else {"deleted_at": utcnow(), "deleted_by_id": admin.id})
    key, _ = make_key(admin, name="Tableau", **fields)

    response = edit(admin_client, key, htmx=htmx, name="Renamed", description="New")

    assert response.status_code == 409
    assert "can no longer be changed" in text_of(parse_html(response).find("section", class_="key-edit"))
    key = reload(key)
    assert (key.name, key.description) == ("Tableau", None)
    assert key_events(key, AuditKind.KEY_RENAMED, AuditKind.KEY_DESCRIBED) == []


def test_a_key_deactivated_while_the_edit_waited_for_the_name_lock_is_not_edited(app, admin, power_bi, monkeypatch):
    hold_names = queries.hold_names

    def deactivated_meanwhile(team):
        hold_names(team)
        # Another admin's delete, committed before this edit took the lock.
        db.session.execute(ApiKey.__table__.update().where(ApiKey.id == power_bi.id)
                           .values(deleted_at=utcnow(), deleted_by_id=admin.id))

    monkeypatch.setattr(queries, "hold_names", deactivated_meanwhile)

    with pytest.raises(KeyStopped):
        actions.edit_key(power_bi, "Renamed", None, by=admin)


def test_a_name_taken_after_the_form_was_read_is_refused_under_the_lock(app, admin, power_bi, make_key):
    make_key(admin, name="Looker")

    with pytest.raises(NameTaken):
        actions.edit_key(power_bi, "LOOKER", power_bi.description, by=admin)


def test_the_page_costs_the_same_statements_with_one_event_as_with_many(admin_client, admin, power_bi):
    def page_statements() -> int:
        db.session.expire_all()
        with statements_sent() as sent:
            assert admin_client.get(f"/settings/api-keys/{power_bi.id}").status_code == 200
        return len(sent)

    edit(admin_client, power_bi, name="Power BI 0")
    one = page_statements()
    for number in range(1, 10):
        edit(admin_client, reload(power_bi), name=f"Power BI {number}")
    assert page_statements() == one


# ---------------------------------------------------------------- created with a description


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_description_entered_at_create_is_on_the_keys_page(admin_client, htmx):
    response = admin_client.post("/settings/api-keys", headers=HTMX if htmx else {}, data={
        "name": "Looker", "description": " Board pack ", "expiration": "90", "services": ["checklists"],
        "csrf_token": csrf_token(admin_client, "/settings/api-keys")})

    assert response.status_code == 201
    key = db.session.scalars(select(ApiKey)).one()
    assert key.description == "Board pack"
    assert facts(parse_html(admin_client.get(f"/settings/api-keys/{key.id}")))["Description"] == "Board pack"


def test_an_invalid_description_at_create_is_refused_next_to_its_field(admin_client):
    response = admin_client.post("/settings/api-keys", headers=HTMX, data={
        "name": "Looker", "description": "d" * 501, "expiration": "90", "services": ["checklists"],
        "csrf_token": csrf_token(admin_client, "/settings/api-keys")})

    assert response.status_code == 422
    assert_error_next_to(parse_html(response), "description", "Use at most 500 characters.")
    assert db.session.scalars(select(ApiKey)).all() == []

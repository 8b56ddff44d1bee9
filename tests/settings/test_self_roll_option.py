"""Scripts may roll this key: off by default, chosen in Create New Key and changed on the key's page, audited."""

from sqlalchemy import select

from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys.models import ApiKey
from helpers import HTMX, csrf_token, parse_html, reload


def create(client, **fields):
    data = {"name": "Power BI", "expiration": "90", "services": ["reconciliations"], **fields,
            "csrf_token": csrf_token(client, "/settings/api-keys")}
    return client.post("/settings/api-keys", data=data, headers=HTMX)


def events(kind) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind)))


def test_the_create_dialog_offers_it_unticked(admin_client):
    page = parse_html(admin_client.get("/settings/api-keys/new"))
    box = page.find("input", attrs={"name": "self_roll"})
    assert box["type"] == "checkbox" and not box.has_attr("checked")
    assert box.find_parent("label").get_text(strip=True) == "Scripts may roll this key"


def test_a_key_is_created_without_it_by_default(admin_client):
    assert create(admin_client).status_code == 201
    assert db.session.scalar(select(ApiKey)).self_roll_allowed is False


def test_a_key_created_with_it_may_roll_itself_and_the_creation_says_so(admin_client):
    assert create(admin_client, self_roll="y").status_code == 201
    key = db.session.scalar(select(ApiKey))
    assert key.self_roll_allowed is True
    [created] = events(AuditKind.KEY_CREATED)
    assert created.detail == "Scripts may roll this key."


def test_the_key_page_turns_it_on_and_off_with_an_audit_event_each(admin_client, admin, make_key):
    key, _ = make_key(admin, name="Nightly load")

    def save(**fields):
        data = {"name": "Nightly load", "description": "", **fields,
                "csrf_token": csrf_token(admin_client, f"/settings/api-keys/{key.id}")}
        return admin_client.post(f"/settings/api-keys/{key.id}", data=data, headers=HTMX)

    page = save(self_roll="y")
    assert page.status_code == 200
    assert reload(key).self_roll_allowed is True
    shown = parse_html(page)
    assert shown.find("input", attrs={"name": "self_roll"}).has_attr("checked")
    assert "Saved." in shown.get_text()

    assert save().status_code == 200
    assert reload(key).self_roll_allowed is False
    changes = events(AuditKind.SELF_ROLL_CHANGED)
    assert [event.detail for event in changes] == ["Scripts may roll this key.", "Scripts may not roll this key."]
    assert {event.kind.label for event in changes} == {"Scripts may roll changed"}
    assert all(event.user_id == admin.id for event in changes)


def test_saving_the_page_unchanged_records_nothing(admin_client, admin, make_key):
    key, _ = make_key(admin, name="Nightly load", self_roll_allowed=True)
    data = {"name": "Nightly load", "description": "", "self_roll": "y",
            "csrf_token": csrf_token(admin_client, f"/settings/api-keys/{key.id}")}
    page = admin_client.post(f"/settings/api-keys/{key.id}", data=data, headers=HTMX)
    assert "Nothing changed." in parse_html(page).get_text()
    assert events(AuditKind.SELF_ROLL_CHANGED) == []

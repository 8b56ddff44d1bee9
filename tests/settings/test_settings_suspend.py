"""Suspend key and Resume key in the one confirmation dialog, from the list and from a key's page, with htmx and
without JavaScript; the Suspended tab and its count; the Reason the dialog asks for, checked and kept on an error."""

import pytest
from sqlalchemy import select

from floqast.accounts.models import Role
from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.models import KeyStatus
from helpers import (
    HTMX,
    ME,
    assert_api_error,
    csrf_token,
    key_rows,
    log_in,
    parse_html,
    reload,
    same_url,
    tab_counts,
    text_of,
    with_next,
)

LIST = "/settings/api-keys?status=active"
REASON = "Vendor dispute: paused until legal signs off"


@pytest.fixture
def vendor_key(admin, make_key):
    return make_key(admin, name="BI vendor")


def suspend(client, key, reason=REASON, back=LIST, htmx=True):
    data = {"csrf_token": csrf_token(client, "/settings/api-keys"), "suspend-reason": reason}
    return client.post(with_next(f"/settings/api-keys/{key.id}/suspend", back), data=data,
                       headers=HTMX if htmx else {})


def resume(client, key, back="/settings/api-keys?status=suspended", htmx=True):
    data = {"csrf_token": csrf_token(client, "/settings/api-keys")}
    return client.post(with_next(f"/settings/api-keys/{key.id}/resume", back), data=data,
                       headers=HTMX if htmx else {})


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_the_rows_suspend_link_opens_the_dialog_that_asks_for_a_reason(admin_client, vendor_key, htmx):
    key, _ = vendor_key
    link = parse_html(admin_client.get(LIST)).find("tr", id=f"key-{key.id}").find("a", id=f"suspend-{key.id}")
    assert link.get("aria-label") == "Suspend key BI vendor"
    assert link.get("hx-get") == link.get("href") and link.get("hx-target") == "#dialog-slot"
    assert same_url(link.get("href"), f"/settings/api-keys/{key.id}/suspend", LIST)

    response = admin_client.get(link.get("href"), headers=HTMX if htmx else {})

    assert response.status_code == 200
    page = parse_html(response)
    assert text_of(page.find("h2" if htmx else "h1")) == "Suspend API key"
    form = page.find("form", id="key-dialog-form")
    assert same_url(form.get("action"), f"/settings/api-keys/{key.id}/suspend", LIST)
    assert text_of(form.find("label", attrs={"for": "suspend-reason"})) == "Reason"
    field = form.find("input", id="suspend-reason")
    assert field.get("maxlength") == "200" and "autofocus" in field.attrs
    assert text_of(form.find("button", type="submit")) == "Suspend key"
    assert form.find("a", string="Cancel").get("href") == LIST


def test_suspending_from_the_list_refuses_the_key_and_lists_it_under_suspended(admin_client, admin, api_get,
                                                                                vendor_key):
    key, plaintext = vendor_key

    response = suspend(admin_client, key)

    assert response.headers["HX-Retarget"] == "#key-list"
    page = parse_html(response)
    assert "“BI vendor” was suspended." in text_of(page.find("p", role="status"))
    assert tab_counts(page) == {"active": "0", "suspended": "1", "expired": "0", "deactivated": "0", "all": "1"}
    assert reload(key).status(key.team.today()) is KeyStatus.SUSPENDED
    day = reload(key).suspended_at.date().isoformat()
    assert_api_error(api_get(ME, plaintext), 401, f"This API key was suspended on {day}: {REASON}.")

    suspended_tab = parse_html(admin_client.get("/settings/api-keys?status=suspended"))
    [row] = key_rows(suspended_tab)
    assert "Suspended" in text_of(row) and f"Reason: {REASON}" in text_of(row)
    assert row.find("a", id=f"resume-{key.id}").get("aria-label") == "Resume key BI vendor"
    assert row.find("a", attrs={"aria-label": "Roll key BI vendor"}) is None  # not rolled until resumed
    assert row.find("a", attrs={"aria-label": "Delete key BI vendor"}) is not None


def test_resuming_lets_the_key_work_again(admin_client, admin, api_get, vendor_key):
    key, plaintext = vendor_key
    suspend(admin_client, key)
    dialog = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/resume", headers=HTMX))
    assert text_of(dialog.find("h2")) == "Resume API key"
    assert REASON in text_of(dialog.find("form"))
    assert text_of(dialog.find("button", type="submit")) == "Resume key"

    response = resume(admin_client, key)

    assert "“BI vendor” was resumed. Requests with it work again." in text_of(parse_html(response).find(role="status"))
    assert reload(key).status(key.team.today()) is KeyStatus.ACTIVE
    assert api_get(ME, plaintext).status_code == 200
    kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.api_key_id == key.id)
                               .order_by(AuditEvent.id)).all()
    assert kinds == [AuditKind.KEY_SUSPENDED, AuditKind.KEY_RESUMED]


@pytest.mark.parametrize("reason, error", [
    ("   ", "Say why the key is suspended: requests with it are refused with this reason."),
    ("x" * 201, "Use at most 200 characters."),
    ("Paused\u202eevil", "The reason holds U+202E (RIGHT-TO-LEFT OVERRIDE)."),
])
def test_a_missing_or_bad_reason_is_a_422_in_the_dialog_that_keeps_what_was_typed(admin_client, api_get, vendor_key,
                                                                                  reason, error):
    key, plaintext = vendor_key

    response = suspend(admin_client, key, reason)

    assert response.status_code == 422
    form = parse_html(response).find("form", id="key-dialog-form")
    assert error in text_of(form.find(class_="field-error"))
    field = form.find("input", id="suspend-reason")
    assert field.get("aria-invalid") == "true"
    assert field.get("value", "") == reason.strip()
    assert reload(key).suspended_at is None
    assert api_get(ME, plaintext).status_code == 200


def test_suspend_and_resume_without_javascript_from_the_keys_page(admin_client, vendor_key):
    key, _ = vendor_key
    key_page = f"/settings/api-keys/{key.id}"
    page = parse_html(admin_client.get(key_page))
    confirm = parse_html(admin_client.get(page.find("a", id="page-suspend").get("href")))
    assert text_of(confirm.find("h1")) == "Suspend API key"
    assert confirm.find("a", string="Cancel").get("href") == key_page

    response = suspend(admin_client, key, back=key_page, htmx=False)

    assert (response.status_code, response.headers["Location"]) == (303, key_page)
    page = parse_html(admin_client.get(key_page))
    assert "was suspended" in text_of(page.find(class_="flash") or page.find(role="status"))
    facts = text_of(page.find("dl", class_="key-facts"))
    assert f"Reason{REASON}" in facts and "by Alex Admin" in facts
    assert page.find("a", id="page-suspend") is None and page.find("a", id="page-roll") is None

    response = resume(admin_client, key, back=key_page, htmx=False)

    assert (response.status_code, response.headers["Location"]) == (303, key_page)
    assert parse_html(admin_client.get(key_page)).find("a", id="page-suspend") is not None


def test_a_key_suspended_meanwhile_is_a_409_saying_when(admin_client, admin, vendor_key):
    key, _ = vendor_key
    actions.suspend_key(key, admin, "First")
    db.session.commit()

    response = suspend(admin_client, key, "Second")

    assert response.status_code == 409
    assert "was already suspended on" in text_of(parse_html(response).find(role="alert"))
    assert reload(key).suspended_reason == "First"


def test_a_key_that_is_not_suspended_cannot_be_resumed(admin_client, vendor_key):
    key, _ = vendor_key
    response = resume(admin_client, key)
    assert response.status_code == 409
    assert "“BI vendor” is not suspended: it is Active." in text_of(parse_html(response).find(role="alert"))


def test_a_suspend_without_the_csrf_token_is_refused(admin_client, vendor_key):
    key, _ = vendor_key
    response = admin_client.post(f"/settings/api-keys/{key.id}/suspend", data={"suspend-reason": REASON},
                                 headers=HTMX)
    assert response.status_code == 400
    assert reload(key).suspended_at is None


def test_another_teams_key_cannot_be_suspended(client, make_team, make_user, make_key, vendor_key):
    key, _ = vendor_key
    globex = make_team("Globex")
    log_in(client, make_user(globex, Role.ADMIN, email="gale@globex.test"))
    assert client.get(f"/settings/api-keys/{key.id}/suspend").status_code == 404
    assert suspend(client, key).status_code == 404
    assert reload(key).suspended_at is None


def test_a_suspended_keys_name_and_allowed_addresses_can_still_change(admin_client, admin, vendor_key):
    key, _ = vendor_key
    actions.suspend_key(key, admin, REASON)
    db.session.commit()
    key_page = f"/settings/api-keys/{key.id}"
    token = csrf_token(admin_client, key_page)

    renamed = admin_client.post(key_page, data={"csrf_token": token, "name": "BI vendor (paused)", "description": ""})
    addresses = admin_client.post(f"{key_page}/allowed-ips", data={"csrf_token": token, "allowed_ips": "203.0.113.7"})

    assert (renamed.status_code, addresses.status_code) == (303, 303)
    assert (reload(key).name, reload(key).allowed_ips) == ("BI vendor (paused)", "203.0.113.7/32")
    assert reload(key).status(key.team.today()) is KeyStatus.SUSPENDED

"""Deleting (deactivating) keys through the confirmation dialog: with htmx from the list and from a key's page, as a
page of its own without JavaScript, twice, and not another team's."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from floqast.accounts.models import Role
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.models import ApiKey
from helpers import (
    HTMX,
    ROOT,
    cells,
    csrf_token,
    log_in,
    parse_html,
    row_names,
    same_url,
    tab_counts,
    text_of,
    with_next,
)

LIST = "/settings/api-keys?status=active"


def htmx_delete(client, key, back=LIST):
    """Confirm a delete in the dialog, as htmx sends it (a DELETE, no form data, the token in a header)."""
    token = csrf_token(client, "/settings/api-keys")
    return client.delete(with_next(f"/settings/api-keys/{key.id}", back), headers={**HTMX, "X-CSRFToken": token})


def test_htmx_delete_from_the_list_answers_with_the_list_and_closes_the_dialog(admin_client, admin,
                                                                            keys_in_every_status, team):
    key = keys_in_every_status["Forever"]

    response = htmx_delete(admin_client, key)

    assert response.status_code == 200
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#key-list", "outerHTML")
    assert response.headers["HX-Trigger"] == "keys-changed"
    body = response.get_data(as_text=True)
    assert "<html" not in body
    page = parse_html(body)
    assert page.find().get("id") == "key-list"
    assert "“Forever” was deactivated." in text_of(page.find("p", role="status"))
    assert page.find("hx-partial", attrs={"hx-target": "#dialog-slot"}).text.strip() == ""
    assert row_names(page) == {"Last day"}
    assert tab_counts(page) == {"active": "1", "suspended": "0", "expired": "1", "deactivated": "3", "all": "5"}

    db.session.refresh(key)
    assert key.deleted_by_id == admin.id
    assert abs(key.deleted_at - utcnow()) < timedelta(minutes=1)

    deactivated = parse_html(admin_client.get("/settings/api-keys?status=deactivated", headers=HTMX))
    assert "Forever" in row_names(deactivated)
    stopped = key.deleted_at.astimezone(team.zone)
    assert cells(deactivated, key)[7] == f"Deactivated on {stopped:%b} {stopped.day}, {stopped.year}"
    assert deactivated.find("tr", id=f"key-{key.id}").find("td", class_="actions").find("a") is None


def test_htmx_delete_keeps_the_tab_and_search_it_was_asked_from(admin_client, keys_in_every_status):
    page = parse_html(htmx_delete(admin_client, keys_in_every_status["Forever"],
                                  back="/settings/api-keys?status=all&q=for"))

    assert page.find("a", attrs={"aria-selected": "true"}).get("id") == "tab-all"
    assert page.find("input", attrs={"name": "q"}).get("value") == "for"
    assert row_names(page) == {"Forever"}
    assert cells(page, keys_in_every_status["Forever"])[7].startswith("Deactivated on")


def test_deleting_again_is_not_an_error_and_changes_nothing(client, team, admin, make_user, keys_in_every_status):
    key = keys_in_every_status["Forever"]
    log_in(client, admin)
    htmx_delete(client, key)
    db.session.refresh(key)
    first = (key.deleted_at, key.deleted_by_id)

    log_in(client, make_user(team, Role.SYSADMIN))
    response = htmx_delete(client, key)

    assert response.status_code == 200
    assert "was already deactivated on" in text_of(parse_html(response).find("p", role="status"))
    db.session.refresh(key)
    assert (key.deleted_at, key.deleted_by_id) == first
    # And its dialog says so in place of the Delete key button.
    dialog = parse_html(client.get(with_next(f"/settings/api-keys/{key.id}/delete", LIST), headers=HTMX))
    assert "was already deactivated on" in text_of(dialog.find(role="alert"))
    assert dialog.find("button", type="submit") is None


def test_no_js_delete_is_a_page_in_the_settings_layout_then_goes_back_with_a_message(admin_client, admin,
                                                                                   keys_in_every_status):
    key = keys_in_every_status["Forever"]
    back = "/settings/api-keys?status=all"

    confirm = admin_client.get(with_next(f"/settings/api-keys/{key.id}/delete", back))

    assert confirm.status_code == 200
    page = parse_html(confirm)
    assert page.find("nav", attrs={"aria-label": "Admin Settings"}) is not None
    assert text_of(page.find("h1")) == "Delete API key"
    assert "Forever" in text_of(page.find("dl", class_="dialog-facts"))
    assert key.hint in text_of(page.find("dl", class_="dialog-facts"))
    form = page.find("form", id="key-dialog-form")
    assert form.get("method") == "post"
    assert same_url(form.get("action"), f"/settings/api-keys/{key.id}/delete", back)
    assert form.find("a", string="Cancel").get("href") == back
    db.session.refresh(key)
    assert key.deleted_at is None  # asking is not deleting

    token = form.find("input", attrs={"name": "csrf_token"}).get("value")
    response = admin_client.post(form.get("action"), data={"csrf_token": token})

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (location.path, location.query) == ("/settings/api-keys", "status=all")
    landed = parse_html(admin_client.get(response.headers["Location"]))
    assert "“Forever” was deactivated." in text_of(landed.find("div", class_="flashes"))
    assert cells(landed, key)[7].startswith("Deactivated on")
    db.session.refresh(key)
    assert key.deleted_by_id == admin.id and key.deleted_at is not None

    again = admin_client.post(form.get("action"), data={"csrf_token": token}, follow_redirects=True)
    assert again.status_code == 200
    assert "was already deactivated on" in text_of(parse_html(again).find("div", class_="flashes"))


def test_delete_from_a_keys_page_goes_back_to_that_page(admin_client, keys_in_every_status):
    key = keys_in_every_status["Forever"]
    key_page = f"/settings/api-keys/{key.id}"
    link = parse_html(admin_client.get(key_page)).find("a", id="page-delete")
    assert link.get("href") == link.get("hx-get")
    assert same_url(link.get("href"), f"{key_page}/delete", key_page)
    dialog = parse_html(admin_client.get(link.get("href"), headers=HTMX))
    assert dialog.find("a", string="Cancel").get("href") == key_page

    # With htmx the page loads again (everything on it changes), saying what happened.
    response = htmx_delete(admin_client, key, back=key_page)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == key_page
    landed = parse_html(admin_client.get(key_page))
    assert "“Forever” was deactivated." in text_of(landed.find("div", class_="flashes"))
    assert landed.find("a", id="page-delete") is None


@pytest.mark.parametrize("back", ["https://evil.example/settings", "//evil.example", "/\\evil.example", ""])
def test_a_next_off_this_site_is_ignored_for_the_list(admin_client, keys_in_every_status, back):
    key = keys_in_every_status["Forever"]
    page = parse_html(admin_client.get(with_next(f"/settings/api-keys/{key.id}/delete", back)))
    assert page.find("a", string="Cancel").get("href") == "/settings/api-keys"

    token = csrf_token(admin_client, "/settings/api-keys")
    response = admin_client.post(with_next(f"/settings/api-keys/{key.id}/delete", back), data={"csrf_token": token})
    assert response.headers["Location"] == "/settings/api-keys"


@pytest.mark.parametrize("how", ["htmx", "confirm page", "form post"])
def test_deleting_another_teams_key_or_a_missing_one_is_404(admin_client, make_team, make_user, make_key, how):
    other, _ = make_key(make_user(make_team("Globex")), name="Globex key")
    token = csrf_token(admin_client, "/settings/api-keys")

    for key_id in (other.id, other.id + 1000):
        if how == "htmx":
            response = admin_client.delete(f"/settings/api-keys/{key_id}", headers={**HTMX, "X-CSRFToken": token})
        elif how == "confirm page":
            response = admin_client.get(f"/settings/api-keys/{key_id}/delete")
        else:
            response = admin_client.post(f"/settings/api-keys/{key_id}/delete", data={"csrf_token": token})
        assert response.status_code == 404

    db.session.refresh(other)
    assert other.deleted_at is None


def test_a_deleted_key_keeps_its_row_creator_and_history(admin_client, admin, keys_in_every_status):
    key = keys_in_every_status["Forever"]
    htmx_delete(admin_client, key)

    db.session.refresh(key)
    assert db.session.get(ApiKey, key.id) is not None
    assert key.created_by_id == admin.id
    assert cells(parse_html(admin_client.get("/settings/api-keys?status=all")), key)[3] == "Alex Admin"


def test_an_expired_key_can_be_deleted_too(admin_client, keys_in_every_status):
    key = keys_in_every_status["Lapsed"]
    row = parse_html(admin_client.get("/settings/api-keys?status=expired")).find("tr", id=f"key-{key.id}")
    assert row.find("a", attrs={"aria-label": "Delete key Lapsed"}) is not None

    htmx_delete(admin_client, key, back="/settings/api-keys?status=expired")

    db.session.refresh(key)
    assert key.deleted_at is not None


def test_no_page_or_script_asks_through_the_browsers_own_confirm():
    """Every confirmation is the app's dialog: no hx-confirm (which calls confirm()) and no confirm() in app.js."""
    sources = [*(ROOT / "templates").rglob("*.html"), ROOT / "static" / "app.js"]
    for source in sources:
        text = source.read_text()
        assert "hx-confirm" not in text and "confirm(" not in text, source.name

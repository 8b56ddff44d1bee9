"""Deleting (deactivating) keys: with htmx, through the no-JavaScript confirmation page, twice, and not
another team's."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from floqast.extensions import db
from floqast.models import ApiKey, Role, utcnow
from helpers import HTMX, cells, csrf_token, log_in, parse_html, row_names, tab_counts, text_of


def htmx_delete(client, key, status="active"):
    token = csrf_token(client, "/settings/api-keys")
    return client.delete(f"/settings/api-keys/{key.id}?status={status}", headers={**HTMX, "X-CSRFToken": token})


def test_htmx_delete_moves_the_row_to_deactivated(admin_client, admin, keys_in_every_status, team):
    key = keys_in_every_status["Forever"]

    response = htmx_delete(admin_client, key)

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body
    page = parse_html(body)
    assert page.find().get("id") == "key-list"
    assert "“Forever” was deactivated." in text_of(page.find("p", role="status"))
    assert row_names(page) == {"Last day"}
    assert tab_counts(page) == {"active": "1", "expired": "1", "deactivated": "3", "all": "5"}

    db.session.refresh(key)
    assert key.deleted_by_id == admin.id
    assert abs(key.deleted_at - utcnow()) < timedelta(minutes=1)

    deactivated = parse_html(admin_client.get("/settings/api-keys?status=deactivated", headers=HTMX))
    assert "Forever" in row_names(deactivated)
    stopped = key.deleted_at.astimezone(team.zone)
    assert cells(deactivated, key)[7] == f"Deactivated on {stopped:%b} {stopped.day}, {stopped.year}"
    assert deactivated.find("tr", id=f"key-{key.id}").find("td", class_="actions").find("a") is None


def test_htmx_delete_keeps_the_tab_it_was_asked_from(admin_client, keys_in_every_status):
    page = parse_html(htmx_delete(admin_client, keys_in_every_status["Forever"], status="all"))

    assert page.find("a", attrs={"aria-selected": "true"}).get("id") == "tab-all"
    assert "Forever" in row_names(page)
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


def test_no_js_delete_confirms_then_redirects_with_a_message(admin_client, admin, keys_in_every_status):
    key = keys_in_every_status["Forever"]

    confirm = admin_client.get(f"/settings/api-keys/{key.id}/delete?status=all")

    assert confirm.status_code == 200
    page = parse_html(confirm)
    assert text_of(page.find("h1")) == "Delete the API key “Forever”?"
    assert key.hint in text_of(page)
    form = page.find("form", action=f"/settings/api-keys/{key.id}/delete?status=all")
    assert form.get("method") == "post"
    assert form.find("a").get("href") == "/settings/api-keys?status=all"
    db.session.refresh(key)
    assert key.deleted_at is None  # asking is not deleting

    token = form.find("input", attrs={"name": "csrf_token"}).get("value")
    response = admin_client.post(form.get("action"), data={"csrf_token": token})

    assert response.status_code == 302
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


# ---- the facts in front of you ----


@pytest.mark.parametrize(("last_used", "ip", "says"), [
    (timedelta(minutes=3, seconds=10), "203.0.113.7",
     "Last used 3 minutes ago from 203.0.113.7. Anything using it stops working at once."),
    (timedelta(seconds=20), "2001:db8::7",
     "Last used just now from 2001:db8::7. Anything using it stops working at once."),
    (timedelta(days=2, hours=1), None, "Last used 2 days ago. Anything using it stops working at once."),
    (None, None, "This key has never been used."),
], ids=["minutes", "just now", "no address", "never"])
def test_both_confirmations_say_when_and_from_where_the_key_was_last_used(admin_client, admin, make_key, last_used,
                                                                          ip, says):
    key, _ = make_key(admin, name="Looker", last_used_at=None if last_used is None else utcnow() - last_used,
                      last_used_ip=ip)

    confirm = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/delete"))
    assert says in text_of(confirm.find("section"))

    trash_can = parse_html(admin_client.get("/settings/api-keys")).find("a", attrs={"aria-label": "Delete key Looker"})
    assert trash_can.get("hx-confirm") == f"Delete the API key “Looker”? {says} This cannot be undone."

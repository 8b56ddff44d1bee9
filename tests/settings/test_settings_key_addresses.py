"""Where a key is used: the distinct addresses of its last 30 days of requests on its page, as the request log has
them, its Last used from agreeing with them, and Allow only these addresses through the confirmation dialog."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from helpers import CLIENT_IP, HTMX, ME, csrf_token, log_rows, parse_html, reload, same_url, text_of, with_next

OFFICE, WAREHOUSE, STRANGER = "198.51.100.24", "203.0.113.50", "192.0.2.66"


def pull(client, plaintext, ip, agent):
    return client.get(ME, headers={"x-api-key": plaintext, "User-Agent": agent}, environ_base={"REMOTE_ADDR": ip})


def address_rows(page) -> list[list[str]]:
    return [[text_of(cell) for cell in row.find_all("td")]
            for row in page.find("section", id="addresses").find("tbody").find_all("tr")]


def facts(page) -> dict[str, str]:
    return {text_of(div.find("dt")): text_of(div.find("dd"))
            for div in page.find("dl", class_="key-facts").find_all("div")}


@pytest.fixture
def used_key(app, client, admin, make_key):
    """A key pulled twice from the office, once from the warehouse (the latest), and refused from elsewhere: its
    allowed addresses are the office's and the warehouse's range."""
    key, plaintext = make_key(admin, name="Looker", allowed_ips=f"{OFFICE}/32,203.0.113.0/24")
    pull(client, plaintext, OFFICE, "Looker/24.2")
    pull(client, plaintext, OFFICE, "Looker/24.4")
    assert pull(client, plaintext, STRANGER, "curl/8.5.0").status_code == 403
    pull(client, plaintext, WAREHOUSE, "python-requests/2.32.3")
    return key


def test_the_page_lists_each_address_with_its_requests_last_time_and_user_agent(admin_client, used_key):
    page = parse_html(admin_client.get(f"/settings/api-keys/{used_key.id}"))

    rows = address_rows(page)
    assert [row[0] for row in rows] == [WAREHOUSE, STRANGER, OFFICE]  # the latest used first
    assert {row[0]: (row[1], row[2], row[4], row[5]) for row in rows} == {
        WAREHOUSE: ("1", "0", "python-requests/2.32.3", "Yes"),
        STRANGER: ("1", "1", "curl/8.5.0", "No"),
        OFFICE: ("2", "0", "Looker/24.4", "Yes"),
    }
    assert all(row[3] for row in rows)


def test_last_used_from_is_the_latest_accepted_request_in_the_log(admin_client, used_key):
    """Last used is written once a minute (from the office here), the log gets every request: the page says what
    the log says."""
    assert reload(used_key).last_used_ip == OFFICE

    page = parse_html(admin_client.get(f"/settings/api-keys/{used_key.id}"))

    assert facts(page)["Last used from"] == WAREHOUSE == address_rows(page)[0][0]
    assert facts(page)["Last user agent"] == "python-requests/2.32.3"


def test_a_key_without_requests_in_the_last_30_days_says_so(admin_client, admin, make_key):
    key, _ = make_key(admin, name="Quiet")

    section = parse_html(admin_client.get(f"/settings/api-keys/{key.id}")).find("section", id="addresses")

    assert "No requests with this key in the last 30 days." in text_of(section)
    assert section.find("a", id="allow-seen") is None


def test_requests_older_than_30_days_are_left_out(admin_client, admin, make_key):
    key, _ = make_key(admin, name="Looker")
    log_rows(key.team_id, key.id, utcnow() - timedelta(days=31), utcnow() - timedelta(days=29))

    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))

    assert [(row[0], row[1]) for row in address_rows(page)] == [(CLIENT_IP, "1")]


# ---- Allow only these addresses ----


def test_allow_only_these_addresses_asks_first_with_the_addresses_it_was_accepted_from(admin_client, used_key):
    key_page = f"/settings/api-keys/{used_key.id}"
    link = parse_html(admin_client.get(key_page)).find("a", id="allow-seen")
    assert text_of(link) == "Allow only these addresses"
    assert same_url(link.get("href"), f"{key_page}/allow-seen", key_page)
    assert link.get("hx-target") == "#dialog-slot"

    dialog = parse_html(admin_client.get(link.get("href"), headers=HTMX))

    assert text_of(dialog.find("h2")) == "Allow only these addresses"
    assert [text_of(item) for item in dialog.find("ul", class_="address-list").find_all("li")] == [WAREHOUSE, OFFICE]
    form = dialog.find("form", id="key-dialog-form")
    assert same_url(form.get("action"), f"{key_page}/allowed-ips", key_page)
    assert form.find("input", attrs={"name": "allowed_ips"}).get("value") == f"{WAREHOUSE}, {OFFICE}"
    assert form.find("a", string="Cancel").get("href") == key_page
    assert reload(used_key).allowed_ips == f"{OFFICE}/32,203.0.113.0/24"  # asking is not saving


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_confirming_saves_exactly_those_addresses_in_one_step(admin_client, admin, used_key, htmx):
    key_page = f"/settings/api-keys/{used_key.id}"
    dialog = parse_html(admin_client.get(with_next(f"{key_page}/allow-seen", key_page)))
    form = dialog.find("form", id="key-dialog-form")
    data = {field.get("name"): field.get("value") for field in form.find_all("input")}

    response = admin_client.post(form.get("action"), data=data, headers=HTMX if htmx else {})

    assert reload(used_key).allowed_ip_list == [OFFICE, WAREHOUSE]
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.ALLOWED_IPS_CHANGED))
    assert event.detail == f"Before: {OFFICE}, 203.0.113.0/24. After: {OFFICE}, {WAREHOUSE}."
    if htmx:
        assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#allowed-ips", "outerHTML")
        page = parse_html(response)
        assert "Saved: pulls with the key from any other address are refused" in text_of(page.find(role="status"))
        assert page.find("hx-partial", attrs={"hx-target": "#dialog-slot"}) is not None
    else:
        assert (response.status_code, response.headers["Location"]) == (303, key_page)


def test_nothing_to_allow_without_accepted_requests(admin_client, client, admin, make_key):
    key, plaintext = make_key(admin, name="Looker", allowed_ips=f"{OFFICE}/32")
    assert pull(client, plaintext, STRANGER, "curl/8.5.0").status_code == 403

    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))
    assert page.find("a", id="allow-seen") is None  # its only address was refused
    dialog = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/allow-seen", headers=HTMX))
    assert "there is nothing to allow" in text_of(dialog.find(role="alert"))
    assert dialog.find("button", type="submit") is None


def test_more_addresses_than_a_key_may_allow_are_refused_in_the_dialog(admin_client, client, admin, make_key):
    key, plaintext = make_key(admin, name="Looker")
    for number in range(21):
        pull(client, plaintext, f"198.51.100.{number + 1}", "Looker/24.2")

    dialog = parse_html(admin_client.get(f"/settings/api-keys/{key.id}/allow-seen", headers=HTMX))

    assert "used from 21 addresses, more than the 20" in text_of(dialog.find(role="alert"))
    assert dialog.find("input", attrs={"name": "allowed_ips"}) is None


def test_a_deactivated_key_has_no_allow_only_these_addresses(admin_client, used_key, admin):
    used_key.deleted_at, used_key.deleted_by_id = utcnow(), admin.id
    db.session.commit()

    page = parse_html(admin_client.get(f"/settings/api-keys/{used_key.id}"))

    assert len(address_rows(page)) == 3  # where it was used stays on its page
    assert page.find("a", id="allow-seen") is None
    token = csrf_token(admin_client, "/settings/api-keys")
    response = admin_client.post(f"/settings/api-keys/{used_key.id}/allowed-ips",
                                 data={"allowed_ips": OFFICE, "csrf_token": token}, headers=HTMX)
    assert response.status_code == 409

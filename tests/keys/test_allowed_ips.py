"""Allowed IP addresses per key: the list an admin types, the pulls it lets through or refuses, and its changes."""

import pytest
from sqlalchemy import select

from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import allowlist
from floqast.keys.allowlist import parse, shown
from floqast.keys.authenticate import Refusal, authenticate
from floqast.keys.models import ApiKey, Service
from helpers import CHECKLISTS, CLIENT_IP, HTMX, ME, assert_api_error, csrf_token, parse_html, reload, text_of

OFFICE = "203.0.113.0/24"  # holds CLIENT_IP
ELSEWHERE = "198.51.100.7"


def ranges(count: int) -> list[str]:
    return [f"10.{number}.0.0/16" for number in range(count)]


# ---------------------------------------------------------------- the list an admin types


def test_addresses_and_ranges_of_both_versions_are_stored_normalised_and_shown_as_people_write_them():
    stored = parse("203.0.113.7\n2001:DB8::/32  2001:db8:0:0::1\r\n198.51.100.0/24, ::ffff:192.0.2.1")

    # In one order (IPv4 first), so that the same set of networks is always stored the same way.
    assert stored == "192.0.2.1/32,198.51.100.0/24,203.0.113.7/32,2001:db8::/32,2001:db8::1/128"
    assert shown(stored) == ["192.0.2.1", "198.51.100.0/24", "203.0.113.7", "2001:db8::/32", "2001:db8::1"]


@pytest.mark.parametrize("separators", ["\n", ",", ", ", " ", "\r\n", ",\n", "\t"])
def test_entries_may_be_separated_by_lines_commas_or_spaces(separators):
    assert parse(separators.join(["203.0.113.7", "2001:db8::/32"])) == "203.0.113.7/32,2001:db8::/32"


@pytest.mark.parametrize("text", ["", "   ", "\n\n", ", ,"])
def test_an_empty_list_means_any_address(text):
    assert parse(text) is None


def test_an_entry_given_twice_is_kept_once():
    assert parse("203.0.113.7, 203.0.113.7/32\n::ffff:203.0.113.7") == "203.0.113.7/32"


def test_twenty_entries_are_allowed_and_twenty_one_refused():
    assert len(shown(parse("\n".join(ranges(20))))) == 20

    with pytest.raises(ValueError, match=r"^Enter at most 20 addresses or ranges; this list has 21\.$"):
        parse("\n".join(ranges(21)))


def test_each_bad_entry_is_named():
    with pytest.raises(ValueError) as refused:
        parse("203.0.113.7\nlocalhost, 10.0.0.300\n2001:db8::g\n203.0.113.0/33")

    assert str(refused.value) == (
        "Not IP addresses or CIDR ranges: “localhost”, “10.0.0.300”, “2001:db8::g”, “203.0.113.0/33”.")


@pytest.mark.parametrize(("typed", "meant_range", "meant_address"), [
    ("203.0.113.7/24", "203.0.113.0/24", "203.0.113.7"),
    ("203.0.113.7/2", "192.0.0.0/2", "203.0.113.7"),  # silently widened, a quarter of the Internet
    ("203.0.113.7/255.255.255.0", "203.0.113.0/24", "203.0.113.7"),
    ("::ffff:203.0.113.7/120", "203.0.113.0/24", "203.0.113.7"),
    ("2001:db8::1/32", "2001:db8::/32", "2001:db8::1"),
])
def test_a_range_with_host_bits_is_refused_with_the_range_and_the_address_it_could_mean(
        typed, meant_range, meant_address):
    with pytest.raises(ValueError) as refused:
        parse(typed)

    assert str(refused.value) == (
        f"“{typed}” has host bits set. Use {meant_range} for the range or {meant_address} for one address.")


@pytest.mark.parametrize("typed", ["fe80::1%eth0", "fe80::%eth0/64", "fe80::1%1"])
def test_an_address_with_a_zone_id_is_refused_saying_to_remove_it(typed):
    with pytest.raises(ValueError) as refused:
        parse(f"203.0.113.7\n{typed}")

    assert str(refused.value) == (
        f"Remove the zone id from “{typed}”: an allowed address cannot name a network interface.")


def test_entries_that_are_no_address_are_named_together_and_near_misses_each_with_its_fix():
    with pytest.raises(ValueError) as refused:
        parse("localhost 203.0.113.7/24 fe80::1%eth0 10.0.0.300")

    assert str(refused.value) == (
        "Not IP addresses or CIDR ranges: “localhost”, “10.0.0.300”. “203.0.113.7/24” has host bits set. "
        "Use 203.0.113.0/24 for the range or 203.0.113.7 for one address. "
        "Remove the zone id from “fe80::1%eth0”: an allowed address cannot name a network interface.")


def test_a_pasted_log_is_not_echoed_whole():
    with pytest.raises(ValueError) as refused:
        parse(" ".join(["x" * 80] + [f"bad{number}" for number in range(9)]))

    message = str(refused.value)
    assert message == (
        f"Not IP addresses or CIDR ranges: “{'x' * 50}…”, “bad0”, “bad1”, “bad2”, “bad3”. "
        "5 more entries cannot be used either.")


# ---------------------------------------------------------------- pulls


@pytest.mark.parametrize(("allowed", "client_ip"), [
    ("203.0.113.7", "203.0.113.7"),
    (OFFICE, "203.0.113.250"),
    ("2001:db8::/32", "2001:db8:1234::5"),
    ("2001:db8::1", "2001:db8::1"),
    (f"{ELSEWHERE}, {OFFICE}\n2001:db8::/32", "203.0.113.7"),
    (OFFICE, "::ffff:203.0.113.9"),  # an IPv4 client on a dual-stack socket
], ids=["v4 address", "v4 range", "v6 range", "v6 address", "mixed list", "v4-mapped client"])
def test_a_pull_from_an_allowed_address_works_and_counts_as_use(client, admin, make_key, allowed, client_ip):
    key, plaintext = make_key(admin, allowed_ips=parse(allowed))

    response = client.get(ME, headers={"x-api-key": plaintext}, environ_base={"REMOTE_ADDR": client_ip})

    assert response.status_code == 200
    assert reload(key).last_used_ip == client_ip


@pytest.mark.parametrize(("allowed", "client_ip"), [
    ("203.0.113.7", "203.0.113.8"),
    (OFFICE, "203.0.114.1"),
    ("2001:db8::/32", "2001:db9::1"),
    ("2001:db8::/32", "203.0.113.7"),
    (OFFICE, "2001:db8::1"),
], ids=["v4 address", "v4 range", "v6 range", "v4 client, v6 list", "v6 client, v4 list"])
def test_a_pull_from_elsewhere_is_403_naming_the_address(client, admin, make_key, allowed, client_ip):
    key, plaintext = make_key(admin, allowed_ips=parse(allowed))

    response = client.get(ME, headers={"x-api-key": plaintext}, environ_base={"REMOTE_ADDR": client_ip})

    assert_api_error(response, 403, f"This API key cannot be used from {client_ip}.")
    assert response.headers["Cache-Control"] == "no-store"


def test_a_refused_address_is_recorded_as_a_refusal_and_is_not_last_used(api_get, admin, team, make_key):
    key, plaintext = make_key(admin, allowed_ips=parse(ELSEWHERE))

    assert_api_error(api_get(ME, plaintext), 403, f"This API key cannot be used from {CLIENT_IP}.")

    key = reload(key)
    assert key.last_used_at is None and key.last_used_ip is None
    [event] = db.session.scalars(select(AuditEvent)).all()
    assert (event.kind, event.team_id, event.api_key_id, event.key_hint) == (
        AuditKind.API_REFUSED, team.id, key.id, key.hint)
    assert (event.ip, event.detail) == (CLIENT_IP, f"This API key cannot be used from {CLIENT_IP}.")
    assert plaintext not in " ".join(str(value) for value in vars(event).values())


def test_refused_addresses_count_toward_the_refusal_limit(app, api_get, admin, make_key):
    app.config["API_REFUSAL_LIMIT"] = "2 per minute"
    _, plaintext = make_key(admin, allowed_ips=parse(ELSEWHERE))

    for _ in range(2):
        assert_api_error(api_get(ME, plaintext), 403)
    assert "Too many refused requests" in assert_api_error(api_get(ME, plaintext), 429)["detail"]


def test_the_address_is_checked_after_the_key_is_known_to_work_and_before_its_team_and_services(
        api_get, admin, team, make_key):
    far = parse(ELSEWHERE)
    _, dead = make_key(admin, name="Old", allowed_ips=far, deleted_at=utcnow(), deleted_by_id=admin.id)
    _, checklists_only = make_key(admin, name="Checklists", services=(Service.CHECKLISTS,), allowed_ips=far)
    elsewhere = f"This API key cannot be used from {CLIENT_IP}."

    assert "deactivated" in assert_api_error(api_get(ME, dead), 401)["detail"]
    # From elsewhere, a working key tells nothing of its services or its team's switch.
    assert_api_error(api_get("/api/v1/analytics/reconciliations", checklists_only), 403, elsewhere)
    team.open_api_enabled = False
    db.session.commit()
    assert_api_error(api_get(CHECKLISTS, checklists_only), 403, elsewhere)


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_checked(make_app, make_team, make_user, make_key):
    proxied = make_app(TRUSTED_PROXY_COUNT=1)
    with proxied.app_context():
        _, plaintext = make_key(make_user(make_team("Proxied Co")), allowed_ips=parse(OFFICE))
        client = proxied.test_client()

        def pull(forwarded_for):
            return client.get(ME, headers={"x-api-key": plaintext, "X-Forwarded-For": forwarded_for},
                              environ_base={"REMOTE_ADDR": "10.0.0.2"})  # the proxy

        assert pull("203.0.113.7").status_code == 200
        # Only the last hop is the trusted proxy's word; what the client itself put in front is not believed.
        assert pull(f"{ELSEWHERE}, 203.0.113.7").status_code == 200
        assert_api_error(pull(ELSEWHERE), 403, f"This API key cannot be used from {ELSEWHERE}.")
        assert_api_error(pull(f"203.0.113.7, {ELSEWHERE}"), 403, f"This API key cannot be used from {ELSEWHERE}.")


def test_a_key_with_allowed_addresses_is_refused_when_the_client_address_is_unknown(app, admin, make_key):
    _, anywhere = make_key(admin, name="Anywhere")
    _, office_only = make_key(admin, name="Office only", allowed_ips=parse(OFFICE))

    assert authenticate(anywhere, None, None).key.name == "Anywhere"
    refused = authenticate(office_only, None, None)
    assert isinstance(refused, Refusal)
    assert (refused.status, refused.detail) == (403, "This API key cannot be used from an unknown address.")


def test_without_a_trusted_proxy_a_forwarded_header_is_not_believed(client, admin, make_key):
    _, plaintext = make_key(admin, allowed_ips=parse(OFFICE))

    response = client.get(ME, headers={"x-api-key": plaintext, "X-Forwarded-For": "203.0.113.7"},
                          environ_base={"REMOTE_ADDR": ELSEWHERE})

    assert_api_error(response, 403, f"This API key cannot be used from {ELSEWHERE}.")


# ---------------------------------------------------------------- set at create


def create(client, allowed_ips: str, htmx=True):
    data = {"name": "Warehouse", "expiration": "90", "services": ["reconciliations"], "allowed_ips": allowed_ips,
            "csrf_token": csrf_token(client, "/settings/api-keys")}
    return client.post("/settings/api-keys", data=data, headers=HTMX if htmx else {})


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_a_key_is_created_with_its_allowed_addresses_normalised_and_audited(admin_client, htmx):
    assert create(admin_client, "203.0.113.7\n2001:DB8::/32, 198.51.100.0/24", htmx).status_code == 201

    key = db.session.scalars(select(ApiKey)).one()
    assert key.allowed_ips == "198.51.100.0/24,203.0.113.7/32,2001:db8::/32"
    [event] = db.session.scalars(select(AuditEvent)).all()
    assert event.kind is AuditKind.KEY_CREATED
    assert event.detail == "Allowed addresses: 198.51.100.0/24, 203.0.113.7, 2001:db8::/32."


def test_a_key_created_without_allowed_addresses_works_from_any(admin_client):
    assert create(admin_client, "").status_code == 201

    key = db.session.scalars(select(ApiKey)).one()
    assert key.allowed_ips is None and key.allows(ELSEWHERE)
    assert db.session.scalars(select(AuditEvent.detail)).one() is None


def test_the_dialog_offers_the_field_with_its_help(admin_client):
    form = parse_html(admin_client.get("/settings/api-keys/new")).find("form", id="create-key-form")

    field = form.find("textarea", attrs={"name": "allowed_ips"})
    assert text_of(form.find("label", attrs={"for": field["id"]})) == "Allowed IP addresses"
    assert field.get("required") is None
    help_text = text_of(form.find(id=field["aria-describedby"]))
    assert help_text.startswith("Optional.") and "up to 20" in help_text and "empty allows any address" in help_text


@pytest.mark.parametrize(("typed", "message"), [
    ("203.0.113.7, office-router", "Not an IP address or CIDR range: “office-router”."),
    ("\n".join(ranges(21)), "Enter at most 20 addresses or ranges; this list has 21."),
], ids=["bad entry", "21 entries"])
def test_a_bad_list_creates_nothing_and_is_shown_as_typed_with_its_error(admin_client, typed, message):
    response = create(admin_client, typed)

    assert response.status_code == 422
    assert db.session.scalars(select(ApiKey)).all() == []
    field = parse_html(response).find("textarea", attrs={"name": "allowed_ips"})
    assert field.get_text().strip() == typed.strip()
    assert field.get("aria-invalid") == "true"
    assert text_of(parse_html(response).find(id=field["aria-describedby"])) == message


def test_a_list_of_long_zone_ids_is_refused_and_creates_nothing(admin_client):
    # Stored whole, 20 of them overflowed the column: a 500 on PostgreSQL.
    typed = "\n".join(f"fe80::{number + 1:x}%{'e' * 50}" for number in range(20))

    response = create(admin_client, typed)

    assert response.status_code == 422
    assert db.session.scalars(select(ApiKey)).all() == []
    field = parse_html(response).find("textarea", attrs={"name": "allowed_ips"})
    error = text_of(parse_html(response).find(id=field["aria-describedby"]))
    assert error.startswith(f"Remove the zone id from “fe80::1%{'e' * 42}…”: an allowed address cannot name")


# ---------------------------------------------------------------- changed afterwards


def allowed_ips_url(key) -> str:
    return f"/settings/api-keys/{key.id}/allowed-ips"


def save(client, key, allowed_ips: str, htmx=True):
    data = {"allowed_ips": allowed_ips, "csrf_token": csrf_token(client, "/settings/api-keys")}
    return client.post(allowed_ips_url(key), data=data, headers=HTMX if htmx else {})


def changes() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.ALLOWED_IPS_CHANGED)))


@pytest.fixture
def office_key(admin, make_key):
    return make_key(admin, name="Office load", allowed_ips=parse(f"{OFFICE}\n2001:db8::1"))[0]


def key_page_url(key) -> str:
    return f"/settings/api-keys/{key.id}"


def test_the_keys_page_shows_the_addresses_one_a_line_in_their_form(admin_client, office_key):
    page = parse_html(admin_client.get(key_page_url(office_key)))

    assert "Office load" in text_of(page.find("h1"))
    form = page.find(id="allowed-ips").find("form")
    assert (form.get("method"), form.get("action"), form.get("hx-post")) == ("post", allowed_ips_url(office_key),
                                                                            allowed_ips_url(office_key))
    field = form.find("textarea", attrs={"name": "allowed_ips"})
    assert field.get_text().strip() == f"{OFFICE}\n2001:db8::1"
    assert field.get("autofocus") is None  # focus stays where the page puts it, until there is an error


def test_htmx_save_answers_the_fragment_with_the_list_saved_and_refreshes_activity(admin_client, admin, office_key):
    response = save(admin_client, office_key, "2001:DB8::1, 192.0.2.0/24")

    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "keys-changed"
    fragment = parse_html(response)
    assert fragment.find(id="allowed-ips") is not None and fragment.find("html") is None
    assert "pulls with the key from any other address are refused" in text_of(fragment.find(role="status"))
    assert fragment.find("textarea").get_text().strip() == "192.0.2.0/24\n2001:db8::1"
    assert reload(office_key).allowed_ips == "192.0.2.0/24,2001:db8::1/128"
    [event] = changes()
    assert (event.user_id, event.api_key_id, event.key_hint) == (admin.id, office_key.id, office_key.hint)
    assert event.detail == f"Before: {OFFICE}, 2001:db8::1. After: 192.0.2.0/24, 2001:db8::1."
    newest = parse_html(admin_client.get("/settings/api-keys/activity")).find("tbody").find("tr")
    cells = [text_of(cell) for cell in newest.find_all("td")]
    assert cells[1:4] == ["Allowed addresses changed", admin.name, f"{office_key.hint}… Office load"]
    assert cells[5] == event.detail


def test_without_javascript_a_save_comes_back_to_the_keys_page_with_the_message(admin_client, office_key):
    response = save(admin_client, office_key, "", htmx=False)

    assert response.status_code == 303
    assert response.headers["Location"] == key_page_url(office_key)
    page = parse_html(admin_client.get(response.headers["Location"]))
    assert "Saved: the key works from any address." in text_of(page.find(id="flash"))
    assert reload(office_key).allowed_ips is None
    assert changes()[0].detail == f"Before: {OFFICE}, 2001:db8::1. After: any address."


def test_saving_the_same_list_records_nothing(admin_client, office_key):
    response = save(admin_client, office_key, f"2001:0db8::1, {OFFICE}\n")

    assert "No change" in text_of(parse_html(response).find(role="status"))
    assert reload(office_key).allowed_ips == f"{OFFICE},2001:db8::1/128"
    assert changes() == []


def test_the_change_applies_to_the_next_pull(admin_client, api_get, admin, make_key):
    key, plaintext = make_key(admin)
    assert api_get(ME, plaintext).status_code == 200

    save(admin_client, key, ELSEWHERE)
    assert_api_error(api_get(ME, plaintext), 403)
    save(admin_client, key, OFFICE)
    assert api_get(ME, plaintext).status_code == 200


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_a_bad_list_changes_nothing_and_names_the_bad_entries(admin_client, office_key, htmx):
    response = save(admin_client, office_key, "203.0.113.7\nfoo\nbar", htmx)

    assert response.status_code == 422
    page = parse_html(response)
    assert (page.find("html") is None) is htmx
    if not htmx:  # the key's page, its other forms as they were
        assert text_of(page.find("h1")) == "Office load" and page.find("input", id="name").get("value") == "Office load"
    assert text_of(page.find(id="allowed_ips-error")) == "Not IP addresses or CIDR ranges: “foo”, “bar”."
    field = page.find("textarea", attrs={"name": "allowed_ips"})
    assert field.get_text().strip() == "203.0.113.7\nfoo\nbar"
    assert field.get("autofocus") == ""
    assert reload(office_key).allowed_ips == f"{OFFICE},2001:db8::1/128"
    assert changes() == []


@pytest.mark.parametrize("state", ["deactivated", "expired"])
def test_a_key_that_no_longer_works_shows_its_list_and_cannot_be_changed(admin_client, admin, team, make_key, state):
    from datetime import timedelta

    fields = ({"deleted_at": utcnow(), "deleted_by_id": admin.id} if state == "deactivated"
              else {"expires_on": team.today() - timedelta(days=1)})
    key, _ = make_key(admin, allowed_ips=parse(OFFICE), **fields)

    page = parse_html(admin_client.get(key_page_url(key)))
    assert page.find(id="allowed-ips").find("textarea") is None
    assert f"Allowed IP addresses: {OFFICE}." in text_of(page.find(id="allowed-ips"))

    response = save(admin_client, key, "")
    assert response.status_code == 409
    assert "can no longer be changed" in text_of(parse_html(response))
    assert reload(key).allowed_ips == OFFICE
    assert changes() == []


def test_a_change_between_two_lists_of_the_longest_addresses_is_recorded_whole(admin_client, admin, make_key):
    longest = [f"2001:db8:ffff:ffff:ffff:ffff:ffff:{0x1000 + number:x}" for number in range(20)]  # 39 characters
    key, _ = make_key(admin, allowed_ips=parse(" ".join(longest)))
    others = [address.replace("2001:db8", "2001:db9") for address in longest]

    assert save(admin_client, key, "\n".join(others)).status_code == 200

    [event] = changes()
    assert event.detail == f"Before: {', '.join(longest)}. After: {', '.join(others)}."
    assert reload(key).allowed_ip_list == others


def test_a_list_far_over_the_maximum_is_refused_by_its_count_before_any_entry_is_read(
        admin_client, office_key, monkeypatch):
    # 58 KB of distinct addresses: each compared with every other, it took 9 s of CPU.
    typed = " ".join(f"10.{number // 256}.{number % 256}.1" for number in range(5_300))
    assert len(typed) > 58_000
    read = []
    monkeypatch.setattr(allowlist, "network", lambda entry: read.append(entry))

    response = save(admin_client, office_key, typed)

    assert response.status_code == 422
    assert text_of(parse_html(response).find(id="allowed_ips-error")) == (
        "Enter at most 20 addresses or ranges; this list has 5,300.")
    assert read == []
    assert reload(office_key).allowed_ips == f"{OFFICE},2001:db8::1/128"


def test_a_list_longer_than_the_field_is_the_fields_error_not_a_413(admin_client, office_key):
    typed = "203.0.113.7\n" + "x" * 60_000  # under the 64 KiB of a request, far over the field

    response = save(admin_client, office_key, typed, htmx=False)

    assert response.status_code == 422
    page = parse_html(response)
    assert text_of(page.find(id="allowed_ips-error")) == "Use at most 2,000 characters; this list has 60,012."
    assert page.find("textarea", attrs={"name": "allowed_ips"}).get("aria-invalid") == "true"
    assert reload(office_key).allowed_ips == f"{OFFICE},2001:db8::1/128"

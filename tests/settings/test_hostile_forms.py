"""Hostile input at the forms: login, and Create New Key as a signed-in admin with a valid CSRF token.

Random names, services, expirations and custom dates, unicode, NUL bytes and oversized values: the answer is
always the page (200/422, or 201 for a created key) or a redirect, never a 500; and markup in a key name is
shown as text. Bodies that are not forms (JSON, files) are refused with 415 before a form reads them."""

import io
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floqast.extensions import db
from floqast.keys.models import Service
from helpers import HTMX, PASSWORD, csrf_token, parse_html, text_of

SCRIPTS = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "</textarea><svg onload=alert(1)>",
           "{{ 7*7 }}", "' OR 1=1 --", "\"><b>bold</b>"]

wild = st.text(st.characters(exclude_categories=["Cs"]), max_size=120)
long_text = st.text(st.sampled_from("a\x00é€😀<>&\"'"), min_size=101, max_size=5000)
field_text = st.one_of(wild, long_text, st.sampled_from(["", " ", "\x00", "\t\n", "a\x00b", *SCRIPTS]))
key_name = st.one_of(
    field_text,
    st.builds(lambda script, text: f"{text[:40]}{script}", st.sampled_from(SCRIPTS), wild),
)


def is_page(response) -> bool:
    return response.mimetype == "text/html" and "<" in response.get_data(as_text=True)


@pytest.fixture
def anonymous_token(client, team):
    return csrf_token(client, "/login")


@given(email=field_text, password=field_text, next_url=st.none() | field_text)
@settings(max_examples=40)  # each unknown email costs a full bcrypt check (at the app's BCRYPT_ROUNDS), on purpose
def test_login_with_random_credentials_answers_the_page(client, admin, anonymous_token, email, password, next_url):
    query = {} if next_url is None else {"next": next_url}
    response = client.post("/login", query_string=query,
                           data={"email": email, "password": password, "csrf_token": anonymous_token})
    # 400: the URL caps (issue 4, Limits) refuse an oversized ?next= with an error page.
    assert response.status_code in (200, 302, 400, 422, 429), response.get_data(as_text=True)[:2000]
    if response.status_code != 302:
        assert is_page(response)


@pytest.mark.parametrize("password", ["p" * 73, "é" * 40, "p" * 1024, "a\x00b", PASSWORD + "\x00"])
def test_a_long_or_odd_password_is_a_failed_login_not_a_500(client, admin, anonymous_token, password):
    """bcrypt 5 raises on passwords over 72 bytes instead of truncating them."""
    response = client.post("/login", data={"email": admin.email, "password": password, "csrf_token": anonymous_token})
    assert response.status_code in (422, 429)
    assert is_page(response)


@pytest.mark.parametrize("email", ["admin@acme.test\x00", "\x00", "é" * 254, "a\x00@b.test"])
def test_odd_emails_are_a_failed_login_not_a_500(client, admin, anonymous_token, email):
    """PostgreSQL refuses NUL characters in text: such an email is no user's, not a database error."""
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": anonymous_token})
    assert response.status_code in (422, 429)
    assert is_page(response)


expiration = st.one_of(st.sampled_from(["365", "90", "60", "30", "custom", "never"]), field_text)
custom_date = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.integers(-3, 5 * 366 + 3).map(lambda days: f"__today+{days}"),
    field_text,
    st.sampled_from(["2025-02-30", "0001-01-01", "9999-12-31", "2025-1-1", "2025-01-01T00:00", "२०२५-01-01"]),
)
services = st.lists(st.one_of(st.sampled_from([service.value for service in Service]), field_text), max_size=4)


@given(name=key_name, expiration=expiration, custom=custom_date, services=services, htmx=st.booleans())
def test_create_key_with_random_input_answers_the_page(admin_client, team, name, expiration, custom, services, htmx):
    if custom.startswith("__today+"):
        custom = (team.today() + timedelta(days=int(custom.removeprefix("__today+")))).isoformat()
    data = {"name": name, "expiration": expiration, "custom_date": custom, "services": services,
            "csrf_token": csrf_token(admin_client, "/settings/api-keys")}
    response = admin_client.post("/settings/api-keys", data=data, headers=HTMX if htmx else {})
    body = response.get_data(as_text=True)
    assert response.status_code in (201, 422), body[:2000]
    assert is_page(response)
    for script in SCRIPTS[:3]:
        assert script not in body  # markup in a name is escaped, in the form, the list and the reveal
    if response.status_code == 201 and name.strip() in [script.strip() for script in SCRIPTS]:
        reveal = parse_html(body).find("section", class_="reveal")
        assert reveal is not None and " ".join(name.split()) in text_of(reveal)


@pytest.mark.parametrize("name", ["a\x00b", "\x00", "tab\there", "bell\x07"])
def test_control_characters_in_a_key_name_are_a_422_naming_the_field(admin_client, name):
    """A NUL reached PostgreSQL (which refuses it in text) and answered 500; controls never belong in a name."""
    data = {"name": name, "expiration": "90", "services": ["reconciliations"],
            "csrf_token": csrf_token(admin_client, "/settings/api-keys")}
    response = admin_client.post("/settings/api-keys", data=data)
    assert response.status_code == 422
    assert "control characters" in response.get_data(as_text=True)


def test_script_names_are_text_in_the_list_and_the_reveal(admin_client, team):
    token = csrf_token(admin_client, "/settings/api-keys")
    for index, script in enumerate(SCRIPTS):
        data = {"name": f"{index} {script}", "expiration": "90", "services": ["checklists"], "csrf_token": token}
        created = admin_client.post("/settings/api-keys", data=data)
        assert created.status_code == 201
        reveal = parse_html(created).find("section", class_="reveal")
        assert f"{index} {script}" in text_of(reveal)
    listing = admin_client.get("/settings/api-keys?status=all")
    body = listing.get_data(as_text=True)
    page = parse_html(body)
    names = [text_of(row.find("th")) for row in page.find_all("tr") if (row.get("id") or "").startswith("key-")]
    assert sorted(names) == sorted(f"{index} {script}" for index, script in enumerate(SCRIPTS))
    for script in SCRIPTS[:3]:
        assert script not in body


def test_script_names_are_text_in_the_audit_trail(admin_client, team):
    token = csrf_token(admin_client, "/settings/api-keys")
    for index, script in enumerate(SCRIPTS):
        data = {"name": f"{index} {script}", "expiration": "90", "services": ["checklists"], "csrf_token": token}
        assert admin_client.post("/settings/api-keys", data=data).status_code == 201
    for response in (admin_client.get("/settings/api-keys/activity"),
                     admin_client.get("/settings/api-keys/activity", headers=HTMX)):
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        for script in SCRIPTS[:3]:
            assert script not in body
        text = text_of(parse_html(body).find("section", id="activity"))
        for index, script in enumerate(SCRIPTS):
            assert " ".join(f"{index} {script}".split()) in text


def assert_unsupported_page(response):
    assert response.status_code == 415, response.get_data(as_text=True)[:2000]
    assert is_page(response)


@pytest.mark.parametrize("body", [{"email": 123, "password": PASSWORD}, {"email": {"a": 1}}, [1], "x"],
                         ids=["number", "object", "list", "string"])
def test_a_json_login_is_415_not_a_500(client, admin, anonymous_token, body):
    response = client.post("/login", json=body, headers={"X-CSRFToken": anonymous_token})
    assert_unsupported_page(response)


def test_a_login_with_the_email_as_a_file_is_415(client, admin, anonymous_token):
    data = {"email": (io.BytesIO(admin.email.encode()), "email.txt"), "password": PASSWORD,
            "csrf_token": anonymous_token}
    response = client.post("/login", data=data, content_type="multipart/form-data")
    assert_unsupported_page(response)
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_a_multipart_login_without_files_works_as_htmx_sends_it(client, admin, anonymous_token):
    data = {"email": admin.email, "password": PASSWORD, "csrf_token": anonymous_token}
    assert client.post("/login", data=data, content_type="multipart/form-data").status_code == 302


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/xml"])
def test_create_key_with_a_body_that_is_not_a_form_is_415(admin_client, content_type):
    token = csrf_token(admin_client, "/settings/api-keys")
    response = admin_client.post("/settings/api-keys", data='{"name": 123, "expiration": "90"}',
                                 content_type=content_type, headers={"X-CSRFToken": token, **HTMX})
    assert_unsupported_page(response)
    assert "<tr id=\"key-" not in admin_client.get("/settings/api-keys").get_data(as_text=True)


def test_delete_without_a_body_works_and_with_one_is_415(admin_client, admin, make_key):
    key, _ = make_key(admin)
    token = csrf_token(admin_client, "/settings/api-keys")
    headers = {"X-CSRFToken": token, **HTMX}

    refused = admin_client.delete(f"/settings/api-keys/{key.id}", json={"confirm": True}, headers=headers)
    assert refused.status_code == 415
    assert admin_client.delete(f"/settings/api-keys/{key.id}", headers=HTMX).status_code == 400  # no CSRF token
    db.session.refresh(key)
    assert key.deleted_at is None

    assert admin_client.delete(f"/settings/api-keys/{key.id}", headers=headers).status_code == 200
    db.session.refresh(key)
    assert key.deleted_at is not None

"""Logging in and out: where each role lands, wrong credentials, the next parameter, the session."""

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from floqast.accounts.models import Role
from helpers import PASSWORD, csrf_token, parse_html, text_of

WRONG = "Incorrect email or password."


def log_in_with(client, email, password, next=None):
    """Post the login form as a browser does, with the page's CSRF token."""
    token = csrf_token(client, "/login")
    query = {"next": next} if next is not None else {}
    return client.post("/login", query_string=query, data={"email": email, "password": password, "csrf_token": token})


def signed_in(client) -> bool:
    """Whether the client's session is a logged-in one: home answers instead of sending it to login."""
    response = client.get("/")
    return not (response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login")


@pytest.mark.parametrize(
    ("role", "open_api", "lands_on"),
    [
        (Role.ADMIN, True, "/settings/api-keys"),
        (Role.SYSADMIN, True, "/settings/api-keys"),
        (Role.MANAGER, True, "/"),
        (Role.USER, True, "/"),
        (Role.ADMIN, False, "/"),
        (Role.SYSADMIN, False, "/"),
    ],
)
def test_good_login_lands_each_role_where_it_works(client, make_team, make_user, role, open_api, lands_on):
    user = make_user(make_team(open_api=open_api), role)

    response = log_in_with(client, user.email, PASSWORD)

    assert response.status_code in (302, 303)
    landed = client.get(response.headers["Location"], follow_redirects=True)
    assert landed.status_code == 200
    assert landed.request.path == lands_on
    assert user.name in text_of(parse_html(landed).find("header"))


def test_email_is_matched_whatever_its_case_and_spaces(client, admin):
    response = log_in_with(client, "  ADMIN@Acme.Test ", PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


@pytest.mark.parametrize(
    ("email", "password"),
    [("admin@acme.test", "wrong password"), ("nobody@acme.test", PASSWORD)],
    ids=["wrong password", "unknown email"],
)
def test_wrong_credentials_get_one_message_and_no_session(client, admin, email, password):
    response = log_in_with(client, email, password)

    assert response.status_code == 422
    page = parse_html(response)
    assert [text_of(p) for p in page.find_all("p", class_="form-error")] == [WRONG]
    assert page.find("input", id="email").get("value") == email
    assert password not in response.get_data(as_text=True)
    assert not signed_in(client)
    assert client.get("/settings/api-keys").status_code == 302


def test_empty_login_form_says_what_is_missing(client):
    response = log_in_with(client, "", "")

    assert response.status_code == 422
    page = parse_html(response)
    assert text_of(page.find(id="email-error")) == "Enter your email."
    assert text_of(page.find(id="password-error")) == "Enter your password."
    assert page.find("input", id="email").get("aria-describedby") == "email-error"
    assert not signed_in(client)


@pytest.mark.parametrize("target", ["/settings/api-keys?status=all", "/settings/api-keys/new"])
def test_next_same_site_path_is_honoured(client, admin, target):
    response = log_in_with(client, admin.email, PASSWORD, next=target)

    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/settings/api-keys",
        "https://evil.example",
        "https://evil.example/settings/api-keys",
        "http:/evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "settings/api-keys",
    ],
)
def test_next_to_anywhere_else_is_ignored(client, admin, target):
    response = log_in_with(client, admin.email, PASSWORD, next=target)

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location == "/"
    assert "evil" not in location


def test_anonymous_visitor_comes_back_to_the_tab_after_login(client, admin):
    sent = client.get("/settings/api-keys?status=expired")
    assert sent.status_code == 302

    login_page = client.get(sent.headers["Location"])
    form_action = parse_html(login_page).find("form").get("action")
    # The login form posts back to the same URL, so `next` survives the POST.
    assert form_action in (None, "")
    response = log_in_with(client, admin.email, PASSWORD, next="/settings/api-keys?status=expired")

    landed = client.get(response.headers["Location"])
    assert landed.request.full_path == "/settings/api-keys?status=expired"
    assert parse_html(landed).find("a", attrs={"aria-selected": "true"}).get("id") == "tab-expired"


def test_logout_ends_the_session(client, admin):
    log_in_with(client, admin.email, PASSWORD)
    assert client.get("/settings/api-keys").status_code == 200

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/settings/api-keys")})

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert "You have been logged out." in client.get("/login").get_data(as_text=True)
    again = client.get("/settings/api-keys")
    assert again.status_code == 302
    assert urlsplit(again.headers["Location"]).path == "/login"
    htmx = client.get("/settings/api-keys", headers={"HX-Request": "true"})
    assert htmx.status_code == 401


def test_logout_is_post_only(client, admin):
    log_in_with(client, admin.email, PASSWORD)

    assert client.get("/logout").status_code == 405
    assert signed_in(client)


def test_session_is_renewed_at_login(client, admin):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "before login"

    log_in_with(client, admin.email, PASSWORD)

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == str(admin.id)


def test_failed_login_keeps_no_user_in_the_session(client, admin):
    log_in_with(client, admin.email, "nope")

    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_login_page_sends_a_signed_in_user_home(client, admin):
    log_in_with(client, admin.email, PASSWORD)

    response = client.get("/login")

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"


def test_an_unknown_email_is_checked_against_a_hash_of_the_apps_bcrypt_cost(app, client, admin, monkeypatch):
    from floqast.auth import routes

    checked = []
    real_checkpw = routes.bcrypt.checkpw
    monkeypatch.setattr(routes.bcrypt, "checkpw", lambda password, hashed: checked.append(hashed)
                        or real_checkpw(password, hashed))

    assert log_in_with(client, "nobody@acme.test", PASSWORD).status_code == 422

    [hashed] = checked
    assert hashed.startswith(b"$2b$%02d$" % app.config["BCRYPT_ROUNDS"])


def test_importing_the_app_hashes_no_password():
    """CLI commands and worker starts import the login views: no bcrypt hash may run then (0.6 s at cost 12)."""
    script = ("import bcrypt\n"
              "def refuse(*args): raise SystemExit('bcrypt.hashpw ran at import')\n"
              "bcrypt.hashpw = refuse\n"
              "import floqast.auth.routes\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr

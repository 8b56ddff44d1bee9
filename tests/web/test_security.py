"""Security headers on every response, the session cookie, and what a stale CSRF token gets."""

import re
from pathlib import Path

import pytest

from floqast.extensions import db
from floqast.web.security import CONTENT_SECURITY_POLICY, EXPIRED_MESSAGE
from helpers import HTMX, PASSWORD, csrf_token, log_in, parse_html, text_of

ROOT = Path(__file__).resolve().parents[2]


def assert_security_headers(response):
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
                      "frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'"):
        assert directive in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.fixture
def every_kind_of_response(app, client, admin, make_key):
    """One response of each kind: pages, fragments, static files, API answers and errors of both."""
    _, plaintext = make_key(admin)
    api = {"x-api-key": plaintext}
    responses = {
        "login page": client.get("/login"),
        "redirect": client.get("/"),
        "page 404": client.get("/no-such-page"),
        "static": client.get("/static/app.js"),
        "api 200": client.get("/api/v1/me", headers=api),
        "api 401": client.get("/api/v1/me"),
        "api 404": client.get("/api/v1/nothing", headers=api),
        "api 400": client.get("/api/v1/analytics/checklists", query_string={"page[size]": "0"}, headers=api),
        "openapi": client.get("/api/v1/openapi.json"),
        "csrf 400": client.post("/login", data={}),
    }
    log_in(client, admin)
    responses["settings page"] = client.get("/settings/api-keys")
    responses["fragment"] = client.get("/settings/api-keys", query_string={"status": "all"}, headers=HTMX)
    responses["activity"] = client.get("/settings/api-keys/activity", headers=HTMX)
    app.config["API_RATE_LIMIT"] = "1 per minute"
    client.get("/api/v1/me", headers=api)
    responses["api 429"] = client.get("/api/v1/me", headers=api)
    return responses


def test_every_response_carries_the_security_headers(every_kind_of_response):
    statuses = {name: response.status_code for name, response in every_kind_of_response.items()}
    assert statuses["api 429"] == 429 and statuses["page 404"] == 404 and statuses["csrf 400"] == 400
    for name, response in every_kind_of_response.items():
        try:
            assert_security_headers(response)
        except (AssertionError, KeyError) as missing:
            raise AssertionError(f"{name}: {missing!r}") from None
        assert "Strict-Transport-Security" not in response.headers, name


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://keys.example.test")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert_security_headers(secure)
    forwarded_but_untrusted = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in forwarded_but_untrusted.headers


def test_no_template_needs_inline_script_style_or_eval():
    """What the CSP forbids, the templates never use: inline scripts and styles, handlers, hx-on, js: values."""
    forbidden = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|hx-on|js:|javascript:", re.I)
    for template in (ROOT / "templates").rglob("*.html"):
        source = template.read_text()
        assert not forbidden.search(source), f"{template.name}: {forbidden.search(source).group()}"
    base = (ROOT / "templates" / "base.html").read_text()
    assert '"includeIndicatorCSS": false' in base
    assert CONTENT_SECURITY_POLICY.count("'self'") >= 6


# ---------------------------------------------------------------- the session cookie


def log_in_with(client, email, password, secure=False):
    base_url = "https://keys.example.test" if secure else "http://localhost"
    token = csrf_token(client, f"{base_url}/login")
    return client.post(f"{base_url}/login", data={"email": email, "password": password, "csrf_token": token})


def session_cookie(response) -> str:
    [cookie] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    return cookie


def test_session_cookie_is_httponly_and_samesite_lax(client, admin):
    cookie = session_cookie(log_in_with(client, admin.email, PASSWORD))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test settings run on plain http


def test_session_cookie_is_secure_by_default(app, client, admin):
    from floqast.config import read_settings

    assert read_settings({}, {})["SESSION_COOKIE_SECURE"] is True
    app.config["SESSION_COOKIE_SECURE"] = True
    cookie = session_cookie(log_in_with(client, admin.email, PASSWORD, secure=True))
    assert "Secure" in cookie and "HttpOnly" in cookie


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("off", False)])
def test_session_cookie_secure_follows_the_environment(value, expected):
    from floqast.config import read_settings

    assert read_settings({"SESSION_COOKIE_SECURE": value}, {})["SESSION_COOKIE_SECURE"] is expected


def test_login_starts_a_new_session(client, admin):
    before = csrf_token(client, "/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    log_in_with(client, admin.email, PASSWORD)
    with client.session_transaction() as session:
        assert "planted" not in session
    assert csrf_token(client, "/settings/api-keys") != before


def test_logout_ends_the_session_and_every_copy_of_its_cookie(app, client, admin):
    log_in_with(client, admin.email, PASSWORD)
    stolen = client.get_cookie("session").value
    assert client.get("/settings/api-keys").status_code == 200

    token = csrf_token(client, "/settings/api-keys")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/settings/api-keys").status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/settings/api-keys")
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    # Logging in again works, and only the new session does.
    log_in_with(client, admin.email, PASSWORD)
    assert client.get("/settings/api-keys").status_code == 200
    assert replay.get("/settings/api-keys").status_code == 302


# ---------------------------------------------------------------- a stale CSRF token


@pytest.fixture
def acme_key(admin, make_key):
    key, _ = make_key(admin, name="Acme Power BI")
    return key


@pytest.mark.parametrize("token", [None, "stale-token-from-an-old-session"], ids=["missing", "stale"])
def test_htmx_request_with_a_stale_token_says_so_in_the_flash_region(admin_client, acme_key, token):
    headers = {**HTMX, "HX-Current-URL": "http://localhost/settings/api-keys?status=all"}
    if token:
        headers["X-CSRFToken"] = token
    response = admin_client.delete(f"/settings/api-keys/{acme_key.id}", headers=headers)

    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#flash"
    assert response.headers["HX-Reswap"] == "innerHTML"
    fragment = parse_html(response)
    message = fragment.find("p", role="alert")
    assert EXPIRED_MESSAGE in text_of(message)
    assert message.find("a").get("href") == "/settings/api-keys?status=all"
    db.session.refresh(acme_key)
    assert acme_key.deleted_at is None


def test_the_page_has_the_flash_region_that_htmx_targets(admin_client):
    page = parse_html(admin_client.get("/settings/api-keys"))
    assert page.find(id="flash") is not None


def test_reload_link_never_leaves_the_site(admin_client, acme_key):
    for current in ("https://evil.example/settings/api-keys", "http://localhost//evil.example/", "javascript:alert(1)"):
        response = admin_client.delete(f"/settings/api-keys/{acme_key.id}", headers={**HTMX, "HX-Current-URL": current})
        assert parse_html(response).find("a").get("href") == "/"


@pytest.mark.parametrize(("path", "data", "back_to"), [
    ("/login", {"email": "a@b.test", "password": "x"}, "/login"),
    ("/settings/api-keys", {"name": "x", "expiration": "90", "services": ["checklists"]}, "/settings/api-keys"),
    ("/logout", {}, "/"),
])
def test_full_page_post_with_a_stale_token_gets_the_message_as_a_page(admin_client, path, data, back_to):
    response = admin_client.post(path, data={**data, "csrf_token": "stale"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = parse_html(response)
    assert page.find("header") is not None
    assert EXPIRED_MESSAGE in text_of(page.find("main"))
    assert text_of(page.find("main").find("a", href=back_to)) == "Reload the page"


def test_behind_a_trusted_proxy_the_client_ip_and_https_come_from_its_headers(make_app):
    from floqast.audit.events import AuditEvent

    proxied = make_app(TRUSTED_PROXY_COUNT=1)
    with proxied.app_context():
        client = proxied.test_client()
        response = client.get("/api/v1/me", headers={"X-Forwarded-For": "198.51.100.23", "X-Forwarded-Proto": "https"})
        assert response.status_code == 401
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert db.session.scalars(db.select(AuditEvent.ip)).all() == ["198.51.100.23"]


def test_every_state_changing_route_answers_a_missing_token_with_the_message(app, admin_client, acme_key):
    """Walks app.url_map, like test_settings_access: a route added later gets the same answer."""
    routes = [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api/")
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert len(routes) >= 5
    for rule, method in routes:
        url = re.sub(r"<[^>]+>", str(acme_key.id), rule)
        for headers in ({}, HTMX):
            response = admin_client.open(url, method=method, data={}, headers=headers)
            assert response.status_code == 400, (method, rule)
            assert EXPIRED_MESSAGE in response.get_data(as_text=True), (method, rule)
            assert ("HX-Retarget" in response.headers) == bool(headers), (method, rule)


# ---------------------------------------------------------------- the Host header


def test_a_host_outside_trusted_hosts_is_refused(app, client, admin, make_key):
    _, plaintext = make_key(admin)
    app.config["TRUSTED_HOSTS"] = ["keys.example.test"]
    api = {"x-api-key": plaintext}
    assert client.get("/api/v1/me", headers=api, base_url="https://keys.example.test").status_code == 200
    assert client.get("/login", base_url="https://keys.example.test").status_code == 200
    for path in ("/api/v1/me", "/api/v1/openapi.json", "/api/v1/analytics/checklists", "/login"):
        response = client.get(path, headers={**api, "Host": "evil.example"})
        assert response.status_code == 400, path
        assert response.mimetype == ("application/json" if path.startswith("/api/") else "text/html")


# Host headers that name no host: an empty label, a label past 63 characters, a space, a port out of range or not a
# number, an unclosed IPv6 bracket.
MALFORMED_HOSTS = ["a..b", ".", f"{'k' * 64}.example.test", "keys example.test", "keys.example.test:99999",
                   "keys.example.test:http", "[::1"]


@pytest.mark.parametrize("trusted_hosts", [None, ["keys.example.test"]], ids=["any host", "trusted hosts"])
@pytest.mark.parametrize("host", MALFORMED_HOSTS)
def test_a_malformed_host_is_a_400_page(app, client, admin, make_key, host, trusted_hosts):
    _, plaintext = make_key(admin)
    app.config["TRUSTED_HOSTS"] = trusted_hosts
    for path, headers in (("/login", {}), ("/", HTMX), ("/no-such-page", {})):
        response = client.get(path, headers={**headers, "Host": host})
        assert response.status_code == 400, path
        assert text_of(parse_html(response).find("h1")) == "Bad Request", path
        assert_security_headers(response)
    # Before any other check: a form without its CSRF token is refused for its Host, not its token.
    refused_form = client.post("/login", data={}, headers={"Host": host})
    assert refused_form.status_code == 400
    assert EXPIRED_MESSAGE not in refused_form.get_data(as_text=True)
    response = client.get("/api/v1/me", headers={"x-api-key": plaintext, "Host": host})
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert "Host" in response.get_json()["errors"][0]["detail"]


@pytest.mark.parametrize(("value", "expected"), [
    ("keys.example.com", ["keys.example.com"]),
    (" keys.example.com , .example.org,", ["keys.example.com", ".example.org"]),
    ("", None),
])
def test_trusted_hosts_come_from_the_environment(value, expected):
    from floqast.config import read_settings

    assert read_settings({"TRUSTED_HOSTS": value}, {})["TRUSTED_HOSTS"] == expected

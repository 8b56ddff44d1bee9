"""Who may reach the API Keys tab: every settings route × every kind of visitor, the switch, CSRF."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from floqast.accounts.models import Role
from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.keys.requests import ApiKeyRequest
from floqast.webhooks.actions import add_endpoint
from helpers import HTMX, csrf_token, log_in, parse_html, reload, text_of

VALID_KEY = {"name": "Nightly warehouse load", "expiration": "90", "services": ["reconciliations"]}

# Every settings route: (rule, method) -> (what an admin of the key's team gets, form data to send).
SETTINGS_ROUTES = {
    ("/settings/api-keys", "GET"): (200, None),
    ("/settings/api-keys/new", "GET"): (200, None),
    ("/settings/api-keys", "POST"): (201, VALID_KEY),
    ("/settings/api-keys/<id:key_id>/delete", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/delete", "POST"): (303, {}),
    ("/settings/api-keys/<id:key_id>", "DELETE"): (303, None),  # htmx gets the list; anything else, sent back
    ("/settings/api-keys/<id:key_id>", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>", "POST"): (303, {"name": "Renamed", "description": "Changed"}),
    ("/settings/api-keys/<id:key_id>/roll", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/roll", "POST"): (201, {"roll-overlap": "24", "roll-expiration": "90"}),
    # The key is not rolling, nor expired: each says why it cannot be done.
    ("/settings/api-keys/<id:key_id>/stop", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/stop", "POST"): (409, {}),
    ("/settings/api-keys/<id:key_id>/regenerate", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/regenerate", "POST"): (409, {"regenerate-expiration": "90"}),
    ("/settings/api-keys/<id:key_id>/allow-seen", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/suspend", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/suspend", "POST"): (303, {"suspend-reason": "Vendor dispute"}),
    # The key is not suspended: it says so.
    ("/settings/api-keys/<id:key_id>/resume", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/resume", "POST"): (409, {}),
    ("/settings/api-docs", "GET"): (200, None),
    ("/settings/api-keys/activity", "GET"): (200, None),
    ("/settings/api-key-policy", "GET"): (200, None),
    ("/settings/api-key-policy", "POST"): (302, {"require_expiration": "y", "max_lifetime": "90"}),
    ("/settings/api-keys/<id:key_id>/requests", "GET"): (200, None),
    ("/settings/api-keys/<id:key_id>/allowed-ips", "POST"): (303, {"allowed_ips": "203.0.113.7"}),
    ("/settings/api-keys/<id:key_id>/limits", "POST"): (303, {"entities": "all", "rate_limit_per_minute": "120"}),
    ("/settings/api-keys/activity/requests", "GET"): (200, None),
    ("/settings/api-keys.csv", "GET"): (200, None),
    ("/settings/webhooks", "GET"): (200, None),
    ("/settings/webhooks", "POST"): (201, {"url": "https://hooks.example.com/x", "events": ["api_key.created"]}),
    # The team's endpoint (acme_key's) is at a loopback address: its test event is refused at once, and said so.
    ("/settings/webhooks/<id:endpoint_id>/test", "POST"): (303, {}),
    ("/settings/webhooks/<id:endpoint_id>/disable", "POST"): (303, {}),
    ("/settings/webhooks/<id:endpoint_id>/enable", "POST"): (303, {}),
    ("/settings/webhooks/<id:endpoint_id>/roll-secret", "POST"): (200, {}),
    ("/settings/webhooks/<id:endpoint_id>/delete", "GET"): (200, None),
    ("/settings/webhooks/<id:endpoint_id>/delete", "POST"): (303, {}),
    # Decided on the team's pending request (acme_request: all entities, no expiration asked for).
    ("/settings/key-requests", "GET"): (200, None),
    ("/settings/key-requests/<id:request_id>/approve", "POST"): (303, {"approve-1-services": "checklists",
                                                                       "approve-1-entities": "all"}),
    ("/settings/key-requests/<id:request_id>/deny", "POST"): (303, {"deny-1-reason": "Use the shared key."}),
}
ROUTE_IDS = [f"{method} {rule}" for rule, method in SETTINGS_ROUTES]


def rules_of(app, keep):
    """(rule, method) for every URL rule `keep` accepts, HEAD and OPTIONS left out."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if keep(rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_the_matrix_covers_every_settings_route(app):
    assert rules_of(app, lambda rule: rule.endpoint.startswith("settings.")) == set(SETTINGS_ROUTES)


@pytest.fixture
def acme_key(admin, make_key):
    """The Acme team's key, and its webhook endpoint (id 1, at a loopback address)."""
    key, _ = make_key(admin, name="Acme Power BI")
    add_endpoint(admin, "https://127.0.0.1:9/hooks", ["api_key.created"], None)
    db.session.commit()
    return key


def call(client, rule, method, key_id, headers=None, with_token=True):
    """Send the route's request the way the page does: a form POST, or an htmx DELETE with the header."""
    url = rule.replace("<id:key_id>", str(key_id)).replace("<id:endpoint_id>", "1").replace("<id:request_id>", "1")
    data = SETTINGS_ROUTES[(rule, method)][1]
    headers = dict(headers or {})
    if method != "GET" and with_token:
        token = csrf_token(client, "/login")
        if data is None:
            headers["X-CSRFToken"] = token
        else:
            data = {**data, "csrf_token": token}
    return client.open(url, method=method, data=data, headers=headers)


@pytest.mark.parametrize(("rule", "method"), SETTINGS_ROUTES, ids=ROUTE_IDS)
def test_anonymous_visitor_is_sent_to_login(client, acme_key, rule, method):
    response = call(client, rule, method, acme_key.id)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    if method == "GET":
        assert parse_qs(location.query)["next"] == [
            rule.replace("<id:key_id>", str(acme_key.id)).replace("<id:endpoint_id>", "1")]
    assert db.session.get(ApiKey, acme_key.id).deleted_at is None
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 1


@pytest.mark.parametrize(("rule", "method"), SETTINGS_ROUTES, ids=ROUTE_IDS)
def test_anonymous_htmx_request_gets_401_and_hx_redirect_to_login(client, acme_key, rule, method):
    response = call(client, rule, method, acme_key.id, headers=HTMX)

    assert response.status_code == 401
    assert urlsplit(response.headers["HX-Redirect"]).path == "/login"
    assert "Acme Power BI" not in response.get_data(as_text=True)
    assert db.session.get(ApiKey, acme_key.id).deleted_at is None


@pytest.mark.parametrize("role", [Role.USER, Role.MANAGER])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("rule", "method"), SETTINGS_ROUTES, ids=ROUTE_IDS)
def test_users_and_managers_are_forbidden(client, team, make_user, acme_key, rule, method, role, htmx):
    log_in(client, make_user(team, role))

    response = call(client, rule, method, acme_key.id, headers=HTMX if htmx else None)

    assert response.status_code == 403
    assert "Acme Power BI" not in response.get_data(as_text=True)
    assert db.session.get(ApiKey, acme_key.id).deleted_at is None
    assert (reload(acme_key).name, reload(acme_key).description) == ("Acme Power BI", None)
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 1


@pytest.fixture
def acme_request(team, make_user):
    """A pending key request of the team, the first (id 1)."""
    manager = make_user(team, Role.MANAGER)
    key_request = ApiKeyRequest(team_id=team.id, requested_by=manager, name="Power BI", services=["checklists"],
                                entity_ids=None, expires_on=None, justification="The month-end refresh.")
    db.session.add(key_request)
    db.session.commit()
    return key_request


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SYSADMIN])
@pytest.mark.parametrize(("rule", "method"), SETTINGS_ROUTES, ids=ROUTE_IDS)
def test_admins_and_system_admins_may_use_every_route(client, team, make_user, acme_key, acme_request, rule, method,
                                                      role):
    log_in(client, make_user(team, role))

    response = call(client, rule, method, acme_key.id)

    assert response.status_code == SETTINGS_ROUTES[(rule, method)][0]


@pytest.fixture
def globex_admin(make_team, make_user):
    return make_user(make_team("Globex"), Role.ADMIN, email="admin@globex.test", name="Gina Globex")


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(
    ("rule", "method"), [route for route in SETTINGS_ROUTES if "<id:" in route[0]],
    ids=[route_id for route_id in ROUTE_IDS if "<id:" in route_id],
)
def test_another_teams_admin_gets_404_for_this_teams_key_or_endpoint(client, globex_admin, acme_key, rule, method,
                                                                     htmx):
    log_in(client, globex_admin)

    response = call(client, rule, method, acme_key.id, headers=HTMX if htmx else None)

    assert response.status_code == 404
    assert "Acme Power BI" not in response.get_data(as_text=True)
    assert db.session.get(ApiKey, acme_key.id).deleted_at is None
    assert (reload(acme_key).name, reload(acme_key).description) == ("Acme Power BI", None)


@pytest.mark.parametrize("status", ["active", "expired", "deactivated", "all"])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_another_teams_admin_never_sees_this_teams_keys(client, globex_admin, acme_key, make_key, status, htmx):
    make_key(globex_admin, name="Globex Tableau")
    log_in(client, globex_admin)

    response = client.get("/settings/api-keys", query_string={"status": status}, headers=HTMX if htmx else {})

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Acme Power BI" not in body
    assert acme_key.hint not in body
    if status in ("active", "all"):
        assert "Globex Tableau" in body


def test_another_teams_admin_creates_keys_in_their_own_team(client, globex_admin, acme_key):
    log_in(client, globex_admin)

    response = call(client, "/settings/api-keys", "POST", None, headers=HTMX)

    assert response.status_code == 201
    created = db.session.scalar(select(ApiKey).where(ApiKey.name == VALID_KEY["name"]))
    assert created.team_id == globex_admin.team_id
    assert "Acme Power BI" not in response.get_data(as_text=True)


# ---- the switch ----


@pytest.fixture
def closed_team(make_team):
    return make_team("Initech", open_api=False)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SYSADMIN])
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize(("rule", "method"), SETTINGS_ROUTES, ids=ROUTE_IDS)
def test_switch_off_every_settings_route_is_404(client, closed_team, make_user, make_key, rule, method, role, htmx):
    user = make_user(closed_team, role)
    key, _ = make_key(user, name="Initech Looker")
    log_in(client, user)

    response = call(client, rule, method, key.id, headers=HTMX if htmx else None)

    assert response.status_code == 404
    assert "Initech Looker" not in response.get_data(as_text=True)
    assert db.session.get(ApiKey, key.id).deleted_at is None
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 1


def settings_links(page) -> list[str]:
    return [a.get("href") for a in page.find_all("a") if (a.get("href") or "").startswith("/settings")]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SYSADMIN])
def test_switch_off_no_admin_settings_link_and_home_says_why(client, closed_team, make_user, role):
    log_in(client, make_user(closed_team, role))

    response = client.get("/")

    assert response.status_code == 200
    page = parse_html(response)
    assert "Admin Settings" not in text_of(page.find("header"))
    assert settings_links(page) == []
    assert "The Open API is not enabled for your team" in text_of(page)


def test_switch_on_admin_sees_admin_settings_link(admin_client):
    page = parse_html(admin_client.get("/settings/api-keys"))

    nav = page.find("nav", attrs={"aria-label": "Main"})
    assert [text_of(a) for a in nav.find_all("a")] == ["Admin Settings"]
    assert nav.find("a").get("href") == "/settings/api-keys"


@pytest.mark.parametrize("role", [Role.USER, Role.MANAGER])
def test_users_and_managers_have_no_admin_settings_link(client, team, make_user, role):
    log_in(client, make_user(team, role))

    page = parse_html(client.get("/"))

    assert "Admin Settings" not in text_of(page)
    assert settings_links(page) == []
    assert "API keys are managed by your team's Admins and System Admins." in text_of(page)


def test_turning_the_switch_off_closes_the_tab_at_once(admin_client, team):
    assert admin_client.get("/settings/api-keys").status_code == 200
    team.open_api_enabled = False
    db.session.commit()

    assert admin_client.get("/settings/api-keys").status_code == 404


# ---- CSRF ----


def state_changing_browser_routes(app):
    """Every (rule, method) outside the key-authenticated API that may change state."""
    return sorted(
        (rule, method)
        for rule, method in rules_of(app, lambda rule: not rule.rule.startswith("/api/"))
        if method in {"POST", "PUT", "PATCH", "DELETE"}
    )


def test_csrf_walk_includes_login_logout_and_every_settings_change(app):
    routes = state_changing_browser_routes(app)
    assert ("/login", "POST") in routes
    assert ("/logout", "POST") in routes
    assert {route for route in SETTINGS_ROUTES if route[1] != "GET"} <= set(routes)


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_every_state_changing_request_without_csrf_token_is_refused(app, admin_client, acme_key, htmx):
    routes = state_changing_browser_routes(app)
    assert routes
    for rule, method in routes:
        url = rule.replace("<id:key_id>", str(acme_key.id))
        data = SETTINGS_ROUTES.get((rule, method), (None, {"email": "admin@acme.test", "password": "x"}))[1]
        response = admin_client.open(url, method=method, data=data, headers=HTMX if htmx else {})
        assert response.status_code == 400, (method, rule)

    assert db.session.get(ApiKey, acme_key.id).deleted_at is None
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 1
    # /logout without a token did not log the admin out.
    assert admin_client.get("/settings/api-keys").status_code == 200


def test_a_token_from_another_session_is_refused(app, admin_client, acme_key):
    stranger_token = csrf_token(app.test_client(), "/login")

    response = admin_client.delete(f"/settings/api-keys/{acme_key.id}", headers={**HTMX, "X-CSRFToken": stranger_token})

    assert response.status_code == 400
    assert db.session.get(ApiKey, acme_key.id).deleted_at is None


# ---- ids out of range ----

# Past PostgreSQL's INTEGER, past SQLite's 64-bit integer, negative, zero, and a digit string too long to be one.
NOT_AN_ID = ["2147483648", "9223372036854775807", "9223372036854775808", "-1", "-9223372036854775809", "0",
             "1" * 30]


def test_every_route_argument_is_a_bounded_id(app):
    """An id in a URL goes through the id converter; a plain <int:...> would reach the database unbounded.
    (A download link's <token> is a signed string, read by itsdangerous, never an id.)"""
    converters = {converter for rule in app.url_map.iter_rules() if rule.endpoint not in ("static", "api.download")
                  for converter in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", rule.rule)}
    assert converters == {"id"}
    assert [rule.rule for rule in app.url_map.iter_rules("api.download")] == ["/api/v1/downloads/<token>"]


@pytest.mark.parametrize("value", NOT_AN_ID)
def test_an_id_out_of_range_is_a_404_on_every_route_that_takes_one(app, admin_client, acme_key, value):
    routes = sorted(rules_of(app, lambda rule: "<id:" in rule.rule))
    assert routes
    token = csrf_token(admin_client, "/settings/api-keys")
    for rule, method in routes:
        url = re.sub(r"<id:\w+>", value, rule)
        for headers in ({"X-CSRFToken": token}, {"X-CSRFToken": token, **HTMX}):
            response = admin_client.open(url, method=method, data={"csrf_token": token}, headers=headers)
            assert response.status_code == 404, (method, url)
    assert db.session.get(ApiKey, acme_key.id).deleted_at is None


@pytest.mark.parametrize("value", [*NOT_AN_ID, "abc", ""])
def test_activity_before_an_id_out_of_range_shows_the_newest_events(admin_client, acme_key, value):
    admin_client.delete(f"/settings/api-keys/{acme_key.id}",
                        headers={**HTMX, "X-CSRFToken": csrf_token(admin_client, "/settings/api-keys")})
    newest = admin_client.get("/settings/api-keys/activity", headers=HTMX)
    response = admin_client.get("/settings/api-keys/activity", query_string={"before": value}, headers=HTMX)
    assert response.status_code == 200
    assert "Key deleted" in text_of(parse_html(response))
    assert response.get_data() == newest.get_data()


@pytest.mark.parametrize("value", [*NOT_AN_ID, "abc"])
def test_a_page_number_out_of_range_shows_a_page_of_keys(admin_client, acme_key, value):
    for headers in ({}, HTMX):
        response = admin_client.get("/settings/api-keys", query_string={"page": value, "status": "all"},
                                    headers=headers)
        assert response.status_code == 200
        assert "Acme Power BI" in response.get_data(as_text=True)

"""Managers and Users who open an admin page: a 403 in the app's layout that names the team's Admins and System
Admins to ask, on every settings route, the blueprint gated as a whole."""

import pytest
from test_settings_access import ROUTE_IDS, SETTINGS_ROUTES, call

from floqast.accounts.models import Role
from helpers import HTMX, log_in, parse_html, text_of


@pytest.fixture
def acme(team, make_user, make_team):
    """Acme's people: two admins of either kind, a manager; and Globex's admin, who is no one to ask at Acme."""
    make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")
    make_user(team, Role.ADMIN, email="ada@acme.test", name="Ada Admin")
    make_user(make_team("Globex"), Role.ADMIN, email="gina@globex.test", name="Gina Globex")
    return make_user(team, Role.MANAGER, email="max@acme.test", name="Max Manager")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.USER])
@pytest.mark.parametrize(("rule", "method"), SETTINGS_ROUTES, ids=ROUTE_IDS)
def test_every_admin_page_tells_other_roles_who_manages_keys(client, team, make_user, acme, admin, rule, method, role):
    log_in(client, acme if role is Role.MANAGER else make_user(team, role, email="uma@acme.test", name="Uma User"))

    response = call(client, rule, method, key_id=1)

    assert response.status_code == 403
    page = parse_html(response)
    assert text_of(page.find("h1")) == "API keys are managed by your team's Admins"
    assert page.find("header", class_="topbar") is not None  # the app's layout, signed in
    asked = [text_of(item) for item in page.find("ul", class_="admins").find_all("li")]
    assert asked == ["Ada Admin (Admin), ada@acme.test", "Alex Admin (Admin), admin@acme.test",
                     "Sam Sysadmin (System Admin), sam@acme.test"]
    assert page.find("a", href="mailto:ada@acme.test") is not None
    assert "permission" not in text_of(page)  # not Werkzeug's stock text


def test_a_team_without_admins_is_told_to_ask_support(client, team, make_user):
    log_in(client, make_user(team, Role.MANAGER))
    response = client.get("/settings/api-keys", headers=HTMX)
    assert response.status_code == 403
    assert "Your team has no Admin or System Admin yet" in text_of(parse_html(response))

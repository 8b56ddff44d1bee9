"""The team's API key policy: its page, its audit event, what the create dialog offers and the server accepts
under it, and the Exceeds policy badge on keys from before it."""

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from floqast.accounts.models import Team
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import queries
from floqast.keys.models import ApiKey
from floqast.keys.policy import KeyPolicy
from helpers import HTMX, ME, cells, csrf_token, freeze, parse_html, text_of

POLICY = "/settings/api-key-policy"
REQUIRED = "Your team's API key policy requires an expiration date."
# Noon UTC is already the next day at UTC+14: a date counted from UTC's today would be a day short.
NOON = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
ZONE = "Pacific/Kiritimati"


def save_policy(client, htmx=True, **fields):
    """Submit the API key policy form (a checkbox is sent only when checked, as a browser does)."""
    data = {"max_lifetime": "none", **fields, "csrf_token": csrf_token(client, POLICY)}
    return client.post(POLICY, data=data, headers=HTMX if htmx else {})


def set_policy(team, require_expiration=False, max_lifetime_days=None) -> None:
    team.key_policy = KeyPolicy(require_expiration, max_lifetime_days)
    db.session.commit()


def stored_policy(team) -> KeyPolicy:
    db.session.expire_all()
    return team.key_policy


def policy_events() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.POLICY_CHANGED)))


def create(client, htmx=True, **fields):
    data = {"name": "Looker", "expiration": "90", "services": ["checklists"], **fields}
    data["csrf_token"] = csrf_token(client, "/settings/api-keys")
    return client.post("/settings/api-keys", data=data, headers=HTMX if htmx else {})


def key_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ApiKey))


def offered_expirations(client) -> list[str]:
    dialog = parse_html(client.get("/settings/api-keys")).find("dialog", id="create-key-dialog")
    return [text_of(option) for option in dialog.find("select", id="expiration").find_all("option")]


# ---- the page ----


def test_the_page_is_in_the_settings_navigation_and_shows_the_policy_as_it_is(admin_client, team):
    set_policy(team, True, 60)

    page = parse_html(admin_client.get(POLICY))

    nav = page.find("nav", attrs={"aria-label": "Admin Settings"})
    assert text_of(nav.find("a", attrs={"aria-current": "page"})) == "API key policy"
    assert text_of(page.find("h1")) == "API key policy"
    assert page.find("input", id="require_expiration").has_attr("checked")
    lifetime = page.find("select", id="max_lifetime")
    assert [text_of(option) for option in lifetime.find_all("option")] == [
        "No limit", "365 days", "90 days", "60 days", "30 days",
    ]
    assert text_of(lifetime.find("option", selected=True)) == "60 days"
    assert text_of(page.find("label", attrs={"for": "max_lifetime"})) == "Longest allowed lifetime"
    assert "Require an expiration date" in text_of(page.find("input", id="require_expiration").parent)


def test_the_api_keys_tab_links_to_the_policy_page(admin_client):
    nav = parse_html(admin_client.get("/settings/api-keys")).find("nav", attrs={"aria-label": "Admin Settings"})
    assert nav.find("a", string="API key policy").get("href") == POLICY


def test_a_new_team_has_no_policy(admin_client):
    page = parse_html(admin_client.get(POLICY))

    assert not page.find("input", id="require_expiration").has_attr("checked")
    assert text_of(page.find("select", id="max_lifetime").find("option", selected=True)) == "No limit"


def test_saving_without_javascript_redirects_to_the_page_with_a_message(admin_client, team):
    response = save_policy(admin_client, htmx=False, require_expiration="y", max_lifetime="90")

    assert response.status_code == 302 and response.headers["Location"] == POLICY
    assert stored_policy(team) == KeyPolicy(True, 90)
    page = parse_html(admin_client.get(POLICY))
    assert "The API key policy was saved." in text_of(page.find(id="flash"))
    assert page.find("input", id="require_expiration").has_attr("checked")
    assert text_of(page.find("select", id="max_lifetime").find("option", selected=True)) == "90 days"


def test_saving_with_htmx_answers_the_form_alone_with_a_message(admin_client, team):
    response = save_policy(admin_client, max_lifetime="30")

    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    form = parse_html(body).find("form", id="key-policy-form")
    assert "The API key policy was saved." in text_of(form.find(role="status"))
    assert text_of(form.find("select", id="max_lifetime").find("option", selected=True)) == "30 days"
    assert not form.find("input", id="require_expiration").has_attr("checked")
    assert stored_policy(team) == KeyPolicy(False, 30)


def test_unchecking_the_box_and_lifting_the_limit_is_saved_too(admin_client, team):
    set_policy(team, True, 90)

    save_policy(admin_client)

    assert stored_policy(team) == KeyPolicy(False, None)


def test_a_change_is_audited_with_who_before_and_after(admin_client, admin, team):
    save_policy(admin_client, require_expiration="y", max_lifetime="90")
    save_policy(admin_client, require_expiration="y", max_lifetime="30")

    first, second = policy_events()
    assert (first.team_id, first.user_id, first.email) == (team.id, admin.id, admin.email)
    assert first.detail == "Before: expiration not required, no limit. After: expiration required, at most 90 days."
    assert second.detail == "Before: expiration required, at most 90 days. After: expiration required, at most 30 days."
    activity = parse_html(admin_client.get("/settings/api-keys/activity"))
    assert "Policy changed" in text_of(activity.find("tbody").find("tr"))


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_saving_the_same_policy_records_nothing(admin_client, team, htmx):
    set_policy(team, True, 90)

    response = save_policy(admin_client, htmx, require_expiration="y", max_lifetime="90")

    assert policy_events() == []
    page = parse_html(response if htmx else admin_client.get(POLICY))
    assert "The policy is unchanged." in text_of(page)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_a_lifetime_that_is_not_offered_is_refused(admin_client, team, htmx):
    response = save_policy(admin_client, htmx, require_expiration="y", max_lifetime="7")

    assert response.status_code == 422
    page = parse_html(response)
    assert "Not a valid choice" in text_of(page.find(id="max_lifetime-error"))
    assert stored_policy(team) == KeyPolicy()
    assert policy_events() == []


def test_another_teams_policy_is_its_own(admin_client, team, make_team):
    globex = make_team("Globex")

    save_policy(admin_client, require_expiration="y", max_lifetime="30")

    assert stored_policy(globex) == KeyPolicy()
    assert stored_policy(team) == KeyPolicy(True, 30)


# ---- what the create dialog offers ----


@pytest.mark.parametrize(("policy", "offered", "default"), [
    (KeyPolicy(), ["365 days", "90 days", "60 days", "30 days", "Custom date", "No expiration"], "90"),
    (KeyPolicy(True, None), ["365 days", "90 days", "60 days", "30 days", "Custom date"], "90"),
    (KeyPolicy(False, 365), ["365 days", "90 days", "60 days", "30 days", "Custom date"], "90"),
    (KeyPolicy(True, 90), ["90 days", "60 days", "30 days", "Custom date"], "90"),
    (KeyPolicy(True, 60), ["60 days", "30 days", "Custom date"], "60"),
    (KeyPolicy(False, 30), ["30 days", "Custom date"], "30"),
], ids=["none", "required", "365", "required 90", "required 60", "30"])
def test_the_dialog_offers_only_what_the_policy_allows(admin_client, team, policy, offered, default):
    set_policy(team, policy.require_expiration, policy.max_lifetime_days)

    assert offered_expirations(admin_client) == offered
    select_ = parse_html(admin_client.get("/settings/api-keys/new")).find("select", id="expiration")
    assert select_.find("option", selected=True).get("value") == default


def test_the_dialog_says_the_limit_and_stops_the_custom_date_at_it_in_the_team_zone(admin_client, team,
                                                                                    monkeypatch):
    freeze(monkeypatch, NOON)
    team.timezone = ZONE
    set_policy(team, True, 90)

    dialog = parse_html(admin_client.get("/settings/api-keys")).find("dialog", id="create-key-dialog")

    assert "Your team's policy allows keys of at most 90 days." in text_of(dialog.find(id="expiration-help"))
    assert dialog.find("input", id="custom_date").get("max") == "2026-08-31"  # June 2 there, + 90 days


def test_the_dialog_says_an_expiration_is_required(admin_client, team):
    set_policy(team, True, None)

    dialog = parse_html(admin_client.get("/settings/api-keys")).find("dialog", id="create-key-dialog")

    assert "Your team's policy requires an expiration date." in text_of(dialog.find(id="expiration-help"))


# ---- what the server accepts ----


def assert_refused_next_to(response, field: str, message: str) -> None:
    assert response.status_code == 422
    page = parse_html(response)
    assert text_of(page.find(id=f"{field}-error")) == message
    assert page.find(attrs={"name": field}).get("aria-describedby") == f"{field}-error"
    assert key_count() == 0


LIMIT_90 = "Your team's API key policy allows keys of at most 90 days: choose a date no later than August 31, 2026."


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
@pytest.mark.parametrize(("policy", "fields", "field", "message"), [
    (KeyPolicy(True, None), {"expiration": "never"}, "expiration", REQUIRED),
    (KeyPolicy(True, 90), {"expiration": "never"}, "expiration", REQUIRED),
    (KeyPolicy(False, 90), {"expiration": "never"}, "expiration", LIMIT_90),
    (KeyPolicy(False, 90), {"expiration": "365"}, "expiration", LIMIT_90),
    (KeyPolicy(True, 90), {"expiration": "custom", "custom_date": "2026-09-01"}, "custom_date", LIMIT_90),
], ids=["never when required", "never when required with a limit", "never past a limit", "preset past the limit",
        "custom date past the limit"])
def test_a_crafted_form_gets_a_422_with_the_policys_message(admin_client, team, monkeypatch, htmx, policy, fields,
                                                            field, message):
    freeze(monkeypatch, NOON)
    team.timezone = ZONE
    set_policy(team, policy.require_expiration, policy.max_lifetime_days)

    assert_refused_next_to(create(admin_client, htmx, **fields), field, message)


@pytest.mark.parametrize("fields", [
    {"expiration": "90"},
    {"expiration": "30"},
    {"expiration": "custom", "custom_date": "2026-08-31"},
], ids=["90 days", "30 days", "custom date at the limit"])
def test_what_the_policy_allows_is_created(admin_client, team, monkeypatch, fields):
    freeze(monkeypatch, NOON)
    team.timezone = ZONE
    set_policy(team, True, 90)

    response = create(admin_client, **fields)

    assert response.status_code == 201
    assert db.session.scalars(select(ApiKey)).one().expires_on <= date(2026, 8, 31)


def test_an_unknown_expiration_is_still_not_a_valid_choice(admin_client, team):
    set_policy(team, True, 90)

    assert_refused_next_to(create(admin_client, expiration="7"), "expiration", "Not a valid choice.")


# ---- keys from before the policy ----


def badges(admin_client, key) -> str:
    return cells(parse_html(admin_client.get("/settings/api-keys?status=all")), key)[7]


def test_keys_that_break_a_stricter_policy_keep_working_and_are_marked(admin_client, admin, make_key, team, api_get):
    today = team.today()
    long_ago = utcnow() - timedelta(days=300)
    made = {
        # Its lifetime, created 300 days ago and expiring in 60, is 360 days: over 90, though 60 are left.
        "long lived": make_key(admin, name="long lived", expires_on=today + timedelta(days=60), created_at=long_ago),
        "never": make_key(admin, name="never"),
        "a year": make_key(admin, name="a year", expires_on=today + timedelta(days=365)),
        "90 days": make_key(admin, name="90 days", expires_on=today + timedelta(days=90)),
        "90 days from a month ago": make_key(admin, name="90 days from a month ago",
                                             expires_on=today + timedelta(days=60),
                                             created_at=utcnow() - timedelta(days=30)),
        "deleted": make_key(admin, name="deleted", deleted_at=utcnow(), deleted_by_id=admin.id),
        "expired": make_key(admin, name="expired", expires_on=today - timedelta(days=1), created_at=long_ago),
    }
    set_policy(team, True, 90)

    marked = {name for name, (key, _) in made.items() if "Exceeds policy" in badges(admin_client, key)}

    assert marked == {"long lived", "never", "a year"}
    for key, plaintext in made.values():
        if key.name in marked:
            assert api_get(ME, plaintext).status_code == 200


def test_no_key_is_marked_without_a_policy(admin_client, admin, make_key):
    key, _ = make_key(admin, name="never")

    assert "Exceeds policy" not in badges(admin_client, key)


def test_a_key_created_late_in_the_day_is_measured_from_that_day_in_the_team_zone(admin_client, admin, make_key,
                                                                                   team, monkeypatch):
    freeze(monkeypatch, NOON)
    team.timezone = ZONE
    db.session.commit()
    # Created at 11:00 UTC on May 2, already May 3 at UTC+14: 90 days from there is August 1 (from May 2, July 31).
    created = datetime(2026, 5, 2, 11, tzinfo=timezone.utc)
    within, _ = make_key(admin, name="within", created_at=created, expires_on=date(2026, 8, 1))
    past, _ = make_key(admin, name="past", created_at=created, expires_on=date(2026, 8, 2))
    set_policy(team, False, 90)

    assert "Exceeds policy" not in badges(admin_client, within)
    assert "Exceeds policy" in badges(admin_client, past)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_a_stricter_policy_saved_while_a_create_is_checked_still_refuses_it(admin_client, team, monkeypatch, htmx):
    """Another admin's save lands after the form has read the old policy and before the create takes the team's
    lock: the create refuses the key under the policy as it is now, and offers what that policy allows."""
    freeze(monkeypatch, NOON)
    team.timezone = ZONE
    set_policy(team)  # no policy: 365 days passes the form
    take_lock = queries.hold_names

    def saved_meanwhile(team_to_lock):
        with db.engine.begin() as other_admin:
            other_admin.execute(Team.__table__.update().where(Team.id == team.id)
                                .values(require_key_expiration=True, max_key_lifetime_days=90))
        take_lock(team_to_lock)

    monkeypatch.setattr(queries, "hold_names", saved_meanwhile)
    response = create(admin_client, htmx, expiration="365")

    assert_refused_next_to(response, "expiration", LIMIT_90)
    offered = [text_of(option) for option in parse_html(response).find("select", id="expiration").find_all("option")]
    assert offered == ["90 days", "60 days", "30 days", "Custom date"]

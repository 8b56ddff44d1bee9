"""Operator commands: teams, users and the demo, as run from a terminal."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select

from floqast.accounts.models import Role, Team, User
from floqast.analytics.models import Entity, Reconciliation
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import queries
from floqast.keys.models import ApiKey, KeyStatus
from floqast.keys.policy import KeyPolicy
from floqast.keys.request_actions import pending_count
from floqast.usage.days import ApiRequestDay
from floqast.usage.models import ApiRequest
from helpers import assert_refused

PASSWORD = "a long enough password"
KEY_IN_OUTPUT = re.compile(r"\bfq_[0-9A-Za-z]{38}\b")


def teams() -> list[Team]:
    db.session.expire_all()
    return list(db.session.scalars(select(Team).order_by(Team.id)))


def assert_usage_error(result, *words: str) -> None:
    """Click's own refusal of a bad argument: exit code 2 and an Error line naming what is allowed."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    for word in words:
        assert word in line, line


# ---------------------------------------------------------------- team create


def test_team_create_defaults_to_open_api_off_in_utc(runner):
    result = runner.invoke(args=["team", "create", "Initech"])
    assert result.exit_code == 0, result.output
    assert "Initech" in result.output
    assert "Open API off" in result.output
    [team] = teams()
    assert (team.name, team.timezone, team.open_api_enabled) == ("Initech", "UTC", False)


def test_team_create_with_open_api_and_time_zone(runner):
    result = runner.invoke(args=["team", "create", "  Initech  ", "--open-api", "--timezone", "Pacific/Auckland"])
    assert result.exit_code == 0, result.output
    assert "Open API on" in result.output
    [team] = teams()
    assert (team.name, team.timezone, team.open_api_enabled) == ("Initech", "Pacific/Auckland", True)


@pytest.mark.parametrize("name", ["Acme Corp", "acme corp", " ACME CORP "])
def test_team_create_refuses_a_duplicate_name(runner, team, name):
    result = runner.invoke(args=["team", "create", name])
    assert_refused(result, "already exists")
    assert len(teams()) == 1


@pytest.mark.parametrize("zone", ["Mars/Olympus", "PST8PDTX", "", "../etc/passwd", "utc+2"])
def test_team_create_refuses_a_bad_time_zone(runner, zone):
    result = runner.invoke(args=["team", "create", "Initech", "--timezone", zone])
    assert_refused(result, "time zone")
    assert teams() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_team_create_refuses_an_empty_or_overlong_name(runner, name):
    result = runner.invoke(args=["team", "create", name])
    assert_refused(result, "team name")
    assert teams() == []


def test_team_create_without_a_name_shows_usage(runner):
    result = runner.invoke(args=["team", "create"])
    assert_usage_error(result, "NAME")


# ---------------------------------------------------------------- team open-api, team list


@pytest.mark.parametrize(("start", "state", "expected"), [
    (False, "on", True),
    (True, "off", False),
    (True, "on", True),
])
def test_team_open_api_switches_the_team(runner, make_team, start, state, expected):
    make_team(name="Initech", open_api=start)
    result = runner.invoke(args=["team", "open-api", "Initech", state])
    assert result.exit_code == 0, result.output
    assert f"Open API is {state}" in result.output
    [team] = teams()
    assert team.open_api_enabled is expected


def test_team_open_api_on_lets_the_teams_keys_in(runner, client, make_team, make_user, make_key):
    team = make_team(name="Initech", open_api=False)
    _, plaintext = make_key(make_user(team))
    assert client.get("/api/v1/me", headers={"x-api-key": plaintext}).status_code == 403
    assert runner.invoke(args=["team", "open-api", "Initech", "on"]).exit_code == 0
    assert client.get("/api/v1/me", headers={"x-api-key": plaintext}).status_code == 200
    assert runner.invoke(args=["team", "open-api", "Initech", "off"]).exit_code == 0
    assert client.get("/api/v1/me", headers={"x-api-key": plaintext}).status_code == 403


@pytest.mark.parametrize("typed", ["initech", " INITECH "])
def test_team_names_are_found_regardless_of_case_and_spaces(runner, make_team, typed):
    make_team(name="Initech", open_api=False)
    result = runner.invoke(args=["team", "open-api", typed, "on"])
    assert result.exit_code == 0, result.output
    assert "'Initech'" in result.output
    assert teams()[0].open_api_enabled is True


def test_team_open_api_refuses_an_unknown_team(runner, team):
    result = runner.invoke(args=["team", "open-api", "Umbrella", "on"])
    assert_refused(result, "Umbrella", "team list")
    assert teams()[0].open_api_enabled is True


@pytest.mark.parametrize("state", ["yes", "enable", "ON", "1", ""])
def test_team_open_api_refuses_a_bad_state(runner, make_team, state):
    make_team(name="Initech", open_api=False)
    result = runner.invoke(args=["team", "open-api", "Initech", state])
    assert_usage_error(result, "on", "off")
    assert teams()[0].open_api_enabled is False


def test_team_list_with_no_teams_says_how_to_make_one(runner):
    result = runner.invoke(args=["team", "list"])
    assert result.exit_code == 0
    assert "No teams yet" in result.output
    assert "team create" in result.output


def test_team_list_shows_each_team_with_zone_switch_and_users(runner, make_team, make_user):
    acme = make_team(name="Acme Corp", open_api=True, timezone="America/Los_Angeles")
    make_user(acme, Role.ADMIN)
    make_user(acme, Role.USER)
    globex = make_team(name="Globex", open_api=False, timezone="Europe/London")
    make_user(globex, Role.ADMIN)
    make_team(name="Initech", open_api=False, timezone="UTC")
    result = runner.invoke(args=["team", "list"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Acme Corp\tAmerica/Los_Angeles\tOpen API on\t2 users",
        "Globex\tEurope/London\tOpen API off\t1 user",
        "Initech\tUTC\tOpen API off\t0 users",
    ]


# ---------------------------------------------------------------- user create


def create_user(runner, *, team="Acme Corp", email="dana@acme.test", name="Dana Doe", role="admin",
                password=PASSWORD):
    args = ["user", "create", "--team", team, "--email", email, "--name", name, "--role", role, "--password-stdin"]
    return runner.invoke(args=args, input=f"{password}\n")


def users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(select(User).order_by(User.id)))


@pytest.mark.parametrize("role", list(Role))
def test_user_create_stores_a_bcrypt_hash_that_checks(app, runner, team, role):
    result = create_user(runner, email="  Dana@Acme.TEST ", role=role.value)
    assert result.exit_code == 0, result.output
    assert role.label in result.output
    assert PASSWORD not in result.output
    [user] = users()
    assert (user.email, user.name, user.role, user.team_id) == ("dana@acme.test", "Dana Doe", role, team.id)
    rounds = app.config["BCRYPT_ROUNDS"]
    assert user.password_hash.startswith(f"$2b${rounds:02d}$")
    assert PASSWORD not in user.password_hash
    assert user.check_password(PASSWORD)
    assert not user.check_password(PASSWORD + "!")
    assert User.by_email("DANA@acme.test") == user


def test_user_create_reads_the_password_from_a_hidden_prompt(runner, team):
    result = runner.invoke(
        args=["user", "create", "--team", "Acme Corp", "--email", "dana@acme.test", "--name", "Dana", "--role", "user"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert users()[0].check_password(PASSWORD)


def test_a_created_user_can_log_in(client, runner, team):
    assert create_user(runner).exit_code == 0
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    response = client.post("/login", data={"email": "dana@acme.test", "password": PASSWORD,
                                            "csrf_token": token.group(1) if token else ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize("role", ["owner", "Admin", "system admin", ""])
def test_user_create_refuses_a_bad_role(runner, team, role):
    assert_usage_error(create_user(runner, role=role), "admin", "sysadmin", "manager", "user")
    assert users() == []


@pytest.mark.parametrize("email", ["dana", "dana@", "@acme.test", "dana@acme", "dana smith@acme.test", ""])
def test_user_create_refuses_a_bad_email(runner, team, email):
    assert_refused(create_user(runner, email=email), "email")
    assert users() == []


@pytest.mark.parametrize("email", ["admin@acme.test", "ADMIN@acme.test", " admin@Acme.Test "])
def test_user_create_refuses_a_duplicate_email(runner, admin, email):
    assert_refused(create_user(runner, email=email), "already exists")
    assert users() == [admin]


@pytest.mark.parametrize("password", ["", "short", "elevenchars"])
def test_user_create_refuses_a_short_password(runner, team, password):
    assert_refused(create_user(runner, password=password), "at least 12 characters")
    assert users() == []


def test_user_create_refuses_a_password_bcrypt_would_cut_or_reject(runner, team):
    assert_refused(create_user(runner, password="x" * 73), "72")
    assert_refused(create_user(runner, password="é" * 40), "72")  # 80 bytes in UTF-8
    assert users() == []
    assert create_user(runner, password="y" * 72).exit_code == 0
    assert users()[0].check_password("y" * 72)


def test_user_create_refuses_an_unknown_team(runner, team):
    assert_refused(create_user(runner, team="Umbrella"), "Umbrella")
    assert users() == []


@pytest.mark.parametrize("name", ["", "   ", "n" * 101])
def test_user_create_refuses_an_empty_or_overlong_name(runner, team, name):
    assert_refused(create_user(runner, name=name), "name")
    assert users() == []


# ---------------------------------------------------------------- demo


DEMO_LOGINS = {
    "admin@acme.test": ("Acme Corp", Role.ADMIN),
    "sysadmin@acme.test": ("Acme Corp", Role.SYSADMIN),
    "manager@acme.test": ("Acme Corp", Role.MANAGER),
    "user@acme.test": ("Acme Corp", Role.USER),
    "admin@globex.test": ("Globex", Role.ADMIN),
}


def printed_password(output: str) -> str:
    return re.search(r"^Password for all of them: (.+)$", output, re.MULTILINE).group(1)


def key_counts() -> dict[str, int]:
    rows = db.session.execute(select(Team.name, func.count(ApiKey.id)).join(ApiKey.team).group_by(Team.name))
    return dict(rows.all())


def test_demo_builds_the_schema_teams_users_and_keys(app, runner, client, empty_db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "api_keys" in inspect(db.engine).get_table_names()

    acme, globex = (db.session.scalar(select(Team).where(Team.name == name)) for name in ("Acme Corp", "Globex"))
    assert acme.open_api_enabled and globex.open_api_enabled

    password = printed_password(result.output)
    assert len(password) >= 12
    for email, (team_name, role) in DEMO_LOGINS.items():
        user = User.by_email(email)
        assert user is not None, email
        assert (user.team.name, user.role) == (team_name, role)
        assert user.check_password(password)
        assert email in result.output
    assert {user.email for user in users()} == set(DEMO_LOGINS)

    for team in (acme, globex):
        counts = queries.count_by_status(team, team.today())
        assert all(counts[status] >= 1 for status in KeyStatus), (team.name, counts)
        # One key in the middle of a roll: working beside its replacement, with days of its overlap left.
        [rolling] = [key for key in queries.page(team, KeyStatus.ACTIVE, 1, 100, team.today()) if key.roll_ends_at]
        assert rolling.replaced_by.name == rolling.name
        assert rolling.roll_ends_at - utcnow() > timedelta(days=5)

    # Acme's Manager has asked for a key: the admins find it waiting on their Requests page.
    assert pending_count(acme) == 1 and pending_count(globex) == 0

    [quickstart] = KEY_IN_OUTPUT.findall(result.output)
    response = client.get("/api/v1/me", headers={"x-api-key": quickstart})
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()["data"]
    assert data["teamId"] == str(acme.id)
    assert sorted(data["services"]) == ["checklists", "reconciliations"]
    assert data["expiresAt"] is not None


def test_demo_globex_has_a_strict_key_policy_that_one_of_its_keys_exceeds_and_acme_none(runner, empty_db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output

    acme, globex = (db.session.scalar(select(Team).where(Team.name == name)) for name in ("Acme Corp", "Globex"))
    assert acme.key_policy == KeyPolicy()
    assert globex.key_policy == KeyPolicy(require_expiration=True, max_lifetime_days=90)

    def exceeding(team):
        keys = db.session.scalars(select(ApiKey).where(ApiKey.team_id == team.id)).all()
        return {key.name for key in keys if key.status(team.today()) is KeyStatus.ACTIVE and key.exceeds_policy}

    assert exceeding(acme) == set()
    assert exceeding(globex) == {"Legacy SFTP export"}  # the one key meant to show it: older than the policy
    [change] = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.POLICY_CHANGED)).all()
    assert (change.team_id, change.email) == (globex.id, "admin@globex.test")
    # Every other Globex key, whatever its status (the roll's replacement too), keeps the policy from its creation.
    for key in db.session.scalars(select(ApiKey).where(ApiKey.team_id == globex.id)):
        within = globex.key_policy.refusal(key.expires_on, globex.today(key.created_at)) is None
        assert within is (key.name != "Legacy SFTP export"), key.name
        assert (key.created_at < change.created_at) is (key.name == "Legacy SFTP export"), key.name


def test_demo_keys_have_30_days_of_usage_counted_by_the_request_log(runner, empty_db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output

    assert db.session.scalar(select(func.count()).select_from(ApiRequest)) < 3000  # the demo stays quick
    for team in db.session.scalars(select(Team)):
        days = db.session.execute(
            select(ApiKey.name, func.count(), func.sum(ApiRequestDay.succeeded), func.sum(ApiRequestDay.refused))
            .join(ApiKey, ApiKey.id == ApiRequestDay.api_key_id).where(ApiRequestDay.team_id == team.id)
            .group_by(ApiKey.name)
        ).all()
        usage = {name: (day_count, succeeded, refused) for name, day_count, succeeded, refused in days}
        pulled = {"Power BI connector", "Snowflake nightly load", "Contractor laptop", "Audit firm read-only"}
        acme = pulled | {"Canada audit (KPMG)", "Excel refresh (FP&A)"}
        assert set(usage) == (acme if team.name == "Acme Corp" else pulled | {"Legacy SFTP export"}), team.name
        assert usage["Power BI connector"][0] >= 29 and usage["Snowflake nightly load"][0] >= 28  # today may be early
        assert usage["Contractor laptop"][2] > 0  # its client kept trying after the key was deleted
        assert usage["Audit firm read-only"][2] > 0  # and this one's after it was suspended
        logged = db.session.scalar(select(func.count()).select_from(ApiRequest).where(ApiRequest.team_id == team.id))
        assert sum(succeeded + refused for _, succeeded, refused in usage.values()) == logged


def test_demo_audit_events_are_dated_as_the_keys_histories(runner, empty_db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output

    for key in db.session.scalars(select(ApiKey)):
        events = {event.kind: event for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.api_key_id == key.id))}
        assert events[AuditKind.KEY_CREATED].created_at == key.created_at, key.name
        if key.deleted_at is not None:
            assert events[AuditKind.KEY_DELETED].created_at == key.deleted_at, key.name
        if key.replaced_by is not None:
            rolled = events[AuditKind.KEY_ROLLED]
            assert rolled.created_at == key.replaced_by.created_at < utcnow() - timedelta(hours=23)
            # The overlap chosen, 7 days, is the time from the roll to the old key's stop, as the trail says.
            assert rolled.detail.endswith("the old key keeps working for 7 days.")
            assert key.roll_ends_at - rolled.created_at == timedelta(days=7)


def test_demo_last_use_agrees_with_the_request_log(app, runner, client, empty_db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output

    for key in db.session.scalars(select(ApiKey)):
        latest = db.session.scalars(select(ApiRequest).where(ApiRequest.api_key_id == key.id,
                                                             ApiRequest.status.not_in([401, 403, 429]))
                                    .order_by(ApiRequest.created_at.desc()).limit(1)).first()
        if latest is not None:
            assert (key.last_used_at, key.last_used_ip, key.last_used_user_agent) == (
                latest.created_at, latest.source_ip, latest.user_agent), key.name
        assert (key.last_used_at is None) is (key.last_used_ip is None), key.name  # every use has its address
    # The rolled key's client moved to the replacement: the old one's last pull is from before the roll.
    for old in db.session.scalars(select(ApiKey).where(ApiKey.replaced_by_id.is_not(None))):
        assert old.last_used_at < old.replaced_by.created_at < old.replaced_by.last_used_at


def test_demo_run_again_says_how_to_get_a_new_curl_key(runner, empty_db):
    assert runner.invoke(args=["demo"]).exit_code == 0

    again = runner.invoke(args=["demo"])

    assert again.exit_code == 0, again.output
    assert ("The Acme Corp key for curl was shown when the demo first ran, and only then. For a new one, log in as "
            "admin@acme.test and roll “Quickstart (curl)” (or create a key) on the API Keys tab.") in again.output


def test_demo_uses_the_password_from_the_environment(runner, monkeypatch, empty_db):
    monkeypatch.setenv("FLOQAST_DEMO_PASSWORD", "demo password from env")
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert printed_password(result.output) == "demo password from env"
    for email in DEMO_LOGINS:
        assert User.by_email(email).check_password("demo password from env")


def test_demo_twice_keeps_the_same_users_and_keys(runner, client, monkeypatch, empty_db):
    monkeypatch.setenv("FLOQAST_DEMO_PASSWORD", "first demo password")
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    [quickstart] = KEY_IN_OUTPUT.findall(first.output)
    user_ids = {user.email: user.id for user in users()}
    counts = key_counts()
    assert set(counts) == {"Acme Corp", "Globex"}

    monkeypatch.setenv("FLOQAST_DEMO_PASSWORD", "second demo password")
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert {user.email: user.id for user in users()} == user_ids
    assert key_counts() == counts
    assert [team.name for team in teams()] == ["Acme Corp", "Globex"]
    assert KEY_IN_OUTPUT.findall(second.output) == []  # no new key, and the old one cannot be shown again
    assert User.by_email("admin@acme.test").check_password("second demo password")
    assert client.get("/api/v1/me", headers={"x-api-key": quickstart}).status_code == 200


def test_demo_has_a_key_for_one_entity_and_one_with_its_own_rate_limit(runner, client, empty_db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    acme = db.session.scalar(select(Team).where(Team.name == "Acme Corp"))
    keys = {key.name: key for key in db.session.scalars(select(ApiKey).where(ApiKey.team_id == acme.id))}

    auditor = keys["Canada audit (KPMG)"]
    [canada] = auditor.entity_ids
    assert db.session.get(Entity, canada).name == "Acme Canada Ltd"
    assert keys["Excel refresh (FP&A)"].rate_limit_per_minute == 60
    assert all(key.entity_ids is None for name, key in keys.items() if name != auditor.name)
    # The books filled the entity the key was made for.
    assert db.session.scalar(select(func.count()).select_from(Reconciliation)
                             .where(Reconciliation.entity_id == canada)) > 0

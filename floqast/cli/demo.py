"""The demo (`flask --app wsgi demo`): two teams with their people, keys in every status and their books."""

import os
import random
import secrets
from datetime import datetime, time, timedelta

import click
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import func, select

from floqast.analytics.generate import Profile, generate, has_data
from floqast.analytics.periods import last_closed_month
from floqast.extensions import db
from floqast.keys.actions import change_key_policy, create_key, deactivate_key, roll_key
from floqast.keys.policy import KeyPolicy
from floqast.models import ApiKey, Role, Service, Team, User, utcnow
from floqast.usage.capture import Captured

DEMO_TEAMS = {
    "Acme Corp": ("America/Los_Angeles", [
        ("admin@acme.test", "Alex Admin", Role.ADMIN),
        ("sysadmin@acme.test", "Sam Sysadmin", Role.SYSADMIN),
        ("manager@acme.test", "Morgan Manager", Role.MANAGER),
        ("user@acme.test", "Uma User", Role.USER),
    ]),
    "Globex": ("Europe/London", [
        ("admin@globex.test", "Gale Globex", Role.ADMIN),
    ]),
}

# (name, services, days since created, days until expiry or None, days since last use or None, deleted days ago)
DEMO_KEYS = [
    ("Power BI connector", [Service.RECONCILIATIONS, Service.CHECKLISTS], 40, 325, 0, None),
    ("Snowflake nightly load", [Service.RECONCILIATIONS], 75, 5, 1, None),  # Expiring soon, and a notice
    ("Close checklist script", [Service.CHECKLISTS], 20, None, None, None),
    ("Tableau pilot", [Service.RECONCILIATIONS], 130, -40, 45, None),
    ("Old warehouse export", [Service.RECONCILIATIONS, Service.CHECKLISTS], 400, -35, 50, None),
    ("Contractor laptop", [Service.CHECKLISTS], 90, 275, 12, 8),
]

# Teams with a strict API key policy, set once their demo keys exist, so that some of those exceed it. Acme has none.
DEMO_POLICIES = {"Globex": KeyPolicy(require_expiration=True, max_lifetime_days=90)}
# A key in the middle of a roll: replaced a day ago, the old key working beside its replacement for 6 days more.
DEMO_ROLL = ("Power BI connector", timedelta(days=7), timedelta(days=1))

# The last 30 days of the keys in use: (requests on a weekday, on a weekend day), at which local hours, from where.
# Now and then a burst is rate limited (429); a deleted key's client that was never told keeps trying (401).
DEMO_USAGE = {
    "Power BI connector": ((8, 2), range(7, 19), "198.51.100.24"),
    "Snowflake nightly load": ((2, 2), range(1, 4), "203.0.113.50"),
    "Contractor laptop": ((4, 0), range(9, 18), "192.0.2.77"),
}

# Each team's close data: a Profile but for `through`, which is the team's last closed month.
DEMO_BOOKS = {
    "Acme Corp": dict(
        entities=(("Acme Corp (US)", "USD"), ("Acme Canada Ltd", "CAD"), ("Acme Manufacturing LLC", "USD")),
        accounts=150, months=12, seed=2024,
        people=("Alex Admin", "Morgan Manager", "Uma User", "Sam Sysadmin", "Priya Patel", "Diego Ramos"),
    ),
    "Globex": dict(
        entities=(("Globex UK Ltd", "GBP"), ("Globex Europe BV", "EUR")),
        accounts=40, months=6, seed=2025,
        people=("Gale Globex", "Hank Scorpio", "Frank Grimes"),
    ),
}


def seed_demo_keys(team: Team, admin: User) -> dict[str, ApiKey]:
    """A few keys in every status and one in the middle of a roll, backdated so the list looks lived in (their
    audit events say when the demo made them); the keys by name."""
    now = utcnow()
    today = team.today()
    made = {}
    for name, services, age, lifetime, idle, deleted in DEMO_KEYS:
        expires_on = None if lifetime is None else today + timedelta(days=lifetime)
        key, _ = create_key(admin, name, services, expires_on)
        if deleted is not None:
            deactivate_key(key, by=admin)
            key.deleted_at = now - timedelta(days=deleted)
        key.created_at = now - timedelta(days=age)
        key.last_used_at = None if idle is None else now - timedelta(days=idle, hours=3)
        made[name] = key
    name, overlap, ago = DEMO_ROLL
    replacement, _ = roll_key(made[name], admin, overlap)
    replacement.created_at = now - ago
    made[name].roll_ends_at = replacement.created_at + overlap
    return made


def demo_requests(team: Team, key: ApiKey, usage, now: datetime, rng: random.Random) -> list[Captured]:
    """A key's requests over the team's last 30 days as the request log captures them: pulls up to its last
    use, refusals after its deletion."""
    (weekday, weekend), hours, source_ip = usage
    rows = []
    for days_ago in range(30):
        day = team.today(now) - timedelta(days=days_ago)
        for number in range(weekday if day.weekday() < 5 else weekend):
            moment = datetime.combine(day, time(rng.choice(hours), rng.randrange(60), rng.randrange(60)), team.zone)
            if moment > now:
                continue
            if key.deleted_at is not None and moment > key.deleted_at:
                status = 401
            elif moment <= key.last_used_at:
                status = 429 if rng.random() < 0.04 else 200
            else:
                continue
            service = key.service_list[number % len(key.service_list)]
            rows.append(Captured(moment.timestamp(), team.id, key.id, "GET", source_ip, status,
                                 f"/api/v1/analytics/{service.value}", service.label))
    return rows


def seed_demo_usage(team: Team, made: dict[str, ApiKey]) -> None:
    """Write 30 days of the demo keys' requests through the request log's own batches, in time order, so that
    their daily counts fill as a served day's would (after the keys are committed: the log has its own
    connection)."""
    rng, now = random.Random(team.id), utcnow()
    rows = [row for name, usage in DEMO_USAGE.items() for row in demo_requests(team, made[name], usage, now, rng)]
    log = current_app.extensions["request_log"]
    for row in sorted(rows, key=lambda row: row.at):
        log.add(row)
    log.flush()


def ensure_team(name: str, timezone: str) -> Team:
    team = db.session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name, timezone=timezone)
        db.session.add(team)
    team.open_api_enabled = True
    return team


def seed_demo_analytics() -> None:
    """Fill each demo team that has no close data yet, up to its last closed month."""
    for name, books in DEMO_BOOKS.items():
        team = db.session.scalar(select(Team).where(Team.name == name))
        if team is not None and not has_data(team):
            generate(team, Profile(**books, through=last_closed_month(team.today())))


@click.command("demo")
def demo():
    """Create the schema, demo teams, users and keys; safe to run again."""
    upgrade()
    password = os.environ.get("FLOQAST_DEMO_PASSWORD") or secrets.token_urlsafe(12)
    quickstart_key = None
    new_keys = []
    for team_name, (timezone, people) in DEMO_TEAMS.items():
        team = ensure_team(team_name, timezone)
        for email, name, role in people:
            user = User.by_email(email) or User(team=team, email=email, name=name, role=role)
            user.set_password(password, current_app.config["BCRYPT_ROUNDS"])
            db.session.add(user)
        db.session.flush()
        admin = User.by_email(people[0][0])
        if not db.session.scalar(select(func.count(ApiKey.id)).where(ApiKey.team_id == team.id)):
            new_keys.append((team, seed_demo_keys(team, admin)))
            if team_name == "Acme Corp":
                _, quickstart_key = create_key(admin, "Quickstart (curl)", list(Service),
                                               team.today() + timedelta(days=30))
            if team_name in DEMO_POLICIES:
                change_key_policy(admin, DEMO_POLICIES[team_name])
    db.session.commit()
    for team, made in new_keys:
        seed_demo_usage(team, made)
    seed_demo_analytics()

    click.echo("Demo data is ready. Start the app and open http://127.0.0.1:5000")
    click.echo("Log in as any of:")
    for team_name, (_, people) in DEMO_TEAMS.items():
        for email, _, role in people:
            click.echo(f"  {email:<22} {role.label:<13} {team_name}")
    click.echo(f"Password for all of them: {password}")
    if quickstart_key:
        click.echo(f"An Acme Corp API key for curl (shown only now): {quickstart_key}")

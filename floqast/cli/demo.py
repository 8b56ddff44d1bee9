"""The demo (`flask --app wsgi demo`): two teams with their people, keys in every status and their books."""

import os
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

import click
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import func, select, update

from floqast.accounts.models import Role, Team, User
from floqast.analytics.generate import Profile, generate, has_data
from floqast.analytics.models import Entity
from floqast.analytics.periods import last_closed_month
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.actions import change_key_policy, create_key, deactivate_key, roll_key, suspend_key
from floqast.keys.models import ANALYTICS_SERVICES, ApiKey, Service
from floqast.keys.policy import KeyPolicy
from floqast.keys.request_actions import submit
from floqast.notices.outbox import KeyNotice
from floqast.usage.capture import Captured
from floqast.usage.rollups import REFUSED_STATUSES

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
QUICKSTART_KEY = "Quickstart (curl)"
# The request waiting on Acme's Requests page: its Manager owns the Power BI refresh.
DEMO_REQUEST = ("Power BI refresh", "The controller's close dashboard in Power BI refreshes reconciliations every "
                "morning; I run it and need its key to be my own.")


@dataclass(frozen=True)
class Usage:
    """How a demo key is pulled: requests on a weekday and on a weekend day, at which local hours, from where, with
    what client."""

    weekday: int
    weekend: int
    hours: range
    ip: str
    user_agent: str


@dataclass(frozen=True)
class DemoKey:
    """A demo key's history, in days before the demo's run: made, expiring (None: never), last used, deleted, and
    suspended (days before, and why); the entities it reads by name (None: all) and its own rate limit (None: the team
    default)."""

    name: str
    services: tuple[Service, ...]
    age: int
    expires_in: int | None
    idle: int | None = None
    deleted: int | None = None
    usage: Usage | None = None
    entities: tuple[str, ...] | None = None
    rate_limit_per_minute: int | None = None
    suspended: tuple[int, str] | None = None


BOTH = (Service.RECONCILIATIONS, Service.CHECKLISTS)
POWER_QUERY = "Microsoft.Data.Mashup (https://go.microsoft.com/fwlink/?LinkID=304225)"
DEMO_KEYS = {
    "Acme Corp": [
        DemoKey("Power BI connector", BOTH, 40, 325, 0, usage=Usage(8, 2, range(7, 19), "198.51.100.24", POWER_QUERY)),
        # Expiring soon, and its notice.
        DemoKey("Snowflake nightly load", (Service.RECONCILIATIONS,), 75, 5, 1,
                usage=Usage(2, 2, range(1, 4), "203.0.113.50", "python-requests/2.32.3")),
        DemoKey("Close checklist script", (Service.CHECKLISTS,), 20, None),
        # An auditor of one subsidiary: its key reads that entity alone.
        DemoKey("Canada audit (KPMG)", (Service.RECONCILIATIONS,), 12, 48, 2, entities=("Acme Canada Ltd",),
                usage=Usage(2, 0, range(10, 16), "192.0.2.30", "python-requests/2.32.3")),
        # An analyst's spreadsheet, held to its own pace apart from the nightly load.
        DemoKey("Excel refresh (FP&A)", BOTH, 25, 65, 0, rate_limit_per_minute=60,
                usage=Usage(3, 0, range(8, 18), "198.51.100.90", POWER_QUERY)),
        DemoKey("Tableau pilot", (Service.RECONCILIATIONS,), 130, -40, 45,
                usage=Usage(3, 0, range(9, 17), "198.51.100.61", "Tableau/2024.2")),
        DemoKey("Old warehouse export", BOTH, 400, -35, 50,
                usage=Usage(1, 1, range(2, 3), "203.0.113.12", "Apache-HttpClient/4.5.14 (Java/17.0.9)")),
        # Deleted, and its client, never told, keeps trying.
        DemoKey("Contractor laptop", (Service.CHECKLISTS,), 90, 275, 12, 8,
                usage=Usage(4, 0, range(9, 18), "192.0.2.77", "curl/8.5.0")),
        # Suspended during a dispute; its script, not told, keeps trying.
        DemoKey("Audit firm read-only", (Service.RECONCILIATIONS,), 50, 40, 3,
                usage=Usage(3, 1, range(9, 17), "198.51.100.90", "python-requests/2.32.3"),
                suspended=(3, "Engagement on hold until the new letter is signed")),
    ],
    # Globex's policy (below) dates from before all of its keys but one, which shows Exceeds policy.
    "Globex": [
        DemoKey("Power BI connector", BOTH, 40, 50, 0, usage=Usage(6, 1, range(8, 18), "198.51.100.140", POWER_QUERY)),
        DemoKey("Snowflake nightly load", (Service.RECONCILIATIONS,), 75, 5, 1,
                usage=Usage(2, 2, range(2, 5), "203.0.113.150", "python-requests/2.32.3")),
        DemoKey("Close checklist script", (Service.CHECKLISTS,), 20, 70),
        DemoKey("Tableau pilot", (Service.RECONCILIATIONS,), 130, -40, 45,
                usage=Usage(2, 0, range(9, 17), "198.51.100.161", "Tableau/2024.2")),
        DemoKey("Legacy SFTP export", BOTH, 200, None, 0,
                usage=Usage(1, 1, range(3, 4), "192.0.2.140", "python-requests/2.31.0")),
        DemoKey("Contractor laptop", (Service.CHECKLISTS,), 60, 30, 12, 8,
                usage=Usage(3, 0, range(9, 18), "192.0.2.177", "curl/8.5.0")),
        DemoKey("Audit firm read-only", (Service.RECONCILIATIONS,), 20, 60, 2,
                usage=Usage(2, 1, range(9, 17), "198.51.100.190", "python-requests/2.32.3"),
                suspended=(2, "Fieldwork paused at the client's request")),
    ],
}

# Teams with a strict API key policy, and how many days before the demo's run it was set. Acme has none.
DEMO_POLICIES = {"Globex": (KeyPolicy(require_expiration=True, max_lifetime_days=90), 150)}
# A key in the middle of a roll: replaced a day ago with a 7-day overlap (the old key works 6 days more), its client
# switched to the new key at once.
DEMO_ROLL = ("Power BI connector", timedelta(days=7), timedelta(days=1))
# How much of the request log the demo fills: the Usage chart's 30 days.
LOGGED_DAYS = 30

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


def backdate(key: ApiKey, kind: AuditKind, moment: datetime) -> None:
    """Date the key's `kind` audit events `moment`: when its history says it happened, not when the demo ran."""
    db.session.flush()
    db.session.execute(update(AuditEvent).where(AuditEvent.api_key_id == key.id, AuditEvent.kind == kind)
                       .values(created_at=moment))


def seed_demo_keys(team: Team, admin: User, now: datetime) -> dict[str, list[ApiKey]]:
    """The team's demo keys in every status (one suspended), one of them in the middle of a roll, each dated as its
    history says, its audit events too; the keys by name, oldest first (a rolled key, then its replacement)."""
    made = {}
    for demo_key in DEMO_KEYS[team.name]:
        created = now - timedelta(days=demo_key.age)
        expires_on = None if demo_key.expires_in is None else team.today(now) + timedelta(days=demo_key.expires_in)
        entity_ids = None
        if demo_key.entities is not None:  # made before the books, which fill them
            ids = Entity.ids_by_name(team, demo_key.entities)
            entity_ids = [ids[name] for name in demo_key.entities]
        key, _ = create_key(admin, demo_key.name, demo_key.services, expires_on, entity_ids=entity_ids,
                            rate_limit_per_minute=demo_key.rate_limit_per_minute)
        key.created_at = created
        backdate(key, AuditKind.KEY_CREATED, created)
        if demo_key.deleted is not None:
            deactivate_key(key, by=admin)
            key.deleted_at = now - timedelta(days=demo_key.deleted)
            backdate(key, AuditKind.KEY_DELETED, key.deleted_at)
        if demo_key.suspended is not None:
            days_ago, reason = demo_key.suspended
            suspend_key(key, admin, reason)
            key.suspended_at = now - timedelta(days=days_ago)
            backdate(key, AuditKind.KEY_SUSPENDED, key.suspended_at)
            # Mailed when it happened, days ago: the outbox of a first `keys notify` holds only what is due now.
            db.session.execute(update(KeyNotice).where(KeyNotice.api_key_id == key.id)
                               .values(created_at=key.suspended_at, sent_at=key.suspended_at))
        made[demo_key.name] = [key]
    name, overlap, ago = DEMO_ROLL
    old = made[name][0]
    rolled_at = now - ago
    replacement, _ = roll_key(old, admin, overlap, old.replacement_expires_on(team.today(rolled_at)))
    replacement.created_at = rolled_at
    old.roll_ends_at = rolled_at + overlap
    backdate(old, AuditKind.KEY_ROLLED, rolled_at)
    backdate(replacement, AuditKind.KEY_CREATED, rolled_at)
    made[name].append(replacement)
    return made


def planned_requests(team: Team, demo_key: DemoKey, keys: list[ApiKey], now: datetime,
                     rng: random.Random) -> list[Captured]:
    """The requests of the key named `demo_key.name` over the team's last LOGGED_DAYS days, as the request log
    captures them: pulls from its creation to its last use, each with the key that worked at that moment (a rolled
    key's client moved to the replacement), and refusals after its deletion or suspension."""
    usage, key = demo_key.usage, keys[0]
    last_use = now - timedelta(days=demo_key.idle, hours=3)
    rows = []
    for days_ago in range(LOGGED_DAYS):
        day = team.today(now) - timedelta(days=days_ago)
        for number in range(usage.weekday if day.weekday() < 5 else usage.weekend):
            moment = datetime.combine(day, time(rng.choice(usage.hours), rng.randrange(60), rng.randrange(60)),
                                      team.zone)
            if moment > now or moment < key.created_at:
                continue
            stopped_at = key.deleted_at or key.suspended_at
            if stopped_at is not None and moment > stopped_at:
                status = 401
            elif moment <= last_use or demo_key.idle == 0:
                status = 429 if rng.random() < 0.04 else 200
            else:
                continue
            used = [candidate for candidate in keys if candidate.created_at <= moment][-1]
            service = used.service_list[number % len(used.service_list)]
            rows.append(Captured(moment.timestamp(), team.id, used.id, "GET", usage.ip, status,
                                 f"/api/v1/analytics/{service.value}", service.label, user_agent=usage.user_agent))
    return rows


def plan_demo_usage(team: Team, made: dict[str, list[ApiKey]], now: datetime) -> list[Captured]:
    """The team's demo requests, and each used key's Last used as they say it: the time, address and client of its
    latest accepted pull (a key last used before the logged days keeps its history's time, and its client's
    address)."""
    rng = random.Random(team.id)
    rows = []
    for demo_key in DEMO_KEYS[team.name]:
        if demo_key.usage is None:
            continue
        keys = made[demo_key.name]
        planned = planned_requests(team, demo_key, keys, now, rng)
        rows += planned
        for key in keys:
            accepted = [row.at for row in planned if row.api_key_id == key.id and row.status not in REFUSED_STATUSES]
            if not accepted and key is not keys[0]:
                continue
            key.last_used_at = (datetime.fromtimestamp(max(accepted), timezone.utc) if accepted
                                else now - timedelta(days=demo_key.idle, hours=3))
            key.last_used_ip, key.last_used_user_agent = demo_key.usage.ip, demo_key.usage.user_agent
    return rows


def write_demo_usage(rows: list[Captured]) -> None:
    """Write the demo's requests through the request log's own batches, in time order, so that their daily counts
    fill as a served day's would (after the keys are committed: the log has its own connection)."""
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
    planned = []
    now = utcnow()
    for team_name, (timezone_name, people) in DEMO_TEAMS.items():
        team = ensure_team(team_name, timezone_name)
        for email, name, role in people:
            user = User.by_email(email) or User(team=team, email=email, name=name, role=role)
            user.set_password(password, current_app.config["BCRYPT_ROUNDS"])
            db.session.add(user)
        db.session.flush()
        admin = User.by_email(people[0][0])
        if not db.session.scalar(select(func.count(ApiKey.id)).where(ApiKey.team_id == team.id)):
            made = seed_demo_keys(team, admin, now)
            planned += plan_demo_usage(team, made, now)
            if team_name == "Acme Corp":
                quickstart, quickstart_key = create_key(admin, QUICKSTART_KEY, ANALYTICS_SERVICES,
                                                        team.today(now) + timedelta(days=30))
                quickstart.created_at = now
                backdate(quickstart, AuditKind.KEY_CREATED, now)
                name, justification = DEMO_REQUEST
                submit(User.by_email("manager@acme.test"), name, [Service.RECONCILIATIONS], None,
                       team.today(now) + timedelta(days=90), justification)
            if team_name in DEMO_POLICIES:
                policy, days_ago = DEMO_POLICIES[team_name]
                change_key_policy(admin, policy)
                db.session.execute(update(AuditEvent).where(AuditEvent.team_id == team.id,
                                                            AuditEvent.kind == AuditKind.POLICY_CHANGED)
                                   .values(created_at=now - timedelta(days=days_ago)))
    db.session.commit()
    write_demo_usage(planned)
    seed_demo_analytics()

    click.echo("Demo data is ready. Start the app and open http://127.0.0.1:5000")
    click.echo("Log in as any of:")
    for team_name, (_, people) in DEMO_TEAMS.items():
        for email, _, role in people:
            click.echo(f"  {email:<22} {role.label:<13} {team_name}")
    click.echo(f"Password for all of them: {password}")
    if quickstart_key:
        click.echo(f"An Acme Corp API key for curl (shown only now): {quickstart_key}")
    else:
        click.echo(f"The Acme Corp key for curl was shown when the demo first ran, and only then. For a new one, log "
                   f"in as {DEMO_TEAMS['Acme Corp'][1][0][0]} and roll “{QUICKSTART_KEY}” (or create a key) on the "
                   "API Keys tab.")

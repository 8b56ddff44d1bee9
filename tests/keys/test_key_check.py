"""The key check's fast path reads what the ORM reads, and the status rule's SQL twin sorts keys as the rule does, for
keys in every state, on SQLite and PostgreSQL."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from floqast.accounts.models import Role
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import lookup, queries, tokens
from floqast.keys.models import ApiKey, KeyStatus, Service
from helpers import key_by_plaintext

MOMENT = datetime(2025, 3, 31, 23, 45, 6, 123456, tzinfo=ZoneInfo("Asia/Kolkata"))  # microseconds, another zone


@pytest.fixture
def key_zoo(make_team, make_user, make_key) -> dict[str, str]:
    """Plaintexts of keys in every state a pull can meet, in teams on both sides of the date line."""
    acme = make_team("Acme Corp")
    far_east = make_team("Kiritimati Co", timezone="Pacific/Kiritimati")
    far_west = make_team("Pago Pago Co", timezone="Pacific/Pago_Pago")
    closed = make_team("No Open API Co", open_api=False, timezone="America/New_York")
    admins = {team: make_user(team, Role.ADMIN) for team in (acme, far_east, far_west, closed)}
    now = utcnow()
    zoo = {
        "active, never used": make_key(admins[acme], "Never used"),
        "one service": make_key(admins[acme], "Checklists only", services=(Service.CHECKLISTS,)),
        "used": make_key(admins[acme], "Used", last_used_at=MOMENT, last_used_ip="203.0.113.9"),
        "seen in a URL": make_key(admins[acme], "Seen in a URL", exposed_in_url_at=MOMENT),
        "allowed addresses": make_key(admins[acme], "Office only", allowed_ips="203.0.113.0/24,2001:db8::/32"),
        "limited to entities, own rate limit": make_key(admins[acme], "Auditor", entity_ids=[3, 12],
                                                        rate_limit_per_minute=60),
        "deactivated": make_key(admins[acme], "Deactivated", deleted_at=MOMENT, deleted_by=admins[acme]),
        "revoked as leaked": make_key(admins[acme], "Leaked", deleted_at=MOMENT,
                                      deactivated_reason="reported as leaked"),
        "expired": make_key(admins[acme], "Expired", expires_on=acme.today() - timedelta(days=1)),
        "suspended": make_key(admins[acme], "Suspended", suspended_at=MOMENT, suspended_by=admins[acme],
                              suspended_reason="Contract under review"),
        "last day, far east": make_key(admins[far_east], "Last day", expires_on=far_east.today(now)),
        "expired, far east": make_key(admins[far_east], "Expired", expires_on=far_east.today(now) - timedelta(days=1)),
        "last day, far west": make_key(admins[far_west], "Last day", expires_on=far_west.today(now),
                                       last_used_at=now),
        "Open API off": make_key(admins[closed], "Closed", expires_on=closed.today(now) + timedelta(days=30)),
    }
    replacement = zoo["active, never used"][0]
    zoo["rolling"] = make_key(admins[acme], "Rolling", replaced_by_id=replacement.id,
                              roll_ends_at=now + timedelta(hours=1))
    zoo["rolled"] = make_key(admins[acme], "Rolled", replaced_by_id=replacement.id, roll_ends_at=MOMENT)
    return {state: plaintext for state, (_, plaintext) in zoo.items()}


def checked(plaintext: str, pepper: bytes):
    """The fast path's CheckedKey for `plaintext` under `pepper`."""
    return lookup.check_digests((tokens.digest(plaintext, pepper),))


def seen_by_a_pull(key) -> dict:
    """Every value and rule of a key that authentication and the pull views read."""
    team = key.team
    today = team.today()
    values = {
        "id": key.id, "team_id": key.team_id, "name": key.name, "services": key.services,
        "service_list": key.service_list, "has_service": [key.has_service(service) for service in Service],
        "expires_on": key.expires_on, "last_used_at": key.last_used_at, "deleted_at": key.deleted_at,
        "roll_ends_at": key.roll_ends_at, "replaced_by_id": key.replaced_by_id,
        "allowed_ips": key.allowed_ips,
        "allows": [key.allows(ip) for ip in ("203.0.113.7", "2001:db8::1", "198.51.100.7", None)],
        "deactivated_reason": key.deactivated_reason,
        "entity_ids": key.entity_ids, "limited_to_entities": key.limited_to_entities,
        "cannot_read": [key.cannot_read(ids) for ids in ((), (3,), (12, 3), (3, 4))],
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "suspended_at": key.suspended_at, "suspended_reason": key.suspended_reason,
        "status": key.status(today), "expires_at": key.expires_at,
        "team.id": team.id, "team.timezone": team.timezone, "team.open_api_enabled": team.open_api_enabled,
        "team.zone": team.zone, "team.today": today, "team.end_of_day": team.end_of_day(today),
    }
    # Moments as text too, so that a moment in another zone or without microseconds is a difference.
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in values.items()}


def test_the_fast_check_reads_what_the_orm_reads_for_keys_in_every_state(app, key_zoo):
    pepper = app.config["API_KEY_PEPPER"].encode()
    for state, plaintext in key_zoo.items():
        db.session.expire_all()  # the ORM's values from the database, not those the fixture set
        plain = seen_by_a_pull(key_by_plaintext(plaintext))
        fast = seen_by_a_pull(checked(plaintext, pepper))
        assert fast == plain, state
    assert {seen_by_a_pull(checked(plaintext, pepper))["status"] for plaintext in key_zoo.values()} == {
        "active", "suspended", "expired", "deactivated"}
    used = checked(key_zoo["used"], pepper)
    assert seen_by_a_pull(used)["last_used_at"] == "2025-03-31T18:15:06.123456+00:00"
    office_only = seen_by_a_pull(checked(key_zoo["allowed addresses"], pepper))
    assert office_only["allows"] == [True, True, False, False]
    assert seen_by_a_pull(checked(key_zoo["used"], pepper))["allows"] == [True, True, True, True]


def test_the_fast_check_finds_no_key_for_an_unknown_digest(app, key_zoo):
    pepper = app.config["API_KEY_PEPPER"].encode()
    unknown = tokens.generate()
    assert key_by_plaintext(unknown) is None
    assert checked(unknown, pepper) is None
    assert checked(key_zoo["used"], b"another pepper") is None


def test_the_connection_a_key_check_used_keeps_the_sessions_transactions(app, admin, make_key):
    """The check reads without a transaction; the pool lends the same connection to the session next (LIFO), whose
    rollback must still undo its writes."""
    key, plaintext = make_key(admin)
    key_id = key.id
    db.session.remove()
    assert checked(plaintext, app.config["API_KEY_PEPPER"].encode()).id == key_id

    db.session.execute(update(ApiKey).where(ApiKey.id == key_id).values(name="Renamed"))
    db.session.rollback()
    assert db.session.get(ApiKey, key_id).name == "Power BI"


def test_the_sql_status_rule_sorts_every_key_as_the_status_rule_does(app, key_zoo, make_team, make_user, make_key):
    now = utcnow()
    edges = make_team("Edges Co", timezone="America/Los_Angeles")
    admin = make_user(edges)
    today = edges.today(now)
    for name, fields in {
        "roll ends this instant": {"roll_ends_at": now},
        "roll ends a moment later": {"roll_ends_at": now + timedelta(microseconds=1)},
        "last day today": {"expires_on": today},
        "deleted and expired": {"deleted_at": MOMENT, "expires_on": today - timedelta(days=1)},
        "rolling and expired": {"roll_ends_at": now + timedelta(hours=1), "expires_on": today - timedelta(days=1)},
        "rolled out, its last day to come": {"roll_ends_at": MOMENT, "expires_on": today + timedelta(days=1)},
        "suspended and expired": {"suspended_at": MOMENT, "suspended_reason": "Paused",
                                  "expires_on": today - timedelta(days=1)},
        "suspended and deleted": {"suspended_at": MOMENT, "suspended_reason": "Paused", "deleted_at": MOMENT},
        "suspended while rolling": {"suspended_at": MOMENT, "suspended_reason": "Paused",
                                    "roll_ends_at": now + timedelta(hours=1)},
    }.items():
        make_key(admin, name, **fields)
    db.session.expire_all()
    keys = db.session.scalars(select(ApiKey)).all()
    assert len(keys) == len(key_zoo) + 9
    for key in keys:
        today = key.team.today(now)
        in_sql = {status for status in KeyStatus
                  if db.session.scalar(select(ApiKey.id).where(ApiKey.id == key.id,
                                                               queries.status_clause(status, today, now)))}
        assert in_sql == {key.status(today, now)}, key.name

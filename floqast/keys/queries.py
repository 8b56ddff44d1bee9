"""What is read of keys through the session: the SQL twin of the status rule (floqast/keys/state.py), the API Keys
tab's pages, counts and filters, the names working keys hold, and the team lock a name is checked under."""

from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import contains_eager, joinedload

from floqast import columns
from floqast.accounts.models import Team
from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.keys.state import KeyStatus


def status_clause(status: KeyStatus, today: date, now: datetime | None = None):
    """The SQL condition for keys in `status` on `today` at `now`: state.key_status's rule, which
    tests/keys/test_key_check.py holds it to."""
    # Each part is TRUE or FALSE, never NULL, so that negating it keeps the rows it should.
    rolled_out = ApiKey.roll_ends_at.is_not(None) & (ApiKey.roll_ends_at <= (now or columns.utcnow()))
    deactivated = ApiKey.deleted_at.is_not(None) | rolled_out
    suspended = ApiKey.suspended_at.is_not(None)
    expired = ApiKey.expires_on.is_not(None) & (ApiKey.expires_on < today)
    if status is KeyStatus.DEACTIVATED:
        return deactivated
    if status is KeyStatus.SUSPENDED:
        return ~deactivated & suspended
    if status is KeyStatus.EXPIRED:
        return ~deactivated & ~suspended & expired
    return ~deactivated & ~suspended & ~expired


def count_by_status(team: Team, today: date, where=()) -> dict[KeyStatus, int]:
    """How many of the team's keys (those meeting the conditions `where` too) are in each status, in one query."""
    now = columns.utcnow()
    counts = [func.count().filter(status_clause(status, today, now)) for status in KeyStatus]
    row = db.session.execute(select(*counts).where(ApiKey.team_id == team.id, *where)).one()
    return dict(zip(KeyStatus, row, strict=True))


def page(team: Team, status: KeyStatus | None, number: int, size: int, today: date, where=(),
         order_by=()) -> list[ApiKey]:
    """Page `number` (from 1) of `size` of the team's keys in `status` (None: every key) that meet the conditions
    `where`, in the order `order_by` then newest first, with their creators and the keys they replaced and were
    replaced by, in one query."""
    query = (
        select(ApiKey)
        .where(ApiKey.team_id == team.id, *where)
        .options(joinedload(ApiKey.created_by), joinedload(ApiKey.team), joinedload(ApiKey.replaced_by),
                 joinedload(ApiKey.replaces))
        .order_by(*order_by, ApiKey.created_at.desc(), ApiKey.id.desc())
        .limit(size)
        .offset((number - 1) * size)
    )
    if status is not None:
        query = query.where(status_clause(status, today))
    return list(db.session.scalars(query))


def matching(text: str):
    """The SQL condition for keys whose name, or hint, holds `text` (in any case)."""
    text = text.lower()
    return (func.lower(ApiKey.name).contains(text, autoescape=True)
            | func.lower(ApiKey.hint).contains(text, autoescape=True))


def unused_for(days: int):
    """The SQL condition for keys made over `days` days ago and not used in them (or ever)."""
    cutoff = columns.utcnow() - timedelta(days=days)
    return (ApiKey.created_at < cutoff) & (ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at < cutoff))


def hold_names(team: Team) -> None:
    """Make every other create for the team wait until this transaction ends, so that checking a new name
    against working_names() and inserting its key are one step.

    A write to the team's row, which PostgreSQL locks (a no-key lock: inserts that refer to the team go on)
    and SQLite serialises with its database write lock; SELECT ... FOR UPDATE would lock nothing on SQLite.
    A unique index cannot say it: a name is taken only while its key works, and expiry comes with the date.
    """
    db.session.execute(
        update(Team).where(Team.id == team.id).values(id=Team.id)
        .execution_options(synchronize_session=False, keeps_keys_as_checked=True)
    )


def working_names(team: Team, today: date, except_id: int | None = None) -> list[str]:
    """Names of the team's keys that still work, or will once resumed (but key `except_id`), which another key may
    not take. A rolled key in its overlap has handed its name to its replacement, so that a roll never needs a name
    of its own."""
    now = columns.utcnow()
    query = select(ApiKey.name).where(
        ApiKey.team_id == team.id,
        status_clause(KeyStatus.ACTIVE, today, now) | status_clause(KeyStatus.SUSPENDED, today, now),
        ApiKey.replaced_by_id.is_(None),
    )
    if except_id is not None:
        query = query.where(ApiKey.id != except_id)
    return list(db.session.scalars(query))



def working_keys_by_pepper() -> dict[int, list[ApiKey]]:
    """Every team's keys that work, or will once resumed, by the id of the pepper their digest was made under, with
    their teams, by team and name."""
    candidates = db.session.scalars(
        select(ApiKey).join(ApiKey.team).options(contains_eager(ApiKey.team))
        .where(ApiKey.deleted_at.is_(None), ApiKey.roll_ends_at.is_(None) | (ApiKey.roll_ends_at > columns.utcnow()))
        .order_by(ApiKey.pepper_id, Team.name, ApiKey.name, ApiKey.id)
    )
    by_pepper: dict[int, list[ApiKey]] = {}
    for key in candidates:
        if key.status(key.team.today()) in (KeyStatus.ACTIVE, KeyStatus.SUSPENDED):  # in each team's own zone
            by_pepper.setdefault(key.pepper_id, []).append(key)
    return by_pepper

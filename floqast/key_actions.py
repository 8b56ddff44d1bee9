"""Creating, rolling and deactivating a key, each with its audit event, for the views, commands and demo alike.

Nothing here commits: the caller commits once, so a key change and its audit row are stored together.
"""

from datetime import date, timedelta

from floqast import audit
from floqast.audit import AuditKind
from floqast.config import key_pepper
from floqast.extensions import db
from floqast.models import ApiKey, User, name_key

NAME_TAKEN = "A key that still works already has this name. Choose another name."
# How long a rolled key keeps working beside its replacement, as the roll dialog offers it.
ROLL_OVERLAPS = {
    timedelta(0): "Stop now",
    timedelta(hours=1): "1 hour",
    timedelta(hours=24): "24 hours",
    timedelta(days=7): "7 days",
}


class NameTaken(ValueError):
    """A working key of the team already has the name."""

    def __init__(self):
        super().__init__(NAME_TAKEN)


def create_key(creator: User, name: str, services, expires_on: date | None) -> tuple[ApiKey, str]:
    """A new key for the creator's team and its plaintext (shown once, never stored), or NameTaken."""
    team = creator.team
    ApiKey.hold_names(team)  # before reading them: two creates at once cannot both find a name free
    if name_key(name) in {name_key(taken) for taken in ApiKey.working_names(team, team.today())}:
        raise NameTaken()
    key, plaintext = ApiKey.issue(creator=creator, name=name, services=services, expires_on=expires_on,
                                  pepper=key_pepper())
    db.session.add(key)
    db.session.flush()  # the key's id, for its audit event
    audit.key_event(AuditKind.KEY_CREATED, key, creator)
    return key, plaintext


class CannotRoll(ValueError):
    """The key was rolled already or no longer works (perhaps since a moment ago, by another admin)."""


def roll_key(key: ApiKey, by: User, overlap: timedelta) -> tuple[ApiKey, str]:
    """A replacement for a working key and its plaintext (ApiKey.roll), with their audit events; the old key keeps
    working for `overlap`, then stops. CannotRoll when the key was rolled already or no longer works: the caller
    rolls back (the replacement with it).

    No name check: the old key hands its name to the replacement (ApiKey.working_names).
    """
    rolled = key.roll(by, overlap, key_pepper())
    if rolled is None:
        raise CannotRoll()
    replacement, plaintext = rolled
    kept = "the old key stopped at once" if not overlap else f"the old key keeps working for {ROLL_OVERLAPS[overlap]}"
    audit.key_event(AuditKind.KEY_ROLLED, key, by, detail=f"Replaced by {replacement.hint}…; {kept}.")
    audit.key_event(AuditKind.KEY_CREATED, replacement, by, detail=f"Replaces {key.hint}…")  # as every key has
    return replacement, plaintext


def deactivate_key(key: ApiKey, by: User) -> bool:
    """Deactivate the key, with its audit event; False (and no event) when it was already deactivated."""
    deactivated_now = key.deactivate(by=by)
    if deactivated_now:
        audit.key_event(AuditKind.KEY_DELETED, key, by)
    return deactivated_now

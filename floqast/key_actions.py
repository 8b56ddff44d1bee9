"""Creating, deactivating and revoking a key, each with its audit event, for the views, commands and demo alike.

Nothing here commits: the caller commits once, so a key change and its audit row are stored together.
"""

from datetime import date

from floqast import audit
from floqast.audit import AuditKind
from floqast.config import key_pepper
from floqast.extensions import db
from floqast.models import ApiKey, User, name_key

NAME_TAKEN = "A key that still works already has this name. Choose another name."


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


def deactivate_key(key: ApiKey, by: User) -> bool:
    """Deactivate the key, with its audit event; False (and no event) when it was already deactivated."""
    deactivated_now = key.deactivate(by=by)
    if deactivated_now:
        audit.key_event(AuditKind.KEY_DELETED, key, by)
    return deactivated_now


def revoke_leaked(key: ApiKey, reason: str, ip: str | None) -> bool:
    """Deactivate a key reported as leaked (by anyone, from `ip`) for `reason`, with its audit event; False (and no
    event) when it was already deactivated."""
    revoked_now = key.deactivate(by=None, reason=reason)
    if revoked_now:
        audit.record_revoked_as_leaked(key, reason, ip)
    return revoked_now

"""Creating a key, changing its allowed addresses and deactivating it, each with its audit event, for the views,
commands and demo alike.

Nothing here commits: the caller commits once, so a key change and its audit row are stored together.
"""

from datetime import date

from floqast import audit, ip_allowlist
from floqast.audit import AuditKind
from floqast.config import key_pepper
from floqast.extensions import db
from floqast.models import ApiKey, User, name_key

NAME_TAKEN = "A key that still works already has this name. Choose another name."


class NameTaken(ValueError):
    """A working key of the team already has the name."""

    def __init__(self):
        super().__init__(NAME_TAKEN)


def create_key(creator: User, name: str, services, expires_on: date | None,
               allowed_ips: str | None = None) -> tuple[ApiKey, str]:
    """A new key for the creator's team and its plaintext (shown once, never stored), or NameTaken; allowed_ips
    in its stored form (None: any address)."""
    team = creator.team
    ApiKey.hold_names(team)  # before reading them: two creates at once cannot both find a name free
    if name_key(name) in {name_key(taken) for taken in ApiKey.working_names(team, team.today())}:
        raise NameTaken()
    key, plaintext = ApiKey.issue(creator=creator, name=name, services=services, expires_on=expires_on,
                                  pepper=key_pepper(), allowed_ips=allowed_ips)
    db.session.add(key)
    db.session.flush()  # the key's id, for its audit event
    detail = None if allowed_ips is None else f"Allowed addresses: {addresses(allowed_ips)}."
    audit.key_event(AuditKind.KEY_CREATED, key, creator, detail)
    return key, plaintext


def addresses(stored: str | None) -> str:
    """Allowed addresses as the audit trail words them."""
    return ", ".join(ip_allowlist.shown(stored)) or "any address"


def change_allowed_ips(key: ApiKey, allowed_ips: str | None, by: User) -> bool:
    """Set the key's allowed addresses (stored form; None: any address), with an audit event that says what
    they were and what they are; False (and no event) when they already were those."""
    db.session.refresh(key, with_for_update=True)  # "before" as stored now, not as this request first read it
    if key.allowed_ips == allowed_ips:
        return False
    detail = f"Before: {addresses(key.allowed_ips)}. After: {addresses(allowed_ips)}."
    key.allowed_ips = allowed_ips
    audit.key_event(AuditKind.ALLOWED_IPS_CHANGED, key, by, detail)
    return True


def deactivate_key(key: ApiKey, by: User) -> bool:
    """Deactivate the key, with its audit event; False (and no event) when it was already deactivated."""
    deactivated_now = key.deactivate(by=by)
    if deactivated_now:
        audit.key_event(AuditKind.KEY_DELETED, key, by)
    return deactivated_now

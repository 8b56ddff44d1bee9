"""The one verifier: whether a presented key may be used, from where, for which service, and if not, why not, in
words (and the reason the request log keeps) decided here once. Pulls, downloads, the audit trail, leak reports and
keys found in URLs all ask it.

parse and checksum (a mistyped key costs no lookup) → digests (HMAC under each configured pepper) → this worker's
kept copy (floqast/keys/cache.py) or one indexed lookup of them all (floqast/keys/lookup.py) → checks: deactivated
(deleted or rolled), suspended, expired, allowed addresses, the team's Open API switch, the service. A kept copy that
would refuse is read again: the database says why.
"""

from dataclasses import dataclass

from flask import current_app

from floqast import columns
from floqast.config import current_peppers
from floqast.extensions import db
from floqast.keys import lookup, tokens
from floqast.keys.lookup import CheckedKey
from floqast.keys.models import ApiKey, Service
from floqast.keys.state import KeyStatus
from floqast.usage import models as usage

MALFORMED = "The API key is malformed. Check that it was copied whole."
UNKNOWN = "The API key is not valid."


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    """A key that may be used as presented. A kept copy (`kept`) is used only while the change mark holds what it
    held when the copy was loaded: `unless_changed`, the Redis key and value a pull's count checks (None when the
    mark is a file, read already); else read again with fresh=True."""

    key: CheckedKey
    kept: bool = False
    unless_changed: tuple[str, bytes] | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a presented key may not be used: an HTTP status and its words, with the key when it is one of ours, and
    the reason the request log keeps for a key of ours (a usage.Refusal)."""

    status: int
    detail: str
    key: CheckedKey | None = None
    reason: str | None = None


def authenticate(presented: str, ip: str | None, service: Service | None, *,
                 fresh: bool = False) -> AuthenticatedKey | Refusal:
    """Whether the key `presented` from `ip` may be used for `service` (None: any working key will do): on this
    worker's kept copy while it may be current, else (and always when `fresh`) as the database has it."""
    if not tokens.is_well_formed(presented):
        return Refusal(401, MALFORMED)
    digests = tuple(tokens.digest(presented, pepper) for pepper in current_peppers().values())
    cache = current_app.extensions["key_cache"]
    if fresh:
        cache.forget(digests[0])
    else:
        kept = cache.get(digests[0])
        if kept is not None and refusal(kept.key, ip, service) is None:
            return AuthenticatedKey(kept.key, True, cache.unless_changed(kept))
    return judged(cache.load(digests), ip, service)


def authenticate_id(key_id: int, ip: str | None, service: Service | None) -> AuthenticatedKey | Refusal | None:
    """As authenticate(), for a key already identified by its id (a download link names its key so), read from the
    database; None when no key has that id."""
    key = lookup.check_id(key_id)
    return None if key is None else judged(key, ip, service)


def judged(key: CheckedKey | None, ip: str | None, service: Service | None) -> AuthenticatedKey | Refusal:
    """The verdict on `key` (None: unknown) used from `ip` for `service`."""
    return refusal(key, ip, service) or AuthenticatedKey(key)


def refusal(key: CheckedKey | None, ip: str | None, service: Service | None) -> Refusal | None:
    """Why `key` may not be used from `ip` for `service`, or None. Its allowed addresses come once it is known to work
    (deactivated and expired keys still get their 401), before anything about its team or services is told."""
    if key is None:
        return Refusal(401, UNKNOWN)
    team, now = key.team, columns.utcnow()
    status = key.status(team.today(now), now)
    if status is KeyStatus.DEACTIVATED:
        return deactivated(key)
    if status is KeyStatus.SUSPENDED:
        return suspended(key)
    if status is KeyStatus.EXPIRED:
        return Refusal(401, f"This API key expired on {key.expires_on.isoformat()}.", key, usage.Refusal.EXPIRED)
    if not key.allows(ip):
        return Refusal(403, f"This API key cannot be used from {ip or 'an unknown address'}.", key,
                       usage.Refusal.ADDRESS)
    if not team.open_api_enabled:
        return Refusal(403, "Open API is not enabled for this team.", key, usage.Refusal.OPEN_API_OFF)
    return service_refusal(key, service)


def service_refusal(key: CheckedKey, service: Service | None) -> Refusal | None:
    """Why `key` may not be used for `service` (None: any service will do), or None."""
    if service is not None and not key.has_service(service):
        return Refusal(403, f"This API key does not have access to {service.label}.", key, usage.Refusal.SERVICE)
    return None


def entity_refusal(key: CheckedKey, entity_ids) -> Refusal | None:
    """Why `key` may not read the records of `entity_ids` (a pull's filter: never trimmed to the key's, refused), or
    None."""
    if (refused := key.cannot_read(entity_ids)) is not None:
        return Refusal(403, f"This API key cannot read entity {refused}.", key, usage.Refusal.ENTITY)
    return None


def own_requests_refusal(key: CheckedKey, api_key_id: int | None) -> Refusal | None:
    """Why `key` may not read the logged requests of key `api_key_id` (None: the whole team's), or None: a key limited
    to entities reads only its own."""
    if key.limited_to_entities and api_key_id not in (None, key.id):
        return Refusal(403, f"This API key is limited to chosen entities, so it reads only its own requests "
                       f"(apiKeyId {key.id}).", key, usage.Refusal.OTHER_KEYS)
    return None


def suspended(key: CheckedKey) -> Refusal:
    """The refusal of a suspended key: on which day (in its team's zone) and why, in the admin's words."""
    day = key.suspended_at.astimezone(key.team.zone).date()
    reason = key.suspended_reason.rstrip()
    ended = reason if reason.endswith((".", "!", "?")) else f"{reason}."
    return Refusal(401, f"This API key was suspended on {day.isoformat()}: {ended}", key, usage.Refusal.SUSPENDED)


def deactivated(key: CheckedKey) -> Refusal:
    """The refusal of a deactivated key: revoked (with the reason), rolled (naming its replacement by hint, even
    when deleted in its overlap) or deleted, on a date in its team's zone."""
    if key.deleted_at is not None and key.deactivated_reason:
        revoked = key.deleted_at.astimezone(key.team.zone).date()
        return Refusal(401, f"This API key was revoked on {revoked.isoformat()} because it was "
                       f"{key.deactivated_reason}.", key, usage.Refusal.REVOKED)
    if key.replaced_by_id is not None:
        replacement = db.session.get(ApiKey, key.replaced_by_id)  # one more lookup, for a rolled key's refusal only
        rolled = replacement.created_at.astimezone(key.team.zone).date()
        return Refusal(401, f"This API key was rolled on {rolled.isoformat()} and replaced by {replacement.hint}…",
                       key, usage.Refusal.ROLLED)
    stopped = key.deleted_at.astimezone(key.team.zone).date()
    return Refusal(401, f"This API key was deactivated on {stopped.isoformat()}.", key, usage.Refusal.DELETED)

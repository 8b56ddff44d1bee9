"""Creating, editing, rolling, regenerating, suspending, resuming, deactivating and revoking a key, changing its
allowed addresses, changing the team's key policy, each with its audit event, and noting a pull's use, for the views,
the API, commands and demo alike.

Nothing here commits: the caller commits once, so a key change and its audit row are stored together.
"""

from datetime import date, timedelta

from sqlalchemy import update

from floqast import columns
from floqast.accounts.models import Team, User
from floqast.audit import events as audit
from floqast.audit.events import AuditKind
from floqast.config import key_pepper
from floqast.events import KeyEvent, announce
from floqast.extensions import db
from floqast.keys import allowlist, queries
from floqast.keys.models import ApiKey, KeyStatus, name_key, name_problem
from floqast.keys.policy import KeyPolicy
from floqast.notices import outbox
from floqast.notices.outbox import NoticeKind

NAME_TAKEN = "A key that still works already has this name. Choose another name."
REPLACE_EXPOSED = ("The key in the URL is now in the logs of every proxy and server on the way: replace it with a "
                   "new key and delete it.")
KEY_STOPPED = "This key no longer works, so its name and description can no longer be changed."
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


class NameRefused(ValueError):
    """The name holds a character that names may not hold (a line separator, a control character): its message
    names it."""


def check_name(name: str) -> None:
    """NameRefused when `name` holds a character that names may not hold (the forms say so first; this is for
    every other caller)."""
    if problem := name_problem(name):
        raise NameRefused(problem)


def handed_on_name_problem(key: ApiKey) -> str | None:
    """Why the key's name cannot be handed to a new key that replaces it (a roll, a regenerate): a name from before
    names were checked for line separators and control characters, naming the character; None when it can."""
    problem = name_problem(key.name)
    return None if problem is None else f"{problem} Rename the key first: the new key takes its name."


class PolicyRefused(ValueError):
    """The team's key policy, as committed now, does not allow the key's expiration (its message says why)."""


class KeyStopped(ValueError):
    """The key no longer works, so it can no longer be changed."""

    def __init__(self):
        super().__init__(KEY_STOPPED)


def hold_free_name(team: Team, name: str, except_id: int | None = None) -> None:
    """Take the team's name lock and check that no other working key has `name`, or NameTaken."""
    queries.hold_names(team)  # before reading them: two creates or renames at once cannot both find a name free
    if name_key(name) in {name_key(taken) for taken in queries.working_names(team, team.today(), except_id)}:
        raise NameTaken()


def check_policy(team: Team, expires_on: date | None) -> None:
    """PolicyRefused unless the team's key policy, read again now under the name lock that a policy change waits
    for too, allows a new key expiring on `expires_on`: a form checked the policy it read, which another admin may
    have made stricter since."""
    db.session.refresh(team)
    if refusal := team.key_policy.refusal(expires_on, team.today()):
        raise PolicyRefused(refusal)


def create_key(creator: User, name: str, services, expires_on: date | None, description: str | None = None,
               allowed_ips: str | None = None) -> tuple[ApiKey, str]:
    """A new key for the creator's team and its plaintext (shown once, never stored), or NameTaken, or
    PolicyRefused; allowed_ips in its stored form (None: any address)."""
    team = creator.team
    check_name(name)
    hold_free_name(team, name)
    check_policy(team, expires_on)
    pepper_id, pepper = key_pepper()
    key, plaintext = ApiKey.issue(creator=creator, name=name, services=services, expires_on=expires_on,
                                  pepper=pepper, pepper_id=pepper_id, allowed_ips=allowed_ips)
    key.description = description
    db.session.add(key)
    db.session.flush()  # the key's id, for its audit event
    detail = None if allowed_ips is None else f"Allowed addresses: {addresses(allowed_ips)}."
    audit.key_event(AuditKind.KEY_CREATED, key, creator, detail)
    return key, plaintext


def quoted(text: str | None) -> str:
    return f"“{text}”" if text else "none"


def check_editable(key: ApiKey) -> None:
    """KeyStopped unless the key still works, or will once resumed: names are unique among working keys only, so a
    stopped key's name would be checked against nothing (and GitHub, too, edits only tokens that work)."""
    if not key.editable(key.team.today()):
        raise KeyStopped()


def edit_key(key: ApiKey, name: str, description: str | None, by: User) -> list[AuditKind]:
    """Rename and describe a working key, each change with its audit event (before and after); the changes made.

    NameTaken when another working key has the name, KeyStopped when the key no longer works (its name would
    then be checked against nothing: names are unique among working keys only). The key itself never changes.
    """
    changes = []
    if name != key.name:
        check_name(name)
        hold_free_name(key.team, name, except_id=key.id)
    db.session.refresh(key)  # deleted meanwhile? (read after the name lock, which a create or rename holds too)
    check_editable(key)
    if name != key.name:
        before, key.name = key.name, name
        audit.key_event(AuditKind.KEY_RENAMED, key, by, f"From {quoted(before)} to {quoted(name)}")
        changes.append(AuditKind.KEY_RENAMED)
    if description != key.description:
        before, key.description = key.description, description
        audit.key_event(AuditKind.KEY_DESCRIBED, key, by, f"From {quoted(before)} to {quoted(description)}")
        changes.append(AuditKind.KEY_DESCRIBED)
    return changes


class CannotRoll(ValueError):
    """The key was rolled already or no longer works (perhaps since a moment ago, by another admin)."""


class CannotRegenerate(ValueError):
    """The key is no longer an expired key that was never replaced (perhaps since a moment ago, by another admin)."""


def replace(key: ApiKey, by: User, expires_on: date | None, overlap: timedelta,
            status: KeyStatus) -> tuple[ApiKey, str] | None:
    """A new key made by `by` with this one's name, services, description and allowed addresses, expiring on
    `expires_on`, and its plaintext; the key, while in `status` and never replaced, then points to it and stops after
    `overlap`. None, for the caller to roll back, when the key was replaced or left `status` meanwhile."""
    now = columns.utcnow()
    pepper_id, pepper = key_pepper()
    replacement, plaintext = ApiKey.issue(creator=by, name=key.name, services=key.services, expires_on=expires_on,
                                          pepper=pepper, pepper_id=pepper_id, allowed_ips=key.allowed_ips)
    replacement.description = key.description
    replacement.created_at = now
    db.session.add(replacement)
    db.session.flush()  # its id, for the key to point to
    # One conditional UPDATE: of two admins replacing the key at once, the second finds it replaced.
    result = db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.replaced_by_id.is_(None),
               queries.status_clause(status, key.team.today(now), now))
        .values(replaced_by_id=replacement.id, roll_ends_at=now + overlap)
    )
    db.session.refresh(key)
    return (replacement, plaintext) if result.rowcount == 1 else None


def roll_key(key: ApiKey, by: User, overlap: timedelta, expires_on: date | None) -> tuple[ApiKey, str]:
    """A replacement for a working key and its plaintext (replace(): everything but the key itself and its expiry
    carried over), expiring on `expires_on`, with their audit events; the old key keeps working for `overlap`, then
    stops. CannotRoll when the key was rolled already or no longer works, PolicyRefused when the team's policy does
    not allow the expiry, NameRefused when the key's name holds a character names may not hold: the caller rolls
    back.

    No check that the name is free: the old key hands its name to the replacement (queries.working_names).
    """
    if problem := handed_on_name_problem(key):
        raise NameRefused(problem)
    queries.hold_names(key.team)
    check_policy(key.team, expires_on)
    rolled = replace(key, by, expires_on, overlap, KeyStatus.ACTIVE)
    if rolled is None:
        raise CannotRoll()
    replacement, plaintext = rolled
    kept = "the old key stopped at once" if not overlap else f"the old key keeps working for {ROLL_OVERLAPS[overlap]}"
    audit.key_event(AuditKind.KEY_ROLLED, key, by, detail=f"Replaced by {replacement.hint}…; {kept}.")
    audit.key_event(AuditKind.KEY_CREATED, replacement, by, detail=f"Replaces {key.hint}…")  # as every key has
    return replacement, plaintext


def regenerate_key(key: ApiKey, by: User, expires_on: date | None) -> tuple[ApiKey, str]:
    """A new key in place of an expired one (replace(), the old key stopping at once), expiring on `expires_on`, and
    its plaintext, with their audit events. NameTaken when a working key has taken the name since, NameRefused when
    the name holds a character names may not hold, PolicyRefused when the team's policy does not allow the expiry,
    CannotRegenerate when the key was replaced or deleted meanwhile: the caller rolls back."""
    if problem := handed_on_name_problem(key):
        raise NameRefused(problem)
    hold_free_name(key.team, key.name)
    check_policy(key.team, expires_on)
    regenerated = replace(key, by, expires_on, timedelta(0), KeyStatus.EXPIRED)
    if regenerated is None:
        raise CannotRegenerate()
    replacement, plaintext = regenerated
    audit.key_event(AuditKind.KEY_REGENERATED, key, by, detail=f"Replaced by {replacement.hint}….")
    audit.key_event(AuditKind.KEY_CREATED, replacement, by, detail=f"Regenerates {key.hint}…")
    return replacement, plaintext


def end_overlap(key: ApiKey, by: User) -> bool:
    """Stop a rolled key in its overlap now, with its audit event; False (and no event) when it had stopped already
    (its overlap over, or deleted: by anyone, even a moment ago)."""
    now = columns.utcnow()
    result = db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.roll_ends_at > now, ApiKey.deleted_at.is_(None))
        .values(roll_ends_at=now)
    )
    db.session.refresh(key)
    stopped_now = result.rowcount == 1
    if stopped_now:
        audit.key_event(AuditKind.ROLL_ENDED, key, by,
                        detail=f"Stopped before the end of its overlap; replaced by {key.replaced_by.hint}….")
    return stopped_now


def addresses(stored: str | None) -> str:
    """Allowed addresses as the audit trail words them."""
    return ", ".join(allowlist.shown(stored)) or "any address"


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


def deactivate(key: ApiKey, by: User | None, reason: str | None = None) -> bool:
    """Soft-delete the key once, for the caller to commit, by a user or (with no user) for a reason; False when
    it was already deactivated (by anyone)."""
    now = columns.utcnow()
    result = db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, ~queries.status_clause(KeyStatus.DEACTIVATED, key.team.today(now), now))
        .values(deleted_at=now, deleted_by_id=None if by is None else by.id, deactivated_reason=reason)
    )
    db.session.refresh(key)
    return result.rowcount == 1


def deactivate_key(key: ApiKey, by: User) -> bool:
    """Deactivate the key, with its audit event; False (and no event) when it was already deactivated."""
    deactivated_now = deactivate(key, by=by)
    if deactivated_now:
        audit.key_event(AuditKind.KEY_DELETED, key, by)
    return deactivated_now


def suspend_key(key: ApiKey, by: User, reason: str) -> bool:
    """Pause a working key for `reason`, with its audit event, a notice to its creator and its team's admins, and its
    announcement; False (and none of them) when it was not working (suspended, expired or deactivated meanwhile)."""
    now = columns.utcnow()
    result = db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, queries.status_clause(KeyStatus.ACTIVE, key.team.today(now), now))
        .values(suspended_at=now, suspended_by_id=by.id, suspended_reason=reason)
    )
    db.session.refresh(key)
    suspended_now = result.rowcount == 1
    if suspended_now:
        audit.key_event(AuditKind.KEY_SUSPENDED, key, by, detail=f"Reason: {quoted(key.suspended_reason)}")
        outbox.notify_key_admins(key, NoticeKind.SUSPENDED, reason=key.suspended_reason)
        announce(KeyEvent.KEY_SUSPENDED, key.team_id, api_key=key)
    return suspended_now


def resume_key(key: ApiKey, by: User) -> bool:
    """Let a suspended key work again (unless it has expired meanwhile), with its audit event, a notice and its
    announcement; False (and none of them) when it was not suspended (resumed or deactivated meanwhile)."""
    now = columns.utcnow()
    result = db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id, queries.status_clause(KeyStatus.SUSPENDED, key.team.today(now), now))
        .values(suspended_at=None, suspended_by_id=None, suspended_reason=None)
    )
    db.session.refresh(key)
    resumed_now = result.rowcount == 1
    if resumed_now:
        audit.key_event(AuditKind.KEY_RESUMED, key, by)
        outbox.notify_key_admins(key, NoticeKind.RESUMED)
        announce(KeyEvent.KEY_RESUMED, key.team_id, api_key=key)
    return resumed_now


def change_key_policy(by: User, policy: KeyPolicy) -> bool:
    """Give the user's team this API key policy, with its audit event; False (and no event) when it already had it."""
    before = by.team.key_policy
    if policy == before:
        return False
    by.team.key_policy = policy
    audit.record_policy_change(by, before, policy)
    return True


def revoke_leaked(key: ApiKey, reason: str, ip: str | None) -> bool:
    """Deactivate a key reported as leaked (by anyone, from `ip`) for `reason`, with its audit event and a notice to
    its team's admins; False (and no event) when it was already deactivated."""
    revoked_now = deactivate(key, by=None, reason=reason)
    if revoked_now:
        audit.record_revoked_as_leaked(key, reason, ip)
        outbox.notify_key_admins(key, NoticeKind.REVOKED, reason=reason)  # mailed by the next `keys notify`
    return revoked_now


def record_use(key, ip: str | None, user_agent: str | None, interval: timedelta) -> bool:
    """Note a pull and where it came from, for the caller to commit, writing at most once per `interval` even across
    workers; whether it wrote (else there is nothing to commit). `key` is the pull's CheckedKey: its Last used moves
    on with the write, so that a worker that keeps it (floqast/keys/cache.py) writes once an interval, not on every
    pull."""
    now = columns.utcnow()
    cutoff = now - interval
    if key.last_used_at is not None and key.last_used_at >= cutoff:
        return False
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < cutoff))
        .values(last_used_at=now, last_used_ip=ip, last_used_user_agent=user_agent)
        .execution_options(synchronize_session=False, keeps_keys_as_checked=True)
    )
    key.last_used_at = now
    return True


def mark_exposed(key) -> None:
    """Note that a key of ours was seen in a URL (from its first time on), with an event in its team's trail that
    says to replace it, for the caller to commit. It is not revoked: a mistyped curl must not stop a nightly load."""
    db.session.execute(
        update(ApiKey).where(ApiKey.id == key.id, ApiKey.exposed_in_url_at.is_(None))
        .values(exposed_in_url_at=columns.utcnow())
        .execution_options(synchronize_session=False, keeps_keys_as_checked=True)
    )
    audit.record_key_in_url(key, REPLACE_EXPOSED)

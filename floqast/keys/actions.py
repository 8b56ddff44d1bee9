"""Creating, editing, rolling (by an admin or by the key itself), regenerating, suspending, resuming, deactivating and
revoking a key, changing its allowed addresses, changing the team's key policy, each with its audit event, and noting
a pull's use, for the views, the API, commands and demo alike.

Nothing here commits: the caller commits once, so a key change and its audit row are stored together.
"""

from datetime import date, timedelta

from sqlalchemy import select, update

from floqast import columns
from floqast.accounts.models import Team, User
from floqast.audit import events as audit
from floqast.audit.events import AuditKind
from floqast.config import key_pepper
from floqast.events import KeyEvent, announce
from floqast.extensions import db
from floqast.keys import allowlist, queries, scope, self_roll
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
# How long a key that rolled itself keeps working at most: until its replacement's first use, or this long.
SELF_ROLL_OVERLAP = timedelta(hours=24)


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
               allowed_ips: str | None = None, *, entity_ids=None,
               rate_limit_per_minute: int | None = None,
               self_roll_allowed: bool = False) -> tuple[ApiKey, str]:
    """A new key for the creator's team and its plaintext (shown once, never stored), or NameTaken, or
    PolicyRefused, or scope.NotTeamEntity; allowed_ips in its stored form (None: any address), entity_ids the
    entities it reads (None: all, later ones too), rate_limit_per_minute its own limit (None: the team default);
    self_roll_allowed: scripts may roll it."""
    team = creator.team
    check_name(name)
    entity_ids = scope.checked(team.id, entity_ids)
    hold_free_name(team, name)
    check_policy(team, expires_on)
    pepper_id, pepper = key_pepper()
    key, plaintext = ApiKey.issue(creator=creator, name=name, services=services, expires_on=expires_on,
                                  pepper=pepper, pepper_id=pepper_id, allowed_ips=allowed_ips, entity_ids=entity_ids,
                                  rate_limit_per_minute=rate_limit_per_minute)
    key.description = description
    key.self_roll_allowed = self_roll_allowed
    db.session.add(key)
    db.session.flush()  # the key's id, for its audit event
    details = []
    if allowed_ips is not None:
        details.append(f"Allowed addresses: {addresses(allowed_ips)}.")
    if entity_ids is not None:
        details.append(f"Entities: {scope.described(entity_ids, scope.team_entities(team.id))}.")
    if rate_limit_per_minute is not None:
        details.append(f"Rate limit: {scope.rate_described(rate_limit_per_minute)}.")
    if self_roll_allowed:
        details.append(SELF_ROLL_ON)
    audit.key_event(AuditKind.KEY_CREATED, key, creator, " ".join(details) or None)
    announce(KeyEvent.KEY_CREATED, key.team_id, api_key=key)
    return key, plaintext


SELF_ROLL_ON = "Scripts may roll this key."
SELF_ROLL_OFF = "Scripts may not roll this key."


def change_self_roll(key: ApiKey, allowed: bool, by: User) -> bool:
    """Let scripts roll the key (POST /api/v1/me/roll), or stop them, with its audit event; False (and no event)
    when it already was so."""
    if key.self_roll_allowed == allowed:
        return False
    key.self_roll_allowed = allowed
    audit.key_event(AuditKind.SELF_ROLL_CHANGED, key, by, SELF_ROLL_ON if allowed else SELF_ROLL_OFF)
    return True


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
    """A new key made by `by` with this one's name, services, description, allowed addresses, entities and rate
    limit, expiring on
    `expires_on`, and its plaintext; the key, while in `status` and never replaced, then points to it and stops after
    `overlap`. None, for the caller to roll back, when the key was replaced or left `status` meanwhile."""
    now = columns.utcnow()
    pepper_id, pepper = key_pepper()
    replacement, plaintext = ApiKey.issue(creator=by, name=key.name, services=key.services, expires_on=expires_on,
                                          pepper=pepper, pepper_id=pepper_id, allowed_ips=key.allowed_ips,
                                          entity_ids=key.entity_ids, rate_limit_per_minute=key.rate_limit_per_minute)
    replacement.description = key.description
    replacement.self_roll_allowed = key.self_roll_allowed
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


def roll_key(key: ApiKey, by: User, overlap: timedelta, expires_on: date | None,
             itself: bool = False) -> tuple[ApiKey, str]:
    """A replacement for a working key and its plaintext (replace(): everything but the key itself and its expiry
    carried over), expiring on `expires_on`, with their audit events and notices; the old key keeps working for
    `overlap`, then stops. `itself`: the key rolls itself from a script (roll_itself), `by` being its creator.
    CannotRoll when the key was rolled already or no longer works, PolicyRefused when the team's policy does not
    allow the expiry, NameRefused when the key's name holds a character names may not hold: the caller rolls back.

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
    if itself:
        kind, actor, kept = AuditKind.KEY_ROLLED_BY_ITSELF, None, "the old key works until the new one is first used"
        kept += f" or for {ROLL_OVERLAPS[overlap]}, whichever comes first"
        outbox.notify_key_admins(key, NoticeKind.ROLLED_BY_ITSELF)
    else:
        kind, actor = AuditKind.KEY_ROLLED, by
        kept = f"the old key keeps working for {ROLL_OVERLAPS[overlap]}" if overlap else "the old key stopped at once"
        outbox.notify_creator(key, NoticeKind.ROLLED, by)
    audit.key_event(kind, key, actor, detail=f"Replaced by {replacement.hint}…; {kept}.")
    audit.key_event(AuditKind.KEY_CREATED, replacement, actor, detail=f"Replaces {key.hint}…")  # as every key has
    announce(KeyEvent.KEY_ROLLED, key.team_id, api_key=key, overlap_seconds=int(overlap.total_seconds()))
    announce(KeyEvent.KEY_CREATED, replacement.team_id, api_key=replacement)
    return replacement, plaintext


class SelfRollNotAllowed(PermissionError):
    """The key does not have "Scripts may roll this key"."""


class RolledAlready(ValueError):
    """The key was rolled already (by itself with another Idempotency-Key, or by an admin): its message names the
    replacement's hint."""


def roll_itself(key: ApiKey, idempotency_key: str) -> tuple[ApiKey, str]:
    """The key's replacement and its plaintext: a new roll (roll_key(), keeping the key's
    lifetime from today within the policy; the old key working until the new one's first use or SELF_ROLL_OVERLAP),
    recorded with its plaintext sealed, or the same answer again for a retry with the same `idempotency_key` while
    the plaintext is kept. The caller commits (what it erased of kept plaintexts too).

    SelfRollNotAllowed without the option; RolledAlready when it was rolled otherwise, or the kept plaintext is
    gone; CannotRoll, PolicyRefused, NameRefused as roll_key (the caller rolls back and may ask again: a roll
    committed meanwhile by the same request's twin then answers it).
    """
    self_roll.erase_sealed()
    previous = db.session.scalar(select(self_roll.SelfRoll).where(self_roll.SelfRoll.api_key_id == key.id))
    if previous is not None:
        plaintext = previous.unsealed() if previous.same_request(idempotency_key) else None
        if plaintext is None:
            raise RolledAlready(rolled_already(previous.replacement))
        return previous.replacement, plaintext
    if key.replaced_by is not None:
        raise RolledAlready(rolled_already(key.replaced_by))
    if not key.self_roll_allowed:
        raise SelfRollNotAllowed("This API key may not roll itself. An admin can allow it on the key's page: "
                                 "Scripts may roll this key.")
    replacement, plaintext = roll_key(key, key.created_by, SELF_ROLL_OVERLAP,
                                      key.replacement_expires_on(key.team.today()), itself=True)
    self_roll.record(key, replacement, plaintext, idempotency_key)
    return replacement, plaintext


def rolled_already(replacement: ApiKey) -> str:
    return (f"This API key was rolled already: its replacement is {replacement.hint}…. Use that key, or ask the "
            "same roll again with its Idempotency-Key within a few minutes of it.")


def end_self_roll_at_first_use(key) -> None:
    """On a key's first use, stop the key it replaced if that key rolled itself and still works (its overlap was
    "until the new key is first used"), with its audit event, for the caller to commit. One query for a key that
    replaced nothing; this runs once per key, and only for keys that may roll themselves."""
    now = columns.utcnow()
    rolled = db.session.scalar(select(ApiKey).where(
        ApiKey.replaced_by_id == key.id, ApiKey.roll_ends_at > now, ApiKey.deleted_at.is_(None),
        ApiKey.id.in_(select(self_roll.SelfRoll.api_key_id).where(self_roll.SelfRoll.replacement_id == key.id)),
    ))
    if rolled is None:
        return
    result = db.session.execute(
        update(ApiKey).where(ApiKey.id == rolled.id, ApiKey.roll_ends_at > now).values(roll_ends_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        audit.key_event(AuditKind.ROLL_ENDED, rolled, None, detail=f"Its replacement {key.hint}… was first used.")


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
    announce(KeyEvent.KEY_CREATED, replacement.team_id, api_key=replacement)
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


def change_entities(key: ApiKey, entity_ids, by: User) -> bool:
    """Set the entities a working key reads (None: all, later ones too), with an audit event naming them before and
    after; False (and no event) when they already were those. scope.NotTeamEntity for an entity not of its team."""
    entity_ids = scope.checked(key.team_id, entity_ids)
    db.session.flush()  # a change of this transaction is stored before the key is read again
    db.session.refresh(key, with_for_update=True)  # "before" as stored now, not as this request first read it
    if key.entity_ids == entity_ids:
        return False
    names = scope.team_entities(key.team_id)
    detail = f"Before: {scope.described(key.entity_ids, names)}. After: {scope.described(entity_ids, names)}."
    key.entity_ids = entity_ids
    audit.key_event(AuditKind.ENTITIES_CHANGED, key, by, detail)
    return True


def change_rate_limit(key: ApiKey, rate_limit_per_minute: int | None, by: User) -> bool:
    """Set a key's own rate limit (None: the team default), with an audit event before and after; False (and no
    event) when it already was that."""
    db.session.flush()  # as in change_entities
    db.session.refresh(key, with_for_update=True)
    if key.rate_limit_per_minute == rate_limit_per_minute:
        return False
    detail = (f"Before: {scope.rate_described(key.rate_limit_per_minute)}. "
              f"After: {scope.rate_described(rate_limit_per_minute)}.")
    key.rate_limit_per_minute = rate_limit_per_minute
    audit.key_event(AuditKind.RATE_LIMIT_CHANGED, key, by, detail)
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
        outbox.notify_creator(key, NoticeKind.DELETED, by)
        announce(KeyEvent.KEY_DELETED, key.team_id, api_key=key)
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
        announce(KeyEvent.KEY_REVOKED, key.team_id, api_key=key, reason=reason)
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
    if key.last_used_at is None and key.self_roll_allowed:  # a self-roll's replacement has the option too
        end_self_roll_at_first_use(key)
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
    says to replace it, for the caller to commit; announced the first time. It is not revoked: a mistyped curl must
    not stop a nightly load."""
    first_time = db.session.execute(
        update(ApiKey).where(ApiKey.id == key.id, ApiKey.exposed_in_url_at.is_(None))
        .values(exposed_in_url_at=columns.utcnow())
        .execution_options(synchronize_session=False, keeps_keys_as_checked=True)
    ).rowcount == 1
    audit.record_key_in_url(key, REPLACE_EXPOSED)
    if first_time:
        announce(KeyEvent.KEY_EXPOSED, key.team_id, api_key=key)

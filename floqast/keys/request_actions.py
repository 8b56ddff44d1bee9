"""Asking for a key, approving or denying the request, and revealing an approved request's key, each with its audit
event, its announcement and (for a decision) the requester's notice; and the requests the pages list.

Nothing here commits: the caller commits once. Each step is one conditional UPDATE, so of two admins deciding at once,
or two reveals at once, the second finds the request decided or revealed.
"""

from datetime import date

from sqlalchemy import func, select, update

from floqast import columns
from floqast.accounts.models import Team, User
from floqast.audit import events as audit
from floqast.audit.events import AuditKind
from floqast.events import KeyEvent, announce
from floqast.extensions import db
from floqast.keys import actions, scope
from floqast.keys.models import ApiKey, Service
from floqast.keys.requests import REVEAL_WINDOW, ApiKeyRequest, Decision
from floqast.notices import outbox
from floqast.notices.outbox import NoticeKind

# How many decided requests the admins' Requests page lists, newest first.
DECIDED_SHOWN = 50
ALREADY_DECIDED = "Another admin has decided this request already."
NOT_REVEALABLE = ("This key can no longer be revealed: it was revealed already, or the approval lapsed 24 hours after "
                  "it was given. Ask for a new key if you still need one.")


class AlreadyDecided(ValueError):
    """The request was approved or denied already (perhaps a moment ago, by another admin)."""

    def __init__(self):
        super().__init__(ALREADY_DECIDED)


class NotRevealable(ValueError):
    """The request is not an approval whose key can still be revealed."""

    def __init__(self):
        super().__init__(NOT_REVEALABLE)


def described(team_id: int, services, entity_ids: list[int] | None, expires_on: date | None) -> str:
    """What a request asks for, or an approval grants, in a few words for the audit trail (entities by name)."""
    entities = scope.described(entity_ids, scope.team_entities(team_id))
    expiry = "no expiration" if expires_on is None else f"expires {expires_on.isoformat()}"
    return f"{', '.join(Service(service).label for service in services)}; {entities}; {expiry}"


def submit(requester: User, name: str, services, entity_ids: list[int] | None, expires_on: date | None,
           justification: str) -> ApiKeyRequest:
    """A new pending request by `requester` for a key of their team, audited and announced; NameRefused when the name
    holds a character names may not hold."""
    actions.check_name(name)
    key_request = ApiKeyRequest(
        team_id=requester.team_id, requested_by=requester, name=name,
        services=list(dict.fromkeys(Service(service).value for service in services)),
        entity_ids=None if entity_ids is None else sorted(set(entity_ids)), expires_on=expires_on,
        justification=justification,
    )
    db.session.add(key_request)
    db.session.flush()  # its id, for the audit trail
    audit.request_event(AuditKind.KEY_REQUESTED, key_request, requester,
                        f"Request {key_request.id}: {described(requester.team_id, services, entity_ids, expires_on)}. "
                        f"Justification: {actions.quoted(justification)}")
    announce(KeyEvent.REQUEST_CREATED, key_request.team_id, api_key_request=key_request)
    return key_request


def _decide(key_request: ApiKeyRequest, by: User, **values) -> None:
    """Record the decision, or AlreadyDecided when the request was decided meanwhile."""
    result = db.session.execute(
        update(ApiKeyRequest)
        .where(ApiKeyRequest.id == key_request.id, ApiKeyRequest.decided_at.is_(None))
        .values(decided_by_id=by.id, decided_at=columns.utcnow(), **values)
    )
    db.session.refresh(key_request)
    if result.rowcount != 1:
        raise AlreadyDecided()


def approve(key_request: ApiKeyRequest, by: User, services, entity_ids: list[int] | None,
            expires_on: date | None) -> None:
    """Approve the request, granting `services`, `entity_ids` and `expires_on` (at most what was asked for), with its
    audit event, announcement and the requester's notice. Widening, PolicyRefused (the team's policy of now) or
    AlreadyDecided: the caller rolls back."""
    services = [service for service in key_request.services if service in set(services)]  # in the asked order
    entity_ids = None if entity_ids is None else sorted(set(entity_ids))
    key_request.check_narrower(services, entity_ids, expires_on)
    actions.check_policy(key_request.team, expires_on)
    _decide(key_request, by, decision=Decision.APPROVED, granted_services=services, granted_entity_ids=entity_ids,
            granted_expires_on=expires_on)
    audit.request_event(AuditKind.KEY_REQUEST_APPROVED, key_request, by,
                        f"Request {key_request.id} by {key_request.requested_by.email}: "
                        f"{described(key_request.team_id, services, entity_ids, expires_on)}.")
    outbox.notify_requester(key_request, NoticeKind.REQUEST_APPROVED)
    announce(KeyEvent.REQUEST_APPROVED, key_request.team_id, api_key_request=key_request)


def deny(key_request: ApiKeyRequest, by: User, reason: str) -> None:
    """Deny the request for `reason`, with its audit event, announcement and the requester's notice; AlreadyDecided:
    the caller rolls back."""
    _decide(key_request, by, decision=Decision.DENIED, denial_reason=reason)
    audit.request_event(AuditKind.KEY_REQUEST_DENIED, key_request, by,
                        f"Request {key_request.id} by {key_request.requested_by.email}. "
                        f"Reason: {actions.quoted(reason)}")
    outbox.notify_requester(key_request, NoticeKind.REQUEST_DENIED)
    announce(KeyEvent.REQUEST_DENIED, key_request.team_id, api_key_request=key_request)


def reveal(key_request: ApiKeyRequest, requester: User) -> tuple[ApiKey, str]:
    """The approved request's key, made now with the requester as its owner and what was granted, and its plaintext
    (shown once); the key's audit trail names the requester, the approver and the justification. NotRevealable when
    it was revealed already or the approval lapsed, NameTaken, PolicyRefused or scope.NotTeamEntity (an entity granted
    is gone) as for any new key: the caller rolls back."""
    now = columns.utcnow()
    result = db.session.execute(
        update(ApiKeyRequest)
        .where(ApiKeyRequest.id == key_request.id, ApiKeyRequest.requested_by_id == requester.id,
               ApiKeyRequest.decision == Decision.APPROVED, ApiKeyRequest.revealed_at.is_(None),
               ApiKeyRequest.decided_at > now - REVEAL_WINDOW)
        .values(revealed_at=now)
    )
    if result.rowcount != 1:
        raise NotRevealable()
    db.session.refresh(key_request)
    key, plaintext = actions.create_key(requester, key_request.name, key_request.granted_services,
                                        key_request.granted_expires_on, entity_ids=key_request.granted_entity_ids)
    key_request.api_key = key
    approver = key_request.decided_by
    audit.key_event(AuditKind.KEY_REQUEST_APPROVED, key, approver,
                    f"Made from request {key_request.id}: requested by {requester.name} ({requester.email}), "
                    f"approved by {approver.name} ({approver.email}). "
                    f"Justification: {actions.quoted(key_request.justification)}")
    return key, plaintext


def pending_count(team: Team) -> int:
    """How many of the team's requests wait for an admin's decision."""
    return db.session.scalar(select(func.count()).select_from(ApiKeyRequest)
                             .where(ApiKeyRequest.team_id == team.id, ApiKeyRequest.decided_at.is_(None)))


def team_requests(team: Team) -> list[ApiKeyRequest]:
    """The team's requests for its admins: every pending one, oldest first (first come, first served), then the
    DECIDED_SHOWN latest decided ones, newest decision first (the audit trail keeps them all)."""
    of_team = select(ApiKeyRequest).where(ApiKeyRequest.team_id == team.id)
    pending = db.session.scalars(of_team.where(ApiKeyRequest.decided_at.is_(None)).order_by(ApiKeyRequest.id))
    decided = db.session.scalars(of_team.where(ApiKeyRequest.decided_at.is_not(None))
                                 .order_by(ApiKeyRequest.decided_at.desc(), ApiKeyRequest.id.desc())
                                 .limit(DECIDED_SHOWN))
    return [*pending, *decided]


def own_requests(requester: User) -> list[ApiKeyRequest]:
    """The requester's own requests, newest first."""
    return list(db.session.scalars(select(ApiKeyRequest).where(ApiKeyRequest.requested_by_id == requester.id)
                                   .order_by(ApiKeyRequest.id.desc())))


def for_key(key: ApiKey) -> ApiKeyRequest | None:
    """The request a key was made from, if any."""
    return db.session.scalar(select(ApiKeyRequest).where(ApiKeyRequest.api_key_id == key.id))

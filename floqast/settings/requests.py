"""Requests in Admin Settings: the team's key requests, each with who asked, what and why, approved (perhaps
narrowed) or denied with a reason."""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from floqast.extensions import db
from floqast.keys import request_actions, scope
from floqast.keys.actions import PolicyRefused
from floqast.keys.request_actions import AlreadyDecided
from floqast.keys.requests import ApiKeyRequest, Widening
from floqast.settings import bp
from floqast.settings.forms import ApproveRequestForm, DenyRequestForm


@bp.context_processor
def pending_requests() -> dict:
    """The navigation's count of requests waiting for a decision, counted only where the navigation is drawn."""
    return {"pending_request_count": lambda: request_actions.pending_count(current_user.team)}


def team_request_or_404(request_id: int) -> ApiKeyRequest:
    """One of the current team's requests; another team's is as missing as one that never was."""
    return db.first_or_404(select(ApiKeyRequest).where(ApiKeyRequest.id == request_id,
                                                       ApiKeyRequest.team_id == current_user.team_id))


def team_entities() -> dict[int, str]:
    return scope.team_entities(current_user.team_id)


def offered_entities(key_request: ApiKeyRequest, entities: dict[int, str]) -> dict[int, str]:
    """The entities an approval may grant, id to name: those asked for (every one of the team's for All entities)."""
    if key_request.entity_ids is None:
        return entities
    return {entity_id: name for entity_id, name in entities.items() if entity_id in key_request.entity_ids}


def approve_form(key_request: ApiKeyRequest, entities: dict[int, str], **kwargs) -> ApproveRequestForm:
    return ApproveRequestForm(key_request=key_request, entities=offered_entities(key_request, entities),
                              today=current_user.team.today(), **kwargs)


def decision_forms(key_request: ApiKeyRequest, entities: dict[int, str], **submitted) -> dict:
    """The request's Approve form (offering only what was asked for) and Deny form; `submitted` holds the one sent."""
    approve = submitted.get("approve") or approve_form(key_request, entities, formdata=None)
    return {"approve": approve, "deny": submitted.get("deny") or DenyRequestForm(formdata=None,
                                                                                 key_request=key_request)}


def render_requests(status: int = 200, sent: ApiKeyRequest | None = None, **submitted):
    """The Requests page; the forms of the request `sent` as submitted, with their errors."""
    entities = team_entities()
    key_requests = request_actions.team_requests(current_user.team)
    forms = {key_request.id: decision_forms(key_request, entities, **(submitted if key_request == sent else {}))
             for key_request in key_requests if key_request.decided_at is None}
    return render_template("settings/key_requests.html", key_requests=key_requests, forms=forms,
                           entity_names=entities,
                           team=current_user.team), status


@bp.get("/key-requests")
def requests_page():
    """The team's key requests: pending ones with their Approve and Deny forms, then the decided ones."""
    return render_requests()


def decided(message: str):
    flash(message)
    return redirect(url_for("settings.requests_page"), 303)


@bp.post("/key-requests/<id:request_id>/approve")
def approve_request(request_id: int):
    """Approve a request as asked or narrowed; the requester is mailed and may reveal the key for 24 hours."""
    key_request = team_request_or_404(request_id)
    form = approve_form(key_request, team_entities())
    if form.validate():
        try:
            request_actions.approve(key_request, current_user, form.services.data, form.entities.entity_ids(),
                                    form.expiry())
        except (Widening, PolicyRefused) as refused:
            form.expires_on.errors.append(str(refused))
        except AlreadyDecided as already:
            db.session.rollback()
            return decided(str(already))
    if form.errors:
        db.session.rollback()
        return render_requests(422, sent=key_request, approve=form)
    db.session.commit()
    return decided(f"Approved “{key_request.name}”. {key_request.requested_by.name} can reveal the key for 24 hours.")


@bp.post("/key-requests/<id:request_id>/deny")
def deny_request(request_id: int):
    """Deny a request with a reason, which the requester is mailed."""
    key_request = team_request_or_404(request_id)
    form = DenyRequestForm(key_request=key_request)
    if not form.validate():
        return render_requests(422, sent=key_request, deny=form)
    try:
        request_actions.deny(key_request, current_user, form.reason.data)
    except AlreadyDecided as already:
        db.session.rollback()
        return decided(str(already))
    db.session.commit()
    return decided(f"Denied “{key_request.name}”. {key_request.requested_by.name} gets an email with your reason.")

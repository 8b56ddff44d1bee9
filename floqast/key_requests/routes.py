"""The Request an API key page: the request form, the requester's requests and their states, and the reveal."""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from floqast.extensions import db
from floqast.key_requests import bp
from floqast.keys import queries, request_actions, scope
from floqast.keys.actions import NameRefused, NameTaken, PolicyRefused
from floqast.keys.request_actions import NotRevealable
from floqast.keys.requests import ApiKeyRequest
from floqast.settings.forms import RequestKeyForm

ASK_AGAIN = "The key cannot be made as approved: ask for it again below, and an admin will decide anew."


def request_form(**kwargs) -> RequestKeyForm:
    team = current_user.team
    today = team.today()
    submitted = kwargs.get("formdata", True) is not None
    taken_names = queries.working_names(team, today) if submitted else ()
    return RequestKeyForm(today=today, policy=team.key_policy, taken_names=taken_names,
                          entities=scope.team_entities(team.id), **kwargs)


def render_page(form: RequestKeyForm, status: int = 200, **extra):
    return render_template("key_requests/index.html", form=form, requests=request_actions.own_requests(current_user),
                           entity_names=scope.team_entities(current_user.team_id),
                           team=current_user.team, **extra), status


@bp.get("")
def index():
    """The request form and the requester's own requests."""
    return render_page(request_form(formdata=None))


@bp.post("")
def submit():
    """Send a request to the team's admins; errors in place, with everything typed kept."""
    form = request_form()
    if form.validate():
        try:
            request_actions.submit(current_user, form.name.data, form.services.data, form.entities.entity_ids(),
                                   form.expires_on(), form.justification.data)
        except NameRefused as refused:
            form.name.errors.append(str(refused))
    if form.errors:
        db.session.rollback()
        return render_page(form, 422)
    db.session.commit()
    flash("Request sent. Your team's admins will approve or deny it; you will get an email either way.")
    return redirect(url_for("key_requests.index"), 303)


@bp.post("/<id:request_id>/reveal")
def reveal(request_id: int):
    """Make the approved request's key and show it this once."""
    key_request = db.first_or_404(select(ApiKeyRequest).where(ApiKeyRequest.id == request_id,
                                                              ApiKeyRequest.requested_by_id == current_user.id))
    try:
        key, plaintext = request_actions.reveal(key_request, current_user)
    except NotRevealable as refused:
        db.session.rollback()
        return render_page(request_form(formdata=None), 409, refusal=str(refused))
    except (NameTaken, PolicyRefused, scope.NotTeamEntity) as refused:  # since the approval: a key named alike, a
        # stricter policy, an entity granted that is gone
        db.session.rollback()
        return render_page(request_form(formdata=None), 409, refusal=f"{refused} {ASK_AGAIN}")
    db.session.commit()
    return render_page(request_form(formdata=None), 201, new_key=key, plaintext=plaintext)

"""Confirm access: the one gate that asks an admin for their password again before a change that mints a key or
widens what keys may do, when they last typed it (at login or here) more than CONFIRM_ACCESS_SECONDS ago.

The gated views are named in CONFIRM_FIRST and nowhere else. The request that meets the gate is answered with the
Confirm access form (to htmx a dialog over the page, else a page) that holds every field the admin sent; sent with
the password, the same request goes on to its view, which checks its CSRF token and its fields as it always does.
Protective changes (delete, stop a rolling key) never ask.
"""

from flask import current_app, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from floqast.auth.access import access_confirmed_recently, confirm_access
from floqast.extensions import db
from floqast.settings import bp
from floqast.settings.routes import team_key_or_404, wants_fragment
from floqast.web.request import same_site_path

# Each gated view (its endpoint), with what it does in the words of Confirm access and the audit trail.
CONFIRM_FIRST = {
    "settings.create_key": "create an API key",
    "settings.roll_key": "roll an API key",
    "settings.regenerate_key": "regenerate an API key",
    "settings.resume_key": "resume a suspended API key",
    "settings.save_allowed_ips": "change a key's allowed addresses",
    "settings.save_limits": "change the entities a key reads or its rate limit",
    "settings.save_key_policy": "change the API key policy",
    "settings.approve_request": "approve a key request",  # its key is minted when the requester reveals it
    # Key events go where the endpoint says, signed with the secret shown.
    "settings.add_webhook": "add a webhook endpoint",
    "settings.roll_webhook_secret": "roll a webhook endpoint's signing secret",
}
# The password's field, sent beside the gated form's own fields (whose names never start with "access_").
PASSWORD_FIELD = "access_password"


class ConfirmAccessForm(FlaskForm):
    # The gated request's own CSRF token is checked before any view (create_app's check_csrf).
    class Meta:
        csrf = False

    access_password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=1024)])


@bp.before_request
def confirm_access_first():
    """Let a gated view run only when access was confirmed lately, or with the admin's password sent alongside."""
    asked_for = CONFIRM_FIRST.get(request.endpoint)
    if asked_for is None or request.method in ("GET", "HEAD") or access_confirmed_recently():
        return None
    if "key_id" in request.view_args:  # another team's key is missing here as in the view
        key = team_key_or_404(request.view_args["key_id"])
        asked_for = f"{asked_for}: “{key.name}” ({key.hint}…)"
    if PASSWORD_FIELD not in request.form:
        return ask(ConfirmAccessForm(formdata=None), asked_for, 403)
    form = ConfirmAccessForm()
    if not form.validate():
        return ask(form, asked_for, 422)
    refused = confirm_access(current_user, form.access_password.data, asked_for)
    db.session.commit()
    if refused is not None:
        form.access_password.errors.append(refused.message)
        return ask(form, asked_for, refused.status)
    return None


def resubmitted_form_id() -> str | None:
    """The id of the form htmx sent (its HX-Source header reads "form#id"), which the dialog sends again."""
    tag, _, element_id = request.headers.get("HX-Source", "").partition("#")
    return element_id if tag == "form" and element_id else None


def ask(form: ConfirmAccessForm, asked_for: str, status: int):
    """The Confirm access form: to htmx a dialog over the page (the gated form stays as it was, to be sent again),
    else a page. Both carry the gated request's fields, so that without JavaScript it is re-posted whole."""
    context = {
        "form": form,
        "asked_for": asked_for,
        "action": request.full_path if request.query_string else request.path,
        "carried": [(name, value) for name, value in request.form.items(multi=True) if name != PASSWORD_FIELD],
        "back": same_site_path(request.args.get("next")) or same_site_path(referrer_path())
        or url_for("settings.api_keys"),
        "confirm_minutes": current_app.config["CONFIRM_ACCESS_SECONDS"] // 60,
    }
    if wants_fragment():
        body = render_template("settings/_confirm_access_dialog.html", resubmit=resubmitted_form_id(), **context)
        return body, status, {"HX-Retarget": "#access-slot", "HX-Reswap": "innerHTML"}
    return render_template("settings/confirm_access.html", **context), status


def referrer_path() -> str | None:
    """The path (and query) of the page the gated form was on, when it is of this site."""
    referrer = request.referrer or ""
    root = request.host_url.rstrip("/")
    return referrer[len(root):] if referrer.startswith(root + "/") else None

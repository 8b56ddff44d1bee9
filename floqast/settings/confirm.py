"""The one confirmation dialog, for every change that asks first: a key's delete, roll, stop a rolling key now,
regenerate an expired key, suspend and resume, and allow only the addresses it was used from; a webhook endpoint's
delete.

Each is asked from the key list or from the key's page: to htmx as a dialog in the page, to a browser without
JavaScript as a page of its own in the settings layout; both hold the same form, and its Cancel and its answer go
back where the admin came from (?next=).
"""

from dataclasses import dataclass

from flask import flash, redirect, render_template, request
from flask_login import current_user

from floqast.extensions import db
from floqast.keys import actions, allowlist, scope
from floqast.keys.actions import CannotRegenerate, CannotRoll, NameRefused, NameTaken, PolicyRefused
from floqast.keys.models import ApiKey, KeyStatus
from floqast.settings import bp, usage
from floqast.settings.formatting import day, exact_time
from floqast.settings.forms import ExpiryForm, RegenerateKeyForm, RollKeyForm, SuspendKeyForm
from floqast.settings.routes import (
    ACTIVITY_CHANGED,
    KeyListing,
    came_from,
    key_list,
    reveal,
    team_key_or_404,
    wants_fragment,
)


@dataclass(frozen=True)
class Confirmation:
    """What a dialog asks: its title, what it says (a template, after the facts of what it changes), where its form
    goes (the endpoint that carries it out, by POST; to htmx by `htmx_method` to `htmx_endpoint`) and its button."""

    title: str
    says: str
    endpoint: str
    submit: str
    danger: bool = False
    htmx_method: str = "post"
    htmx_endpoint: str | None = None
    facts: str = "settings/_key_facts.html"


DELETE = Confirmation("Delete API key", "settings/_confirm_delete.html", "settings.delete_key_form", "Delete key",
                      danger=True, htmx_method="delete", htmx_endpoint="settings.delete_key")
ROLL = Confirmation("Roll API key", "settings/_confirm_roll.html", "settings.roll_key", "Roll key")
STOP = Confirmation("Stop the old key now", "settings/_confirm_stop.html", "settings.stop_key", "Stop old key now",
                    danger=True)
REGENERATE = Confirmation("Regenerate API key", "settings/_confirm_regenerate.html", "settings.regenerate_key",
                          "Regenerate key")
ALLOW_SEEN = Confirmation("Allow only these addresses", "settings/_confirm_allow_seen.html",
                          "settings.save_allowed_ips", "Allow only these addresses")


SUSPEND = Confirmation("Suspend API key", "settings/_confirm_suspend.html", "settings.suspend_key", "Suspend key",
                       danger=True)
RESUME = Confirmation("Resume API key", "settings/_confirm_resume.html", "settings.resume_key", "Resume key")


def render_confirmation(key: ApiKey, confirmation: Confirmation, refusal: str | None,
                        form: ExpiryForm | SuspendKeyForm | None = None,
                        status: int = 200, **extra):
    """A key's dialog (render_dialog), after the key's facts."""
    return render_dialog(confirmation, refusal, {"key_id": key.id}, form, status, key=key, last_use=usage.last_use(key),
                         month_requests=usage.month_requests(key), entity_total=scope.entity_total_for([key]),
                         today=key.team.today(), **extra)


def render_dialog(confirmation: Confirmation, refusal: str | None, url_args: dict, form: ExpiryForm | None = None,
                  status: int = 200, **facts):
    """The dialog (to htmx asking for it), its form alone (to htmx sending it, with its errors), or its page, about
    what `url_args` name in its form's URL and `facts` show. `refusal` says why it cannot be done, in place of its
    button."""
    context = {"confirmation": confirmation, "refusal": refusal, "form": form, "back": came_from(),
               "url_args": url_args, **facts}
    if not wants_fragment():
        return render_template("settings/key_dialog.html", **context), status
    template = "settings/_key_dialog.html" if request.method == "GET" else "settings/_key_dialog_form.html"
    return render_template(template, **context), status


def done(message: str):
    """The answer to a confirmation carried out: back where the admin came from, saying `message`. To htmx on the
    key list, the list as it was (the dialog closed with it); elsewhere (a key's page), that page loaded again."""
    back = came_from()
    listing = KeyListing.at(back)
    if not wants_fragment() or listing is None:
        flash(message)
        if not wants_fragment():
            return redirect(back, 303)
        return "", {"HX-Redirect": back}
    body = render_template("settings/_key_table.html", message=message, **key_list(current_user.team, listing))
    return body + render_template("settings/_dialog_closed.html"), {
        "HX-Retarget": "#key-list", "HX-Reswap": "outerHTML", "HX-Trigger": ACTIVITY_CHANGED}


# ---- delete ----


def delete_refusal(key: ApiKey) -> str | None:
    if key.status(key.team.today()) is KeyStatus.DEACTIVATED:
        return f"“{key.name}” was already deactivated on {day(key.stopped_at, key.team)}."
    return None


@bp.get("/api-keys/<id:key_id>/delete")
def confirm_delete(key_id: int):
    """Ask before deleting a key."""
    key = team_key_or_404(key_id)
    return render_confirmation(key, DELETE, delete_refusal(key))


def deactivation_message(key: ApiKey, deactivated_now: bool) -> str:
    if deactivated_now:
        return f"“{key.name}” was deactivated. Requests with it are refused from now on."
    return delete_refusal(key)


def deactivate(key_id: int):
    """Deactivate the key for the current admin, committed with its audit event, and go back."""
    key = team_key_or_404(key_id)
    deactivated_now = actions.deactivate_key(key, by=current_user)
    db.session.commit()
    return done(deactivation_message(key, deactivated_now))


@bp.post("/api-keys/<id:key_id>/delete")
def delete_key_form(key_id: int):
    """Deactivate a key from its confirmation, then go back where the admin came from."""
    return deactivate(key_id)


@bp.delete("/api-keys/<id:key_id>")
def delete_key(key_id: int):
    """Deactivate a key from its confirmation dialog, then go back where the admin came from."""
    return deactivate(key_id)


# ---- roll ----


def roll_refusal(key: ApiKey) -> str | None:
    """Why the key cannot be rolled, or None when it can: a key is rolled once, while it works."""
    if key.replaced_by is not None:
        return (f"“{key.name}” was already rolled on {day(key.replaced_by.created_at, key.team)} and replaced by "
                f"{key.replaced_by.hint}…. A key can be rolled once: roll its replacement instead.")
    if key.status(key.team.today()) is not KeyStatus.ACTIVE:
        return f"“{key.name}” no longer works, so it cannot be rolled. Create a new key instead."
    return actions.handed_on_name_problem(key)


def replacement_form(form_class, key: ApiKey, **kwargs):
    """A Roll or Regenerate form for `key`, its expiry first set to the key's own lifetime counted from today (as
    far as the team's policy allows)."""
    today = key.team.today()
    return form_class(today=today, policy=key.team.key_policy, suggested=key.replacement_expires_on(today), **kwargs)


@bp.get("/api-keys/<id:key_id>/roll")
def confirm_roll(key_id: int):
    """Ask how long the old key keeps working and when the new one expires."""
    key = team_key_or_404(key_id)
    return render_confirmation(key, ROLL, roll_refusal(key), replacement_form(RollKeyForm, key, formdata=None))


def replace_key(key: ApiKey, confirmation: Confirmation, form: ExpiryForm, refusal, action):
    """Carry out a roll or a regenerate (`action`, given the expiry chosen) and show the new key once; or the form
    again with why not: its errors (422) or, when the key changed meanwhile (perhaps by another admin a moment
    ago), why it can no longer be done (409)."""
    if not form.validate():
        return render_confirmation(key, confirmation, refusal(key), form, 422)
    try:
        replacement, plaintext = action(form.expires_on())
    except (CannotRoll, CannotRegenerate, NameTaken) as stopped:
        db.session.rollback()
        return render_confirmation(key, confirmation, refusal(key) or str(stopped), form, 409)
    except NameRefused as refused:  # a name from before names were checked as they are now
        db.session.rollback()
        return render_confirmation(key, confirmation, str(refused), form, 422)
    except PolicyRefused as refused:  # a stricter policy saved after the form read the team's
        db.session.rollback()
        form.use_policy(key.team.key_policy)
        (form.custom_date if form.expiration.data == "custom" else form.expiration).errors.append(str(refused))
        return render_confirmation(key, confirmation, None, form, 422)
    db.session.commit()
    return reveal(replacement, plaintext, replaced=key)


@bp.post("/api-keys/<id:key_id>/roll")
def roll_key(key_id: int):
    """Replace a key with a new one, shown this once; the old one works on for the overlap chosen."""
    key = team_key_or_404(key_id)
    form = replacement_form(RollKeyForm, key)
    return replace_key(key, ROLL, form, roll_refusal,
                       lambda expires_on: actions.roll_key(key, current_user, form.overlap_time(), expires_on))


# ---- stop a rolling key now ----


def stop_refusal(key: ApiKey) -> str | None:
    if not key.rolling:
        return f"“{key.name}” ({key.hint}…) is not working beside a replacement any more: there is nothing to stop."
    return None


@bp.get("/api-keys/<id:key_id>/stop")
def confirm_stop(key_id: int):
    """Ask before stopping a rolled key before its overlap ends."""
    key = team_key_or_404(key_id)
    return render_confirmation(key, STOP, stop_refusal(key))


@bp.post("/api-keys/<id:key_id>/stop")
def stop_key(key_id: int):
    """Stop a rolled key now rather than at the end of its overlap, then go back where the admin came from."""
    key = team_key_or_404(key_id)
    if key.replaced_by is None:
        return render_confirmation(key, STOP, stop_refusal(key), status=409)
    stopped_now = actions.end_overlap(key, by=current_user)
    db.session.commit()
    if stopped_now:
        return done(f"The old key “{key.name}” ({key.hint}…) was stopped. Requests with it are refused from now on; "
                    f"its replacement {key.replaced_by.hint}… works on.")
    return done(f"The old key “{key.name}” ({key.hint}…) had already stopped, "
                f"at {exact_time(key.stopped_at, key.team)}.")


# ---- regenerate an expired key ----


def regenerate_refusal(key: ApiKey) -> str | None:
    """Why the key cannot be regenerated, or None when it can: an expired key, once."""
    if key.replaced_by is not None:
        return f"“{key.name}” was already replaced by {key.replaced_by.hint}…."
    if key.status(key.team.today()) is not KeyStatus.EXPIRED:
        return f"Only an expired key can be regenerated, and “{key.name}” is {key.status(key.team.today()).label}."
    return actions.handed_on_name_problem(key)


@bp.get("/api-keys/<id:key_id>/regenerate")
def confirm_regenerate(key_id: int):
    """Ask when the expired key's replacement expires."""
    key = team_key_or_404(key_id)
    return render_confirmation(key, REGENERATE, regenerate_refusal(key),
                               replacement_form(RegenerateKeyForm, key, formdata=None))


@bp.post("/api-keys/<id:key_id>/regenerate")
def regenerate_key(key_id: int):
    """Replace an expired key with a new one that keeps everything but its secret and expiry, shown this once."""
    key = team_key_or_404(key_id)
    return replace_key(key, REGENERATE, replacement_form(RegenerateKeyForm, key), regenerate_refusal,
                       lambda expires_on: actions.regenerate_key(key, current_user, expires_on))


# ---- suspend and resume ----


def suspend_refusal(key: ApiKey) -> str | None:
    """Why the key cannot be suspended, or None when it can: a key that works."""
    status = key.status(key.team.today())
    if status is KeyStatus.SUSPENDED:
        return f"“{key.name}” was already suspended on {day(key.suspended_at, key.team)}."
    if status is not KeyStatus.ACTIVE:
        return f"“{key.name}” no longer works, so there is nothing to suspend: it is {status.label}."
    return None


@bp.get("/api-keys/<id:key_id>/suspend")
def confirm_suspend(key_id: int):
    """Ask why the key is suspended before refusing its requests."""
    key = team_key_or_404(key_id)
    return render_confirmation(key, SUSPEND, suspend_refusal(key), SuspendKeyForm(formdata=None))


@bp.post("/api-keys/<id:key_id>/suspend")
def suspend_key(key_id: int):
    """Suspend a key for the reason given, then go back where the admin came from; or the form again with why not."""
    key = team_key_or_404(key_id)
    form = SuspendKeyForm()
    if not form.validate():
        return render_confirmation(key, SUSPEND, suspend_refusal(key), form, 422)
    if not actions.suspend_key(key, current_user, form.reason.data):
        db.session.rollback()
        return render_confirmation(key, SUSPEND, suspend_refusal(key), form, 409)
    db.session.commit()
    return done(f"“{key.name}” was suspended. Requests with it are refused, with your reason, until it is resumed.")


def resume_refusal(key: ApiKey) -> str | None:
    """Why the key cannot be resumed, or None when it can: a suspended key."""
    status = key.status(key.team.today())
    if status is not KeyStatus.SUSPENDED:
        return f"“{key.name}” is not suspended: it is {status.label}."
    return None


@bp.get("/api-keys/<id:key_id>/resume")
def confirm_resume(key_id: int):
    """Ask before letting a suspended key work again."""
    key = team_key_or_404(key_id)
    return render_confirmation(key, RESUME, resume_refusal(key))


@bp.post("/api-keys/<id:key_id>/resume")
def resume_key(key_id: int):
    """Let a suspended key work again, then go back where the admin came from."""
    key = team_key_or_404(key_id)
    if not actions.resume_key(key, current_user):
        db.session.rollback()
        return render_confirmation(key, RESUME, resume_refusal(key), status=409)
    db.session.commit()
    if key.status(key.team.today()) is KeyStatus.EXPIRED:
        return done(f"“{key.name}” was resumed, but it expired on {day(key.expires_on)}: regenerate it to use it "
                    "again.")
    return done(f"“{key.name}” was resumed. Requests with it work again.")


# ---- allow only the addresses a key was used from ----


def seen_addresses(key: ApiKey) -> list[str]:
    """The addresses the key was accepted from in the last 30 days, the latest first."""
    return [address.ip for address in usage.key_addresses(key) if address.accepted and address.ip]


def allow_seen_refusal(key: ApiKey, seen: list[str]) -> str | None:
    if key.status(key.team.today()) is not KeyStatus.ACTIVE:
        return f"“{key.name}” no longer works, so its allowed addresses can no longer be changed."
    if not seen:
        return "The key was not used from any address in the last 30 days: there is nothing to allow."
    if len(seen) > allowlist.MAX_ENTRIES:
        return (f"The key was used from {len(seen)} addresses, more than the {allowlist.MAX_ENTRIES} a key may "
                "allow: enter ranges that hold them under Where it works from instead.")
    return None


@bp.get("/api-keys/<id:key_id>/allow-seen")
def confirm_allow_seen(key_id: int):
    """Ask before making the addresses the key was used from its only allowed ones (saved by save_allowed_ips)."""
    key = team_key_or_404(key_id)
    seen = seen_addresses(key)
    return render_confirmation(key, ALLOW_SEEN, allow_seen_refusal(key, seen), seen=seen)

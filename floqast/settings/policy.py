"""The API key policy page: whether the team's keys must expire and how long they may live."""

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField
from wtforms.fields.choices import SelectChoice

from floqast.extensions import db
from floqast.keys import actions
from floqast.keys.policy import LIFETIMES, KeyPolicy
from floqast.settings import bp
from floqast.settings.routes import wants_fragment

NO_LIMIT = "none"


class KeyPolicyForm(FlaskForm):
    require_expiration = BooleanField("Require an expiration date")
    max_lifetime = SelectField(
        "Longest allowed lifetime",
        choices=[SelectChoice(NO_LIMIT, "No limit")] + [SelectChoice(str(days), f"{days} days") for days in LIFETIMES],
    )

    @classmethod
    def showing(cls, policy: KeyPolicy) -> "KeyPolicyForm":
        """The form filled in with the policy as it is, whatever was sent."""
        lifetime = NO_LIMIT if policy.max_lifetime_days is None else str(policy.max_lifetime_days)
        return cls(formdata=None, require_expiration=policy.require_expiration, max_lifetime=lifetime)

    def policy(self) -> KeyPolicy:
        days = None if self.max_lifetime.data == NO_LIMIT else int(self.max_lifetime.data)
        return KeyPolicy(self.require_expiration.data, days)


def render_policy(form: KeyPolicyForm, status: int = 200, message: str | None = None):
    """The page, or to htmx only its form, which is its own target."""
    template = "settings/_key_policy_form.html" if wants_fragment() else "settings/key_policy.html"
    return render_template(template, form=form, message=message), status


@bp.get("/api-key-policy")
def key_policy():
    """The team's API key policy, ready to change."""
    return render_policy(KeyPolicyForm.showing(current_user.team.key_policy))


@bp.post("/api-key-policy")
def save_key_policy():
    """Save the policy with its audit event; without JavaScript, back to the page with a message."""
    form = KeyPolicyForm()
    if not form.validate():
        return render_policy(form, 422)
    policy = form.policy()
    if actions.change_key_policy(current_user, policy):
        db.session.commit()
        message = "The API key policy was saved. It applies to keys created from now on."
    else:
        message = "The policy is unchanged."
    if wants_fragment():
        return render_policy(KeyPolicyForm.showing(policy), message=message)
    flash(message)
    return redirect(url_for("settings.key_policy"))

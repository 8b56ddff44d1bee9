"""The Webhooks page: the team's endpoints, each with its recent deliveries, added with a signing secret shown once,
sent a test event, disabled, enabled, deleted (through the one confirmation dialog) and given a new secret."""

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, ValidationError

from floqast.events import KeyEvent
from floqast.extensions import db
from floqast.settings import bp
from floqast.settings.confirm import Confirmation, done, render_dialog
from floqast.settings.forms import CheckboxesField, description_field
from floqast.webhooks import actions, delivery
from floqast.webhooks.addresses import TargetRefused, check_url
from floqast.webhooks.models import WebhookEndpoint

# What each event means, as the add form lists them.
EVENT_LABELS = {
    KeyEvent.KEY_CREATED: "A key was created",
    KeyEvent.KEY_ROLLED: "A key was rolled",
    KeyEvent.KEY_DELETED: "A key was deleted",
    KeyEvent.KEY_EXPIRING: "A key expires within 7 days, and within a day",
    KeyEvent.KEY_EXPIRED: "A key has expired",
    KeyEvent.KEY_REVOKED: "A key was revoked as leaked",
    KeyEvent.KEY_EXPOSED: "A key was seen in a URL",
    KeyEvent.KEY_SUSPENDED: "A key was suspended",
    KeyEvent.KEY_RESUMED: "A key was resumed",
    KeyEvent.REQUEST_CREATED: "Someone requested a key",
    KeyEvent.REQUEST_APPROVED: "A key request was approved",
    KeyEvent.REQUEST_DENIED: "A key request was denied",
}
DELETE = Confirmation("Delete webhook endpoint", "settings/_confirm_delete_webhook.html", "settings.delete_webhook",
                      "Delete endpoint", danger=True, facts="settings/_webhook_facts.html")


class WebhookForm(FlaskForm):
    url = StringField("Endpoint URL", validators=[DataRequired("Enter the URL to send events to.")])
    description = description_field()
    events = CheckboxesField(
        "Events to send", choices=[SelectChoice(event.value, f"{event.value}: {label}")
                                   for event, label in EVENT_LABELS.items()],
        validators=[DataRequired("Select at least one event.")],
    )

    def validate_url(self, field):
        field.data = field.data.strip()
        try:
            check_url(field.data, current_app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"])
        except TargetRefused as refused:
            raise ValidationError(str(refused)) from None


def team_endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    """One of the current team's endpoints that was not deleted; any other is as missing as one that never was."""
    return db.first_or_404(select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.team_id == current_user.team_id,
        WebhookEndpoint.deleted_at.is_(None)))


def render_page(form: WebhookForm | None = None, status: int = 200, **extra):
    endpoints = db.session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.team_id == current_user.team_id, WebhookEndpoint.deleted_at.is_(None))
        .order_by(WebhookEndpoint.id))
    form = form or WebhookForm(formdata=None, events=[event.value for event in KeyEvent])
    return render_template("settings/webhooks.html", endpoints=list(endpoints), form=form, team=current_user.team,
                           **extra), status


def back_to_page(message: str):
    flash(message)
    return redirect(url_for("settings.webhooks"), 303)


@bp.get("/webhooks")
def webhooks():
    """The team's webhook endpoints with their recent deliveries, and the form to add one."""
    return render_page()


@bp.post("/webhooks")
def add_webhook():
    """Add an endpoint and show its signing secret this once (errors next to their fields, what was typed kept)."""
    form = WebhookForm()
    if not form.validate():
        return render_page(form, 422, form_open=True)
    endpoint, secret = actions.add_endpoint(current_user, form.url.data, form.events.data, form.description.data)
    db.session.commit()
    return render_page(status=201, secret=secret, secret_endpoint=endpoint)


@bp.post("/webhooks/<id:endpoint_id>/test")
def test_webhook(endpoint_id: int):
    """Send the endpoint a test event now, and say how it went (a failed one is retried like any other)."""
    endpoint = team_endpoint_or_404(endpoint_id)
    if not endpoint.enabled:
        return back_to_page(f"{endpoint.url} is disabled: enable it to send it a test event.")
    message = actions.send_test(endpoint, current_user)
    db.session.commit()
    tried = delivery.attempt(message)
    db.session.commit()
    if tried.succeeded:
        return back_to_page(f"Test event delivered to {endpoint.url}: it answered {tried.status_code}.")
    answer = f"it answered {tried.status_code}" if tried.status_code else tried.answer
    return back_to_page(f"The test event did not reach {endpoint.url}: {answer}. It is tried again later.")


@bp.post("/webhooks/<id:endpoint_id>/disable")
def disable_webhook(endpoint_id: int):
    """Stop sending to the endpoint."""
    endpoint = team_endpoint_or_404(endpoint_id)
    changed = actions.disable(endpoint, current_user)
    db.session.commit()
    return back_to_page(f"{endpoint.url} was disabled: events wait for it for up to a day." if changed
                        else f"{endpoint.url} was already disabled.")


@bp.post("/webhooks/<id:endpoint_id>/enable")
def enable_webhook(endpoint_id: int):
    """Send to the endpoint again, with the events of the last day it missed."""
    endpoint = team_endpoint_or_404(endpoint_id)
    changed = actions.enable(endpoint, current_user)
    db.session.commit()
    return back_to_page(f"{endpoint.url} was enabled: the events of the last day it missed are sent next." if changed
                        else f"{endpoint.url} was already enabled.")


@bp.post("/webhooks/<id:endpoint_id>/roll-secret")
def roll_webhook_secret(endpoint_id: int):
    """Give the endpoint a new signing secret, shown this once; the previous one signs too for a day."""
    endpoint = team_endpoint_or_404(endpoint_id)
    secret = actions.roll_secret(endpoint, current_user)
    db.session.commit()
    return render_page(secret=secret, secret_endpoint=endpoint, rolled=True)


@bp.get("/webhooks/<id:endpoint_id>/delete")
def confirm_delete_webhook(endpoint_id: int):
    """Ask before deleting an endpoint."""
    endpoint = team_endpoint_or_404(endpoint_id)
    return render_dialog(DELETE, None, {"endpoint_id": endpoint.id}, endpoint=endpoint)


@bp.post("/webhooks/<id:endpoint_id>/delete")
def delete_webhook(endpoint_id: int):
    """Delete an endpoint from its confirmation, then go back to the Webhooks page."""
    endpoint = team_endpoint_or_404(endpoint_id)
    actions.delete(endpoint, current_user)
    db.session.commit()
    return done(f"{endpoint.url} was deleted: nothing more is sent to it.")

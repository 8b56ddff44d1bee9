"""The landing page after login."""

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    """Admins of a team with Open API go straight to their API keys; everyone else gets a home page."""
    if current_user.is_admin and current_user.team.open_api_enabled:
        return redirect(url_for("settings.api_keys"))
    return render_template("home.html")

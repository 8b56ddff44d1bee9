"""Admin Settings: the API Keys tab, gated as a whole to admins of teams with Open API on."""

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from floqast.accounts.models import Role, User
from floqast.extensions import db

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.before_request
def admins_of_open_api_teams_only():
    """Every view here: log in first, be an Admin or System Admin, and have Open API on."""
    if not current_user.is_authenticated:
        # Come back here after login (GETs only); full_path ends in a bare "?" when there is no query.
        here = request.full_path if request.query_string else request.path
        login_url = url_for("auth.login", next=here if request.method == "GET" else None)
        if request.is_htmx:
            return "", 401, {"HX-Redirect": login_url}
        return redirect(login_url)
    if not current_user.is_admin:
        return admins_only()
    if not current_user.team.open_api_enabled:
        abort(404)


def admins_only():
    """403 for the other roles: a page in the app's layout naming the team's Admins and System Admins to ask."""
    admins = db.session.scalars(select(User).where(User.team_id == current_user.team_id,
                                                   User.role.in_((Role.ADMIN, Role.SYSADMIN))).order_by(User.name))
    return render_template("settings/admins_only.html", admins=list(admins)), 403


@bp.after_request
def private_and_uncached(response):
    # Pages here may carry a freshly created key; no cache and no back-forward copy may keep one.
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response


# access first: its gate runs after the admins-only check above and before any view.
from floqast.settings import access, confirm, docs, formatting, policy, routes  # noqa: E402,F401  (they register on bp)

"""Request an API key: the page where Managers and Users of a team with Open API on ask for a key, follow their
requests, and reveal an approved key once; gated as a whole."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

bp = Blueprint("key_requests", __name__, url_prefix="/key-requests")


@bp.before_request
def requesters_of_open_api_teams_only():
    """Every view here: log in first, have Open API on, and not be an admin (admins create keys and decide requests
    in Admin Settings)."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path if request.method == "GET" else None))
    if not current_user.team.open_api_enabled:
        abort(404)
    if current_user.is_admin:
        return redirect(url_for("settings.requests_page"))


@bp.after_request
def private_and_uncached(response):
    # The page may carry a key revealed this once; no cache and no back-forward copy may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


from floqast.key_requests import routes  # noqa: E402,F401  (it registers on bp)

"""Error responses: JSON in the API's shape for API clients, an HTML page for browsers."""

from flask import current_app, g, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from floqast.extensions import db
from floqast.web.json_errors import error_response

DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = "We can't reach the database right now. Nothing you did caused this; try again in a moment."


def handle_http_error(error: HTTPException):
    """Answer an HTTP error in the form the client reads."""
    if request.is_api:
        return error_response(error.code, error.name, error.description, error.get_headers())
    return render_template("errors/error.html", error=error), error.code


def handle_database_unavailable(error: Exception):
    """The database is down, restarting or out of connections: 503 with Retry-After, never a 500.

    Nothing is kept from the failed attempt: the session is dropped, SQLAlchemy drops the pool's connections after
    a lost one, and floqast/pool.py pings idle ones, so the next request after the database is back simply works,
    without a restart.
    """
    current_app.logger.warning("database unavailable: %s", type(getattr(error, "orig", None) or error).__name__)
    try:
        db.session.remove()
    except Exception:  # the connection is gone; there is nothing left to roll back
        current_app.logger.debug("session removal after a database error failed", exc_info=True)
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    if request.is_api:
        return error_response(503, "Service Unavailable", DATABASE_UNAVAILABLE, headers)
    # Flask-Login's template context loads the signed-in user, from the database: render as nobody instead.
    g._login_user = current_app.login_manager.anonymous_user()
    if request.is_htmx:
        # htmx swaps error responses into the element that asked: put the message where messages go instead.
        body = render_template("errors/_database_unavailable.html", message=DATABASE_UNAVAILABLE)
        return body, 503, {**headers, "HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    return render_template("errors/database_unavailable.html", message=DATABASE_UNAVAILABLE), 503, headers


def init_app(app) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    # Connection refused or lost (OperationalError, InterfaceError from the driver), or no pooled
    # connection free in time (the pool's TimeoutError).
    for error in (OperationalError, InterfaceError, PoolTimeoutError):
        app.register_error_handler(error, handle_database_unavailable)

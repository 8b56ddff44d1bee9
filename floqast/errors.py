"""Error responses: JSON in the API's shape for API clients, an HTML page for browsers."""

from flask import render_template, request
from werkzeug.exceptions import HTTPException

from floqast import API_PREFIX
from floqast.api.errors import error_response


def handle_http_error(error: HTTPException):
    """Answer an HTTP error in the form the client reads."""
    if request.path.startswith(API_PREFIX):
        return error_response(error.code, error.name, error.description, error.get_headers())
    return render_template("errors/error.html", error=error), error.code


def init_app(app) -> None:
    app.register_error_handler(HTTPException, handle_http_error)

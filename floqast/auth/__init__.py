"""Logging in and out with an email and a password."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from floqast.auth import routes  # noqa: E402,F401  (registers views on bp)

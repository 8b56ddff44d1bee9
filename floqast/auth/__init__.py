"""Logging in and out with an email and a password."""

from flask import Blueprint
from flask_login import LoginManager

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

from floqast.auth import routes  # noqa: E402,F401  (registers views on bp)

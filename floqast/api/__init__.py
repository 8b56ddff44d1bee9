"""The key-authenticated /api/v1 blueprint: every route needs a valid key."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from floqast.api import auth, errors, openapi, routes  # noqa: E402,F401  (they register on bp)

"""The key-authenticated /api/v1 blueprint: every route needs a valid key, except the few auth.PUBLIC_ENDPOINTS."""

from flask import Blueprint, request

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# What an answer depends on besides its URL: the key (x-api-key is no credential to a shared cache, so it
# must be named) and the format asked for.
VARY = ("x-api-key", "Authorization", "Accept")
VARY_HEADER = ", ".join(VARY)


@bp.after_app_request
def never_stored(response):
    """Every /api/ answer, errors from outside the blueprint's routes (404, 405, 429) included: no cache
    keeps one, so one client's records never reach another."""
    if request.is_api:
        response.headers["Cache-Control"] = "no-store"
        if "Vary" in response.headers:
            response.vary.update(VARY)
        else:
            response.headers["Vary"] = VARY_HEADER  # as vary.update writes it, without parsing a header not there
    return response


from floqast.api import audit_trail, auth, errors, inventory, leaks, lists, openapi, roll, routes  # noqa: E402,F401  (they register on bp)

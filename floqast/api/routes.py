"""The /api/v1 routes."""

from flask import g

from floqast.analytics.export import respond
from floqast.analytics.params import BadParameter
from floqast.analytics.records import DATASETS, iso_utc
from floqast.api import bp
from floqast.api.auth import requires_service
from floqast.api.errors import error_response
from floqast.models import Service


@bp.get("/me")
def me():
    """The key making the request."""
    key = g.api_key
    return {
        "data": {
            "apiKeyId": str(key.id),
            "userId": str(key.created_by_id),
            "name": key.name,
            "teamId": str(key.team_id),
            "services": key.services,
            "expiresAt": iso_utc(key.expires_at),
        }
    }


@bp.get("/analytics/reconciliations")
@requires_service(Service.RECONCILIATIONS)
def reconciliations():
    """Reconciliation Analytics records: a JSON page, or all of them as CSV."""
    return respond(DATASETS[Service.RECONCILIATIONS], g.api_key.team)


@bp.get("/analytics/checklists")
@requires_service(Service.CHECKLISTS)
def checklists():
    """Checklist Analytics records: a JSON page, or all of them as CSV."""
    return respond(DATASETS[Service.CHECKLISTS], g.api_key.team)


@bp.errorhandler(BadParameter)
def bad_parameter(error: BadParameter):
    return error_response(400, "Bad Request", str(error))

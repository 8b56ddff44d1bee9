"""The /api/v1 routes."""

from datetime import datetime

from flask import g, request

from floqast.api import bp
from floqast.api.auth import requires_service
from floqast.models import Service


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@bp.get("/me")
def me():
    """The key making the request."""
    key = g.api_key
    return {
        "data": {
            "apiKeyId": str(key.id),
            "name": key.name,
            "teamId": str(key.team_id),
            "services": key.services,
            "expiresAt": iso_utc(key.expires_at),
        }
    }


@bp.get("/analytics/reconciliations")
@requires_service(Service.RECONCILIATIONS)
def reconciliations():
    """Reconciliation Analytics records."""
    return {"data": [], "links": {"self": request.full_path}}


@bp.get("/analytics/checklists")
@requires_service(Service.CHECKLISTS)
def checklists():
    """Checklist Analytics records."""
    return {"data": [], "links": {"self": request.full_path}}

"""The /api/v1 routes."""

from functools import partial

from flask import request

from floqast.analytics.records import DATASETS, iso_utc
from floqast.api import bp
from floqast.api.auth import requires_service
from floqast.api.export import checked_query, respond
from floqast.api.lists import allows_redirect
from floqast.api.params import BadParameter
from floqast.api.pulls import CSV, JSON, Pull
from floqast.keys.models import Service
from floqast.web.json_errors import error_response

RECONCILIATIONS, CHECKLISTS = DATASETS[Service.RECONCILIATIONS], DATASETS[Service.CHECKLISTS]


@bp.get("/me")
def me():
    """The key making the request."""
    key = request.context.key
    return {
        "data": {
            "apiKeyId": str(key.id),
            "userId": str(key.created_by_id),
            "name": key.name,
            "teamId": str(key.team_id),
            "services": key.services,
            "expiresAt": iso_utc(key.expires_at),
            "entityIds": key.shown_entity_ids,
            "rateLimitPerMinute": key.rate_limit_per_minute,
        }
    }


@bp.get("/analytics/reconciliations")
@requires_service(Service.RECONCILIATIONS)
@allows_redirect(partial(checked_query, RECONCILIATIONS), formats=(JSON, CSV))
def reconciliations(pull: Pull):
    """Reconciliation Analytics records: a JSON page, or all of them as CSV."""
    return respond(RECONCILIATIONS, pull)


@bp.get("/analytics/checklists")
@requires_service(Service.CHECKLISTS)
@allows_redirect(partial(checked_query, CHECKLISTS), formats=(JSON, CSV))
def checklists(pull: Pull):
    """Checklist Analytics records: a JSON page, or all of them as CSV."""
    return respond(CHECKLISTS, pull)


@bp.errorhandler(BadParameter)
def bad_parameter(error: BadParameter):
    return error_response(400, "Bad Request", str(error))

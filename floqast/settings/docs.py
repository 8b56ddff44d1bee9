"""The API documentation page: ready curl commands and the fields of each record."""

from flask import current_app, render_template, request

from floqast.analytics.records import DATASETS
from floqast.settings import bp


@bp.get("/api-docs")
def api_docs():
    """How to pull both services with curl, as JSON and as CSV, and what each record holds."""
    return render_template(
        "settings/api_docs.html",
        api_root=request.host_url.rstrip("/") + "/api/v1",
        datasets=DATASETS.values(),
        api_rate_limit=current_app.config["API_RATE_LIMIT"],
    )

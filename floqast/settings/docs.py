"""The API documentation page: ready curl commands and the fields of each record."""

from datetime import date

from flask import current_app, render_template, request
from flask_login import current_user

from floqast.analytics.periods import last_closed_month
from floqast.analytics.records import DATASETS
from floqast.api import params
from floqast.api.leaks import MAX_CREDENTIALS
from floqast.settings import bp


@bp.get("/api-docs")
def api_docs():
    """How to pull both services with curl, as JSON and as CSV, what each record holds, and how to report a leaked
    key."""
    # The examples ask for the month the team closed last, so that a pasted command shows real records.
    example_month = date(*last_closed_month(current_user.team.today()), 1)
    site_root = request.host_url.rstrip("/")
    return render_template(
        "settings/api_docs.html",
        site_root=site_root,
        api_root=site_root + "/api/v1",
        datasets=DATASETS.values(),
        api_rate_limit=current_app.config["API_RATE_LIMIT"],
        revoke_rate_limit=current_app.config["REVOKE_RATE_LIMIT"],
        max_credentials=MAX_CREDENTIALS,
        example_month=example_month,
        team_today=current_user.team.today(),
        default_page_size=params.DEFAULT_PAGE_SIZE,
        max_page_size=params.MAX_PAGE_SIZE,
        download_seconds=current_app.config["DOWNLOAD_URL_SECONDS"],
    )

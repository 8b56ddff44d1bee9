"""GET /healthz: the process answers, without touching the database (for load balancers and benchmarks)."""

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The app is up."""
    return {"status": "ok"}

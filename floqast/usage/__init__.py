"""The API request log: every /api/ request whose team is known (accepted, or refused with a key of the team),
read back by GET /api/v1/audit-trail and the Activity page, and counted per key and day for the Usage chart.

Captured on each request (capture), held by each worker and written in batches (buffer, batch); on PostgreSQL the
table is range-partitioned by month on created_at (partitions), so that `flask --app wsgi api-log prune` (prune)
drops whole months; on SQLite it is a plain table.
"""

from floqast.usage import buffer, capture


def init_app(app) -> None:
    """Give the app its request log and, unless REQUEST_LOG_ENABLED is off, log its API requests into it."""
    app.extensions["request_log"] = buffer.RequestLog(app)
    buffer.hook_into_process()
    if app.config["REQUEST_LOG_ENABLED"]:
        app.after_request(capture.log_api_request)

"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app` (command-line flags override them)."""

import os

from floqast.config import read_settings
from floqast.ratelimit.limits import MAX_HEADER_BYTES, counted_per_worker
from floqast.usage import buffer

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))

# The app refuses over-long URLs (414) and headers (431) itself, as JSON on the API and with its security
# headers. gunicorn's defaults (4094-byte request line, 8190-byte header) would answer first, in plain HTML,
# so its limits sit above the app's: the request line at gunicorn's ceiling (8190, twice the app's 4096),
# one header at twice the app's total. The app counts header bytes, not headers; no client sends near 100.
limit_request_line = 8190
limit_request_field_size = 2 * MAX_HEADER_BYTES
limit_request_fields = 100


def on_starting(server):
    """Warn when each worker would count rate limits on its own: every limit would let their number times through."""
    count, storage = server.cfg.workers, read_settings(os.environ, {})["RATELIMIT_STORAGE_URI"]
    if count > 1 and counted_per_worker(storage):
        server.log.warning(
            "Rate limits are counted in each worker's memory (RATELIMIT_STORAGE_URI=%s): with %d workers, every limit "
            "lets up to %d times its number through. Set RATELIMIT_STORAGE_URI=redis://host:6379 so that the workers "
            "share one count.", storage, count, count)


def worker_exit(server, worker):
    """Write the API request log rows this worker still holds before it goes."""
    buffer.flush_all()

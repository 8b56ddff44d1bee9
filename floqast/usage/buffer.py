"""Each worker's requests not yet written, and when they are: in one batch once REQUEST_LOG_BATCH_ROWS have
gathered or the oldest is REQUEST_LOG_FLUSH_SECONDS old (a daemon thread flushes an idle worker), and at the
worker's exit.

What a worker holds is lost if it is killed (at most one batch, or one second of requests), and a batch is
dropped, with a warning, when the database refuses it: the request it logs has been answered already and never
fails for it.
"""

import atexit
import functools
import logging
import os
import threading
import time
import weakref

from flask import current_app

from floqast.extensions import db
from floqast.usage.batch import write_batch

logger = logging.getLogger(__name__)
# Patched by tests to move time; monotonic, so that a clock step never holds rows back or flushes early.
clock = time.monotonic

_LOGS: "weakref.WeakSet[RequestLog]" = weakref.WeakSet()


class RequestLog:
    """This worker's rows not yet written, and the writing of them in batches."""

    def __init__(self, app):
        self.app = app
        self.batch_rows = app.config["REQUEST_LOG_BATCH_ROWS"]
        self.flush_seconds = app.config["REQUEST_LOG_FLUSH_SECONDS"]
        self.background = app.config["REQUEST_LOG_BACKGROUND_FLUSH"]
        self.forget_rows()
        _LOGS.add(self)

    def forget_rows(self) -> None:
        """Start empty, with a lock and no flusher thread of our own (also in a forked child: the parent's
        rows are the parent's to write, and its thread did not come along)."""
        self.lock = threading.Lock()
        self.rows: list[tuple] = []  # Captured requests
        self.oldest = 0.0
        self.flusher: threading.Thread | None = None

    def add(self, captured: tuple) -> None:
        """Keep a Captured request; write the batch when it is full or its oldest has waited long enough."""
        with self.lock:
            rows = self.rows
            rows.append(captured)
            now = clock()
            if len(rows) == 1:
                self.oldest = now
                if self.background and self.flusher is None:
                    self.flusher = threading.Thread(target=self.flush_when_idle, name="request-log", daemon=True)
                    self.flusher.start()
            due = len(rows) >= self.batch_rows or now - self.oldest >= self.flush_seconds
        if due:
            self.flush()

    def flush_if_due(self) -> int:
        """Write the rows if the oldest has waited FLUSH_SECONDS; how many."""
        with self.lock:
            due = bool(self.rows) and clock() - self.oldest >= self.flush_seconds
        return self.flush() if due else 0

    def flush_when_idle(self) -> None:
        """The daemon thread: write rows that have waited FLUSH_SECONDS when no request came to do it."""
        while True:
            time.sleep(self.flush_seconds / 4)
            self.flush_if_due()

    def take(self) -> list[tuple]:
        with self.lock:
            rows, self.rows = self.rows, []
            return rows

    def flush(self) -> int:
        """Write the buffered requests in one transaction; how many. A failure drops the batch, with a warning."""
        captured = self.take()
        if not captured:
            return 0
        try:
            with self.app.app_context(), db.engine.begin() as connection:
                written = write_batch(connection, captured, self.app.view_functions)
        except Exception:  # noqa: BLE001  (the requests were answered; a log outage must not fail anything)
            logger.warning("API request log: %d rows not written", len(captured), exc_info=True)
            return 0
        return written


def flush_all() -> None:
    """Write what every request log of this process holds (at exit: gunicorn's worker_exit, atexit)."""
    for log in list(_LOGS):
        log.flush()


def flush_own() -> None:
    """Write this worker's rows before reading the log, so that a client sees its own requests at once."""
    log = current_app.extensions.get("request_log")
    if log is not None:
        log.flush()


def _forget_parents_rows() -> None:
    for log in list(_LOGS):
        log.forget_rows()


@functools.cache
def hook_into_process() -> None:
    """Once per process: a forked worker starts empty, and what the process holds is written at its exit."""
    os.register_at_fork(after_in_child=_forget_parents_rows)
    atexit.register(flush_all)

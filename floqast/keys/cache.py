"""Keys this worker checked lately, kept between its pulls while nothing a key check reads has changed anywhere.

Reading its key is most of what a keyed pull costs beyond an unkeyed request in production: a round trip to
PostgreSQL and the database's own work (README's benchmark, rows 1 and 9). A kept key saves both and stays safe to
use through a change mark, a token written anew after every commit that changes a model declaring that it affects
key checks (floqast/keys/changes.py: a key, its team; all but a key's Last used and its exposure in a URL). The mark
is in Redis when the rate limits are (every host's workers read the same one, and a pull's count checks it in its
own round trip), or in a file beside the SQLite database (one host). A kept key is used only while the mark is the
one read before it was loaded: a delete, a roll, a leak report or a team's change stops every worker's copy once its
commit's mark is written. A mark that cannot be read means nothing is kept or used; a mark missing from Redis (lost
in a flush or a failover, perhaps with the change that wrote it) means every kept key is read again. PostgreSQL
without Redis keeps nothing: other hosts' commits would not reach this host's mark.

Kept keys are also read again after KEY_CACHE_SECONDS whatever the mark says: the bound on what a lost mark can cost
(a process killed between its commit and its mark, or Redis unreachable for that one write, which is logged).
"""

import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import NamedTuple

from limits.storage import RedisStorage
from sqlalchemy import make_url

from floqast.extensions import limiter
from floqast.keys import changes, lookup

logger = logging.getLogger(__name__)
# Patched by tests to move time.
clock = time.monotonic


class FileMark:
    """The change mark in a file, read and written in one system call each: one host's workers. A kept key is
    confirmed by reading it."""

    SIZE = 32
    key = None  # read on its own, not with a pull's rate-limit count

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.fd: int | None = None

    def descriptor(self) -> int:
        if self.fd is None:
            with self.lock:
                if self.fd is None:
                    self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self.fd

    def read(self) -> bytes | None:
        try:
            return os.pread(self.descriptor(), self.SIZE, 0)
        except OSError:
            logger.warning("key change mark unreadable: keys are read from the database", exc_info=True)
            return None

    def write(self) -> None:
        os.pwrite(self.descriptor(), secrets.token_hex(self.SIZE // 2).encode(), 0)


class RedisMark:
    """The change mark in Redis, beside the rate limits' counts: every host's workers. A kept key is confirmed in the
    pull's count, which counts only while the mark is unchanged (floqast/ratelimit/limits.py):
    it costs a pull nothing."""

    def __init__(self, storage: RedisStorage, namespace: str):
        self.storage = storage
        self.key = f"{namespace}:key-changes"

    def read(self) -> bytes | None:
        """The mark, made now if there is none (no change yet, or Redis lost it in a flush or a failover): a key is
        kept only under a mark that a change replaces, never under its absence, which a lost change leaves too."""
        try:
            connection = self.storage.get_connection()
            mark = connection.get(self.key)
            if mark is None:
                connection.set(self.key, secrets.token_hex(16), nx=True)
                mark = connection.get(self.key)  # None if lost again in between: nothing is kept
            return mark
        except Exception:  # noqa: BLE001  (Redis unreachable: nothing kept is used, pulls read the database)
            logger.warning("key change mark unreadable: keys are read from the database", exc_info=True)
            return None

    def write(self) -> None:
        self.storage.get_connection().set(self.key, secrets.token_hex(16))


class Kept(NamedTuple):
    key: lookup.CheckedKey
    mark: bytes
    until: float


class KeyCache:
    """This worker's kept keys by digest, each with the mark read before it was, for at most `seconds`."""

    def __init__(self, mark: FileMark | RedisMark | None, seconds: float, size: int):
        self.mark = mark if seconds > 0 else None
        self.seconds = seconds
        self.size = size
        self.kept: dict[str, Kept] = {}

    def get(self, digest: str) -> Kept | None:
        """This worker's copy of the key, if it may still be current: confirmed by the mark in a file, or to be
        confirmed by the pull's count when the mark is in Redis (unless_changed())."""
        kept = self.kept.get(digest)
        if kept is None or clock() >= kept.until:
            return None
        if self.mark.key is None and self.mark.read() != kept.mark:
            return None
        return kept

    def unless_changed(self, kept: Kept) -> tuple[str, bytes] | None:
        """The Redis mark and the value it held when `kept` was loaded: a pull is counted on its kept key only while
        the mark still holds it (floqast/ratelimit/limits.py count_api_pull)."""
        return None if self.mark.key is None else (self.mark.key, kept.mark)

    def forget(self, digest: str) -> None:
        self.kept.pop(digest, None)

    def load(self, digests: tuple[str, ...]) -> lookup.CheckedKey | None:
        """The key check's answer for a key's `digests` (one per pepper), kept by the first under the mark read before
        it (when the mark could be read)."""
        mark = None if self.mark is None else self.mark.read()
        key = lookup.check_digests(digests)
        digest = digests[0]
        if mark is not None and key is not None:
            if len(self.kept) >= self.size:
                self.kept.clear()  # a worker serving that many keys at once reads them again: no eviction order kept
            self.kept[digest] = Kept(key, mark, clock() + self.seconds)
        return key

    def clear(self) -> None:
        self.kept.clear()

    def changed(self) -> None:
        """Write a new mark after a commit that changed a key or a team: every kept copy is stale from now on."""
        if self.mark is None:
            return
        try:
            self.mark.write()
        except Exception:  # noqa: BLE001  (the change is committed: its request must not fail for the mark)
            logger.error("key change mark not written: workers may use a changed key for up to %s s", self.seconds,
                         exc_info=True)


def change_mark(app) -> FileMark | RedisMark | None:
    """Where every process that can change this app's keys writes its mark, if there is one place they all reach:
    Redis, or beside the SQLite file (an in-memory database is one process's own: its instance folder will do)."""
    if isinstance(limiter.storage, RedisStorage):
        return RedisMark(limiter.storage, app.config["RATELIMIT_NAMESPACE"])
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        return FileMark(Path(app.instance_path) / "key-changes.mark")
    return FileMark(Path(f"{url.database}-key-changes"))


def init_app(app) -> None:
    """After the limiter (its storage holds the mark when it is Redis): the app's kept keys, and the listeners that
    write the mark after a commit that changes a model affecting key checks (floqast/keys/changes.py)."""
    app.extensions["key_cache"] = KeyCache(change_mark(app), app.config["KEY_CACHE_SECONDS"],
                                           app.config["KEY_CACHE_SIZE"])
    changes.listen()


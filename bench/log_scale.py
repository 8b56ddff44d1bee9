"""11-15. The API request log at a year's scale (quick: 1,000,000 rows, full: 10,000,000), each cost against the
same read of a team whose log holds 10,000 rows:

11. Activity: the request list's first page, by one key, by "Refused" and by one day (server time, in process);
12. a key's page, for a key with 1,000,000 requests in the last 24 hours (quick: 100,000) against one with 1,000;
13. the audit trail: one day's first page; walking a whole day by links.next against the driver reading the same
    rows; a worker's peak RSS during a 30,000-row page;
14. `api-log prune` removing a month past retention, 3,000,000 rows against 30,000 (quick: a tenth of each);
15. keyed pulls with the log on against off, the log table at full size.
"""

import http.client
import json
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from bench import request_log
from bench.export import RssSampler
from bench.harness import PEPPER, Databases, Result, Server, Sizes, make_app
from bench.harness import make_team as make_team_and_admin
from bench.log_rows import fill_request_log

SMALL_ROWS = 10_000
OTHER_TEAMS = 9
KEYS_PER_TEAM = 5
QUIET_KEY_ROWS = 1_000
PAGE_ROWS = 30_000
TRAIL_FIRST_PAGE = 100
# The rows of the 100 days before prune (a tenth of them past retention, in the oldest kept month's first days).
PRUNE_KEPT_ROWS = 30_000


@dataclass
class Team:
    """A team of the scratch log: its id, its admin's id, its keys' ids and one key's plaintext."""

    id: int
    admin_id: int
    key_ids: list[int]
    plaintext: str


@dataclass
class Log:
    """The scratch log's database and app, the team measured (a tenth of the rows), the team with 10,000 rows,
    the busy and quiet keys (of the measured team) and the moment the log ends."""

    name: str
    app: object
    measured: Team
    small: Team
    busy_key_id: int
    quiet_key_id: int
    now: datetime

    @property
    def day(self) -> str:
        """A day in the middle of the 90 days, as From and To."""
        return (self.now - timedelta(days=45)).date().isoformat()

    @property
    def busy_day(self) -> str:
        """The day holding most of the busy key's last 24 hours."""
        return (self.now - timedelta(hours=12)).date().isoformat()


def make_team(name: str) -> Team:
    from floqast.extensions import db
    from floqast.keys.models import ApiKey, Service

    team, admin = make_team_and_admin(name, f"admin@{name.lower().replace(' ', '-')}.test")
    keys = [ApiKey.issue(creator=admin, name=f"{name} {number}", services=list(Service), expires_on=None,
                         pepper=PEPPER.encode()) for number in range(KEYS_PER_TEAM)]
    db.session.add_all(row for row, _ in keys)
    db.session.commit()
    return Team(team.id, admin.id, [row.id for row, _ in keys], keys[0][1])


def fill(databases: Databases, temp: Path, sizes: Sizes, log) -> Log:
    """The scratch log: `sizes.log_rows` over 90 days (the measured team a tenth, nine other teams the rest), a
    team with 10,000 rows, and the measured team's busy and quiet keys' last 24 hours."""
    from floqast.extensions import db

    databases.create("log")
    app = make_app(databases.url("log"), temp)
    now = datetime.now(timezone.utc)
    with app.app_context():
        measured, small = make_team("Measured"), make_team("Small")
        others = [make_team(f"Other {number}") for number in range(OTHER_TEAMS)]
        busy, quiet = measured.key_ids[1], measured.key_ids[2]
        started = time.perf_counter()
        with db.engine.begin() as connection:
            fill_request_log(connection, sizes.log_rows,
                             {measured.id: measured.key_ids, **{team.id: team.key_ids for team in others}}, now)
            fill_request_log(connection, SMALL_ROWS, {small.id: small.key_ids}, now, measured_share=None, seed=2)
            fill_request_log(connection, sizes.busy_key_rows, {measured.id: [busy]}, now, days=1, seed=3)
            fill_request_log(connection, QUIET_KEY_ROWS, {measured.id: [quiet]}, now, days=1, seed=4)
        log(f"  {sizes.log_rows + SMALL_ROWS + sizes.busy_key_rows + QUIET_KEY_ROWS:,} log rows in "
            f"{time.perf_counter() - started:.1f} s")
        analyze(app)
        db.engine.dispose()
    return Log("log", app, measured, small, busy, quiet, now)


def analyze(app) -> None:
    from floqast.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def best_times(app, paths: dict, sizes: Sizes, headers_of) -> dict:
    """Server time (ms) of each GET in `paths` ({name: (path, user_id or plaintext)}), alternating rounds in
    process; the best of each (a shared machine's noise only ever adds)."""
    from floqast.extensions import db

    clients = {}
    for name, (path, who) in paths.items():
        client = app.test_client()
        headers = headers_of(client, who)
        clients[name] = (client, path, headers)
    times = {name: [] for name in paths}
    for round_number in range(sizes.page_rounds * 2 + 1):
        for name, (client, path, headers) in clients.items():
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, (name, path, response.status_code)
            if round_number:
                times[name].append(elapsed * 1000)
    with app.app_context():
        db.engine.dispose()
    return {name: min(found) for name, found in times.items()}


def signed_in(client, user_id: int) -> dict:
    """Sign the client in as the user; the headers of a page's request."""
    with client.session_transaction() as session:
        session["_user_id"], session["_fresh"] = str(user_id), True
    return {}


def signed_in_htmx(client, user_id: int) -> dict:
    """Sign the client in as the user; the headers of htmx's request for a fragment."""
    return {**signed_in(client, user_id), "HX-Request": "true"}


def keyed(client, plaintext: str) -> dict:
    return {"x-api-key": plaintext}


def compare(number: int, name: str, large: float, small: float, goal: float, unit: str = "ms") -> Result:
    ratio = large / small
    return Result(number, name, f"{large:.1f} {unit}", f"{small:.1f} {unit}", ratio, f"<= {goal}", ratio <= goal,
                  {"large": large, "small": small})


def activity(books: Log, sizes: Sizes) -> list[Result]:
    """11. The request list's first page, whole, by one key, by Refused, by one day: the measured team against
    the small one."""
    lists = {"first page": "", "one key": "&key={key}", "Refused": "&status=refused",
             "one day": f"&requests_from={books.day}&requests_to={books.day}"}
    paths = {}
    for label, query in lists.items():
        for team in (books.measured, books.small):
            path = "/settings/api-keys/activity/requests?" + query.format(key=team.key_ids[0]).lstrip("&")
            paths[(label, team.id)] = (path, team.admin_id)
    best = best_times(books.app, paths, sizes, signed_in_htmx)
    return [compare(11, f"Activity, {label}: team log at {sizes.log_rows // 10:,} vs {SMALL_ROWS:,} rows",
                    best[(label, books.measured.id)], best[(label, books.small.id)], 2) for label in lists]


def key_page(books: Log, sizes: Sizes) -> Result:
    """12. A key's page, the busy key against the quiet one."""
    paths = {key_id: (f"/settings/api-keys/{key_id}", books.measured.admin_id)
             for key_id in (books.busy_key_id, books.quiet_key_id)}
    best = best_times(books.app, paths, sizes, signed_in)
    return compare(12, f"Key page: {sizes.busy_key_rows:,} requests in 24 hours vs {QUIET_KEY_ROWS:,}",
                   best[books.busy_key_id], best[books.quiet_key_id], 2)


def trail_path(day: str, size: int) -> str:
    return (f"/api/v1/audit-trail?filter%5BstartDate%5D={day}&filter%5BendDate%5D={day}"
            f"&page%5Bsize%5D={size}")


def trail_first_page(books: Log, sizes: Sizes) -> Result:
    """13. One day's first page of the trail (100 entries), the measured team against the small one."""
    paths = {team.id: (trail_path(books.day, TRAIL_FIRST_PAGE), team.plaintext)
             for team in (books.measured, books.small)}
    best = best_times(books.app, paths, sizes, keyed)
    return compare(13, f"Audit trail, one day's first page: team log at {sizes.log_rows // 10:,} vs {SMALL_ROWS:,} "
                   "rows", best[books.measured.id], best[books.small.id], 2)


def walk(server: Server, path: str, plaintext: str, pages: int | None = None) -> tuple[float, int]:
    """Seconds and entries of a walk by links.next from `path` (its first `pages` only, when given), on one
    keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    started, entries = time.perf_counter(), 0
    try:
        while path:
            connection.request("GET", path, headers={"x-api-key": plaintext})
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, (response.status, body[:200])
            # What the server sends is measured, not a client's parsing of it: the links alone are read.
            entries += body.count(b'{"id": "')
            links = json.loads(body[body.rindex(b'"links":') + 8:-1])
            path = links["next"] and quote(links["next"], safe="/?&=%")
            pages = None if pages is None else pages - 1
            if pages == 0:
                break
    finally:
        connection.close()
    return time.perf_counter() - started, entries


def driver_read(databases: Databases, books: Log) -> tuple[float, int]:
    """Seconds and rows of the driver reading the busy day's trail columns, in id order."""
    from floqast.accounts.models import Team as TeamModel
    from floqast.extensions import db

    with books.app.app_context():
        team = db.session.get(TeamModel, books.measured.id)
        day = datetime.fromisoformat(books.busy_day).date()
        since, until = team.end_of_day(day - timedelta(days=1)), team.end_of_day(day)
        db.engine.dispose()
    if databases.kind == "sqlite":
        since, until = (f"{moment.replace(tzinfo=None):%Y-%m-%d %H:%M:%S.%f}" for moment in (since, until))
    marker = databases.placeholder
    connection = databases.connect(books.name)
    try:
        started = time.perf_counter()
        cursor = connection.cursor()
        cursor.execute("SELECT id, created_at, api_key_id, method, uri, source_ip, status, service FROM api_requests "
                       f"WHERE team_id = {marker} AND created_at >= {marker} AND created_at < {marker} ORDER BY id",
                       (books.measured.id, since, until))
        rows = len(cursor.fetchall())
        return time.perf_counter() - started, rows
    finally:
        connection.close()


def trail_walk_and_memory(server: Server, databases: Databases, books: Log, sizes: Sizes) -> list[Result]:
    """13. The busy day walked by links.next against the driver; a worker's peak RSS during a 30,000-row page,
    the measured team's (a log at full size) against the small team's (10,000 rows)."""
    peaks = {}
    for team in (books.small, books.measured):  # the small first: a worker's RSS seldom shrinks back
        with RssSampler(server) as sampler:
            walk(server, f"/api/v1/audit-trail?page%5Bsize%5D={PAGE_ROWS}", team.plaintext, pages=1)
        peaks[team.id] = sampler.peak
    walks, reads = [], []
    for _ in range(sizes.export_rounds):
        seconds, entries = walk(server, trail_path(books.busy_day, PAGE_ROWS), books.measured.plaintext)
        walks.append(entries / seconds)
        seconds, rows = driver_read(databases, books)
        assert rows == entries, (rows, entries)
        reads.append(rows / seconds)
    walked, read = max(walks), max(reads)
    memory = peaks[books.measured.id] / peaks[books.small.id]
    return [
        Result(13, f"Audit trail: a day's walk by links.next ({entries:,} entries) vs the driver",
               f"{walked:,.0f} rows/s", f"{read:,.0f} rows/s", walked / read, ">= 0.5", walked / read >= 0.5,
               {"walks": walks, "reads": reads}),
        Result(13, f"Audit trail memory: worker peak RSS, a {PAGE_ROWS:,}-row page, log at full size vs "
               f"{SMALL_ROWS:,} rows", f"{peaks[books.measured.id] / 1024:.1f} MiB",
               f"{peaks[books.small.id] / 1024:.1f} MiB", memory, "<= 1.3", memory <= 1.3, {"peaks_kib": peaks}),
    ]


def checkpoint(app) -> None:
    """Write the database's changed pages out now (PostgreSQL's CHECKPOINT, SQLite's WAL into the file), so that
    a fill's writing does not go on during what is timed next."""
    from floqast.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        connection.exec_driver_sql("CHECKPOINT" if connection.dialect.name == "postgresql"
                                   else "PRAGMA wal_checkpoint(TRUNCATE)")
        connection.commit()


def prune_month(databases: Databases, temp: Path, rows: int, now: datetime) -> tuple[float, float]:
    """Seconds of `api-log prune` (in process) on a fresh log holding `rows` in a month past retention and the
    same PRUNE_KEPT_ROWS over the 100 days before `now`, whatever `rows` (so that only the month past retention
    differs between the two runs), and of its statements alone, up to its commit (where the dropped month's files
    are removed). Only the month's removal is timed: a prune of the empty log first makes the coming months'
    partitions (as the days' runs before it would have), and the fill is checkpointed."""
    from sqlalchemy import event

    from floqast.extensions import db
    from floqast.usage.prune import prune

    name = f"prune-{rows}"
    databases.create(name)
    app = make_app(databases.url(name), temp)
    old_month_end = (now - timedelta(days=130)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with app.app_context():
        prune(now, 90)
        with db.engine.begin() as connection:
            fill_request_log(connection, rows, {1: [1, 2, 3]}, old_month_end - timedelta(seconds=1), days=27)
            fill_request_log(connection, PRUNE_KEPT_ROWS, {1: [1, 2, 3]}, now, days=100, seed=2)
        analyze(app)
        checkpoint(app)
        commit_began = []
        event.listen(db.engine, "commit", lambda connection: commit_began.append(time.perf_counter()))
        started = time.perf_counter()
        prune(now, 90)
        ended = time.perf_counter()
        db.engine.dispose()
    return ended - started, commit_began[0] - started


def prune_rows(databases: Databases, temp: Path, sizes: Sizes, now: datetime) -> list[Result]:
    """14. Prune: a month of `sizes.prune_rows` past retention against a month of a hundredth as many, each size
    on a fresh log in alternate rounds; the median of each, since most of a drop's time is its commit (files
    removed, the WAL flushed), which other writers on the machine delay at random. Its statements up to the commit
    (the database's work) are given apart: on a disk that frees a file's blocks as it is removed, the commit grows
    with the month's bytes."""
    large_rows, small_rows = sizes.prune_rows, sizes.prune_rows // 100
    rounds: dict[int, list[tuple[float, float]]] = {small_rows: [], large_rows: []}
    for _ in range(sizes.prune_rounds):
        for rows, seconds in rounds.items():
            seconds.append(prune_month(databases, temp, rows, now))
    postgresql = databases.kind == "postgresql"
    results = []
    for part, what in ((0, "api-log prune"), (1, "api-log prune's statements, up to its commit")):
        small, large = (statistics.median(times[part] for times in rounds[size]) for size in (small_rows, large_rows))
        ratio = large / small
        results.append(Result(
            14, f"{what}: a month past retention, {large_rows:,} vs {small_rows:,} rows", f"{large * 1000:,.0f} ms",
            f"{small * 1000:,.0f} ms", ratio, "<= 2" if postgresql else "reported", ratio <= 2 or not postgresql,
            {"large_s": [times[part] for times in rounds[large_rows]],
             "small_s": [times[part] for times in rounds[small_rows]]}))
    return results


def writes_under_load(books: Log, env: dict, worker_class: str, sizes: Sizes, temp: Path, tool: str) -> Result:
    """15. Keyed pulls with the log on against off, the log at full size (row 7 against this run's log)."""
    found = request_log.throughput(env, worker_class, books.measured.plaintext, sizes, temp, tool)
    return Result(15, f"Request log at {sizes.log_rows:,} rows: keyed /api/v1/me, log on vs off", found.measured,
                  found.baseline, found.ratio, found.goal, found.met, found.raw)


def measure(databases: Databases, temp: Path, env: dict, worker_class: str, sizes: Sizes, tool: str,
            log) -> list[Result]:
    log(f"11-15. request log at scale: filling {sizes.log_rows:,} rows ...")
    books = fill(databases, temp, sizes, log)
    log("11. Activity ...")
    results = activity(books, sizes)
    log("12. a key's page ...")
    results.append(key_page(books, sizes))
    log("13. audit trail ...")
    results.append(trail_first_page(books, sizes))
    log_env = {**env, "DATABASE_URL": databases.url(books.name)}
    server = Server(log_env, worker_class)
    try:
        server.start()
        results += trail_walk_and_memory(server, databases, books, sizes)
    finally:
        server.stop()
    log("15. writes under load ...")
    results.append(writes_under_load(books, log_env, worker_class, sizes, temp, tool))
    log("14. prune ...")
    results += prune_rows(databases, temp, sizes, books.now)
    return results

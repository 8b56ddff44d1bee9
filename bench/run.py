"""Benchmarks of the service, as ratios taken side by side in one run: `python -m bench [--quick] [--rows N]`.

It makes a scratch database (a SQLite file in a temporary folder, or, when DATABASE_URL is set, schemas of
its own in that PostgreSQL database, dropped at the end), loads it with the generator, starts the app under
gunicorn on a free loopback port, and runs each benchmark module of this package in turn:

1. auth_overhead: GET /api/v1/me with a valid key against GET /healthz, same server, same load generator;
2. key_check: in-process verification with 10 keys in the database against --keys of them;
3. export: CSV export over HTTP against the driver alone + csv.writer, and the workers' peak RSS for the CSV
   of every row against a tenth, and for a 30,000-record JSON page against a 3,000-record one;
4. deep_pages: the last page of a cursor walk against the first one;
5. keys_tab: the API Keys tab's server time with 1,000 keys in the team against 10;
6. allowed_ips: GET /api/v1/me with a key that allows 20 IP ranges against a key that allows any address.
7. request_log: a keyed pull with the API request log on against off (two gunicorns), and 8. the log's rows
   lost per 1,000 requests when a worker is SIGKILLed mid-load (reported, no goal);
9. revocation: from a deactivation's commit to a 401 from every worker (a gunicorn with an access log of its own);
10. last_used: the writes of Last used during row 1's loads;
11-15. log_scale: the API request log at 1,000,000 rows (quick) or 10,000,000: Activity, a key's page, the audit
   trail, prune, and writes under load, each against a team with 10,000 rows (or its own small case); the log is
   made by log_rows.fill_request_log. `--log-scale-only` runs these rows alone.
16. entity_scope: a 100-record page with a key limited to 20 entities against a key that reads every entity.
17. peppers: GET /api/v1/me from a gunicorn with two peppers configured against one with one (the key under the
    first).

`--production` runs rows 1, 10 and 9 in the production shape instead: PostgreSQL at DATABASE_URL, rate-limit
counts in Redis at RATELIMIT_STORAGE_URI (default redis://127.0.0.1:6379), `gunicorn -c gunicorn.conf.py`.

Every goal is a ratio or a bound; the raw figures are printed beside it and written to bench/results/*.json.
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

from bench import (
    allowed_ips,
    auth_overhead,
    deep_pages,
    entity_scope,
    export,
    harness,
    key_check,
    keys_tab,
    last_used,
    log_scale,
    peppers,
    request_log,
    revocation,
)
from bench.harness import Databases, Result, Sizes

RESULTS = Path(__file__).resolve().parent / "results"
REDIS = "redis://127.0.0.1:6379"


def log(message: str) -> None:
    print(message, flush=True)


def options(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark the service; every goal is a ratio taken in one run.")
    parser.add_argument("--quick", action="store_true", help="small sizes and short loads (CI)")
    parser.add_argument("--rows", type=int,
                        help="reconciliations to generate, at least 30,000 (default 1,000,000; quick 32,000)")
    parser.add_argument("--keys", type=int, help="keys for the key check (default 1,000,000; quick 10,000)")
    parser.add_argument("--log-rows", type=int,
                        help="API request log rows for rows 11-15 (default 10,000,000; quick 1,000,000)")
    parser.add_argument("--log-scale-only", action="store_true", help="rows 11-15 only: the request log at scale")
    parser.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync",
                        help="gunicorn workers: sync, as the README runs it in production (default), or gthread "
                             "(4 threads each)")
    parser.add_argument("--production", action="store_true",
                        help="the production shape: PostgreSQL at DATABASE_URL, rate limits in Redis at "
                             f"RATELIMIT_STORAGE_URI (default {REDIS}), gunicorn -c gunicorn.conf.py; "
                             "rows 1, 9 and 10 only")
    parser.add_argument("--output", type=Path, help="JSON results file (default bench/results/<time>.json)")
    args = parser.parse_args(argv)
    if args.production and not os.environ.get("DATABASE_URL"):
        parser.error("--production needs DATABASE_URL (a PostgreSQL database)")
    if args.production and args.worker_class != "sync":
        parser.error("--production runs gunicorn.conf.py's sync workers")
    args.sizes = harness.sizes(args.quick, args.rows, args.keys, args.log_rows)
    if args.sizes.rows < export.LARGE_PAGE:
        parser.error(f"--rows must be at least {export.LARGE_PAGE:,}, for a full JSON page of that many records")
    if args.load_tool == "auto":
        args.load_tool = "wrk" if shutil.which("wrk") else "python"
    return args


@dataclass
class Books:
    """The served app's data: its team, a key for every service (and one more that allows only
    allowed_ips.RANGES, and one limited to entity_scope.ENTITIES entities), and the generated reconciliations."""

    app: Flask
    team_id: int
    api_key: str
    allowlisted_key: str
    entity_id: int
    rows: int
    generator_output: str
    generate_seconds: float
    scoped_key: str = ""


def load_books(databases: Databases, temp: Path, env: dict, chosen: Sizes, generate: bool = True) -> Books:
    """Create the main database, its team and key, and generate the team's reconciliations (unless not
    `generate`: the production shape's rows pull no analytics)."""
    from sqlalchemy import func, select

    from floqast.analytics.models import Entity, Reconciliation
    from floqast.extensions import db
    from floqast.keys import allowlist
    from floqast.keys.models import ApiKey, Service

    databases.create("main")
    app = harness.make_app(databases.url("main"), temp)
    with app.app_context():
        team, admin = harness.make_team(harness.TEAM, "admin@bench.test")
        key_row, api_key = ApiKey.issue(creator=admin, name="Bench", services=list(Service), expires_on=None,
                                        pepper=harness.PEPPER.encode())
        allowlisted_row, allowlisted_key = ApiKey.issue(
            creator=admin, name="Bench allowlisted", services=list(Service), expires_on=None,
            pepper=harness.PEPPER.encode(), allowed_ips=allowlist.parse("\n".join(allowed_ips.RANGES)))
        db.session.add_all([key_row, allowlisted_row])
        db.session.commit()
        team_id = team.id
    last_used.count_writes(databases)
    if not generate:
        return Books(app, team_id, api_key, allowlisted_key, 0, 0, "", 0.0)

    log(f"generating {chosen.rows:,} reconciliations ({harness.ENTITIES} entities x {chosen.accounts} accounts x "
        f"{chosen.months} months) ...")
    started = time.perf_counter()
    generator_output = harness.generate(env, chosen)
    generate_seconds = time.perf_counter() - started
    log("  " + generator_output)
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(Reconciliation)
                                 .where(Reconciliation.team_id == team_id))
        entity_id = db.session.scalar(select(func.min(Entity.id)).where(Entity.team_id == team_id))
        scoped_key = issue_scoped_key(team_id)
        if databases.kind == "postgresql":
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
    return Books(app, team_id, api_key, allowlisted_key, entity_id, rows, generator_output, generate_seconds,
                 scoped_key)


def issue_scoped_key(team_id: int) -> str:
    """A key for every service limited to entity_scope.ENTITIES entities: the team's, and more without records."""
    from sqlalchemy import select

    from floqast.accounts.models import Team, User
    from floqast.analytics.models import Entity
    from floqast.extensions import db
    from floqast.keys.models import ApiKey, Service

    team = db.session.get(Team, team_id)
    named = [f"Idle entity {number:02d}" for number in range(entity_scope.ENTITIES - harness.ENTITIES)]
    entity_ids = sorted(Entity.ids_by_name(team, named).values())[:entity_scope.ENTITIES]
    creator = db.session.scalar(select(User).where(User.team_id == team_id))
    key, plaintext = ApiKey.issue(creator=creator, name="Bench limited", services=list(Service), expires_on=None,
                                  pepper=harness.PEPPER.encode(), entity_ids=entity_ids)
    db.session.add(key)
    db.session.commit()
    return plaintext


def run_benchmarks(args, books: Books, databases: Databases, temp: Path, env: dict) -> list[Result]:
    """The in-process benchmarks first, then those over HTTP against gunicorn; results in their numbers' order."""
    from floqast.extensions import db

    chosen = args.sizes
    log("2. key check ...")
    results = [key_check.measure(databases, temp, chosen, log)]
    log("5. API Keys tab ...")
    results.append(keys_tab.measure(books.app, chosen))
    with books.app.app_context():
        db.engine.dispose()

    server = harness.Server(env, args.worker_class)
    try:
        server.start()
        log(f"gunicorn on {server.url}, workers {server.workers()}")
        results += keyed_pulls(server, books, databases, chosen, temp, args.load_tool)
        log("3. export ...")
        results += export.measure(server, databases, books.api_key, books.team_id, books.entity_id, books.rows,
                                  chosen)
        log("4. deep pages ...")
        results.append(deep_pages.measure(server, databases, books.api_key, books.team_id, books.rows, chosen))
        log("6. allowed IP addresses ...")
        results.append(allowed_ips.measure(server, books.api_key, books.allowlisted_key, chosen, temp,
                                           args.load_tool))
        log("16. keys limited to entities ...")
        results.append(entity_scope.measure(server, books.api_key, books.scoped_key, chosen, temp, args.load_tool))
    finally:
        server.stop()
    log("7, 8. request log ...")
    results += request_log.measure(books.app, env, args.worker_class, books.api_key, chosen, temp, args.load_tool)
    log("9. revocation latency ...")
    results.append(revocation.measure(books.app, env, args.worker_class, False, chosen, temp))
    log("17. two peppers ...")
    results.append(peppers.measure(env, args.worker_class, books.api_key, chosen, temp, args.load_tool))
    results += log_scale.measure(databases, temp, env, args.worker_class, chosen, args.load_tool, log)
    return sorted(results, key=lambda result: result.number)


def run_production(args, books: Books, databases: Databases, temp: Path, env: dict) -> list[Result]:
    """Rows 1 and 10 against gunicorn as the README runs it, then row 9 against another such gunicorn."""
    from floqast.extensions import db

    with books.app.app_context():
        db.engine.dispose()
    server = harness.Server(env, "sync", production=True)
    try:
        server.start()
        log(f"gunicorn -c gunicorn.conf.py on {server.url}, workers {server.workers()}")
        results = keyed_pulls(server, books, databases, args.sizes, temp, args.load_tool)
    finally:
        server.stop()
    log("9. revocation latency ...")
    results.append(revocation.measure(books.app, env, "sync", True, args.sizes, temp))
    return sorted(results, key=lambda result: result.number)


def keyed_pulls(server: harness.Server, books: Books, databases: Databases, chosen: Sizes, temp: Path,
                tool: str) -> list[Result]:
    """Row 1, the first keyed pulls of the run, and row 10, the Last used writes they made."""
    log("1. auth overhead ...")
    started = time.perf_counter()
    overhead = auth_overhead.measure(server, books.api_key, chosen, temp, tool)
    seconds = time.perf_counter() - started
    log("10. Last used writes ...")
    return [overhead, last_used.measure(databases, overhead.raw["summary"]["me"]["requests"], seconds)]


def redacted(uri: str) -> str:
    """A storage URI without its password, for the output."""
    parts = urlsplit(uri)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def main(argv=None) -> int:
    args = options(argv)
    chosen = args.sizes
    temp = Path(tempfile.mkdtemp(prefix="floqast-bench-"))
    databases = Databases(temp)
    began = time.perf_counter()
    load_at_start = os.getloadavg()[0]  # the machine's state, said with the figures: a busy one slows them all
    # The app reads its settings from the environment: gunicorn and the generator get the same as the bench.
    env = {**os.environ, "SECRET_KEY": harness.SECRET_KEY, "API_KEY_PEPPER": harness.PEPPER,
           "FLOQAST_INSTANCE_PATH": str(temp / "instance"), "DATABASE_URL": databases.url("main"),
           # The load runs far past a client's rate limit on purpose: measure the work, not the 429s.
           "API_RATE_LIMIT": "100000000 per minute",
           # Nor the refusals of revoked keys' probes, nor the reports of leaked keys.
           "API_REFUSAL_LIMIT": "100000000 per minute", "REVOKE_RATE_LIMIT": "100000000 per minute"}
    env.pop("FLOQAST_DEMO", None)
    if args.production:
        env.setdefault("RATELIMIT_STORAGE_URI", REDIS)
    storage = env.get("RATELIMIT_STORAGE_URI", "inprocess://")
    mode = "quick" if args.quick else "full"
    shape = "production" if args.production else databases.kind
    try:
        if args.production:
            log(f"bench: {mode} production-shape run on {databases.kind}, rate limits in {redacted(storage)}, "
                f"gunicorn -c gunicorn.conf.py, load by {args.load_tool}; scratch in {temp}")
            books = load_books(databases, temp, env, chosen, generate=False)
            results = run_production(args, books, databases, temp, env)
        elif args.log_scale_only:
            log(f"bench: {mode} run of rows 11-15 on {databases.kind}, {chosen.log_rows:,} log rows, gunicorn "
                f"{args.worker_class} workers, load by {args.load_tool}; scratch in {temp}")
            books = load_books(databases, temp, env, chosen, generate=False)
            results = log_scale.measure(databases, temp, env, args.worker_class, chosen, args.load_tool, log)
        else:
            log(f"bench: {mode} run on {databases.kind}, {chosen.rows:,} rows, {chosen.keys:,} keys, gunicorn "
                f"{args.worker_class} workers, load by {args.load_tool}; scratch in {temp}")
            books = load_books(databases, temp, env, chosen)
            results = run_benchmarks(args, books, databases, temp, env)
        log("")
        log(harness.table(results))
        total = time.perf_counter() - began
        log(f"\n{sum(r.met for r in results)} of {len(results)} goals met; generator {books.generate_seconds:.1f} s; "
            f"whole run {total:.0f} s; load average {load_at_start:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end")
        document = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "mode": mode,
            "production_shape": args.production,
            "database": databases.kind,
            "rate_limit_storage": redacted(storage),
            "load_average": {"start": load_at_start, "end": os.getloadavg()[0]},
            "load_tool": args.load_tool,
            "worker_class": args.worker_class,
            "rows": books.rows,
            "keys": chosen.keys,
            "cpus": os.cpu_count(),
            "generate_seconds": books.generate_seconds,
            "generator_output": books.generator_output,
            "seconds": total,
            "results": [vars(result) for result in results],
        }
        output = args.output or RESULTS / f"bench-{mode}-{shape}-{datetime.now():%Y%m%d-%H%M%S}.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=2, default=str) + "\n")
        log(f"results written to {output}")
        return 0
    finally:
        databases.drop()
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

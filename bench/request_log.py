"""7. Request logging: GET /api/v1/me with a key, the API request log on against off (two gunicorns of the same
shape, loaded in alternate rounds); 7. the log's rows lost per 1,000 requests when a worker is SIGKILLed mid-load."""

import os
import signal
import threading
from pathlib import Path

from flask import Flask

from bench.harness import PEPPER, Result, Server, Sizes, get, load

ME = "/api/v1/me"


def throughput(env: dict, worker_class: str, key: str, sizes: Sizes, temp: Path, tool: str) -> Result:
    servers = {state: Server({**env, "REQUEST_LOG_ENABLED": flag}, worker_class)
               for state, flag in (("on", "1"), ("off", "0"))}
    headers = {"x-api-key": key}
    runs = {state: [] for state in servers}
    try:
        for server in servers.values():
            server.start()
            for _ in range(20):  # warm the workers and the key's Last used
                assert get(server.port, ME, headers)[0] == 200
        for _ in range(sizes.rounds):
            for state, server in servers.items():
                runs[state].append(load(server.url + ME, headers, sizes, temp, tool))
    finally:
        for server in servers.values():
            server.stop()
    if any(run["errors"] for found in runs.values() for run in found):
        raise SystemExit(f"bench: errors under load with request logging: {runs}")
    best = {state: max(run["rps"] for run in found) for state, found in runs.items()}  # a shared machine only slows
    ratio = best["on"] / best["off"]
    return Result(7, "Request logging: keyed /api/v1/me with the log on vs off (throughput)",
                  f"on: {best['on']:,.0f} req/s", f"off: {best['off']:,.0f} req/s", ratio, ">= 0.9", ratio >= 0.9,
                  {"tool": tool, "rounds": runs})


def crash_loss(app: Flask, env: dict, worker_class: str, sizes: Sizes, temp: Path) -> Result:
    """Pull with a key of its own while one worker is SIGKILLed halfway; then stop gunicorn (the other workers
    write what they hold at exit) and count the key's rows against the answers the client got."""
    from sqlalchemy import func, select

    from floqast.accounts.models import User
    from floqast.extensions import db
    from floqast.keys.models import ApiKey, Service
    from floqast.usage.models import ApiRequest

    with app.app_context():
        admin = User.by_email("admin@bench.test")
        row, key = ApiKey.issue(creator=admin, name="Crash", services=list(Service), expires_on=None,
                                pepper=PEPPER.encode())
        db.session.add(row)
        db.session.commit()
        key_id = row.id
    server = Server({**env, "REQUEST_LOG_ENABLED": "1"}, worker_class)
    killed = []

    def kill_a_worker():
        victim = server.workers()[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    try:
        server.start()
        timer = threading.Timer(sizes.load_seconds / 2, kill_a_worker)
        timer.start()
        # bench.load counts answers exactly (any status); a request cut off by the kill is no answer.
        run = load(server.url + ME, {"x-api-key": key}, sizes, temp, "python")
        timer.join()
    finally:
        server.stop()
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(ApiRequest).where(ApiRequest.api_key_id == key_id))
        db.engine.dispose()
    answered = run["requests"]
    lost = max(0, answered - rows)
    per_thousand = lost / answered * 1000 if answered else 0.0
    return Result(8, "Request log: rows lost per 1,000 requests, one worker SIGKILLed mid-load",
                  f"{lost:,} of {answered:,} answered requests not logged", f"{rows:,} rows written",
                  per_thousand, "reported", True, {"killed": killed, "load": run, "rows": rows})


def measure(app: Flask, env: dict, worker_class: str, key: str, sizes: Sizes, temp: Path, tool: str) -> list[Result]:
    return [throughput(env, worker_class, key, sizes, temp, tool), crash_loss(app, env, worker_class, sizes, temp)]

"""A bounded load test on loopback: `DATABASE_URL=postgresql://... python bench/soak.py [--seconds 30] [--clients 50]`.

It makes a schema of its own in the PostgreSQL database at DATABASE_URL (dropped at the end), fills it with a
team, an admin, keys and a few analytics books, starts gunicorn with several workers on a free 127.0.0.1 port,
and for --seconds runs --clients concurrent clients pulling /api/v1/me and analytics pages with the keys while
another thread creates and deletes keys through the models. It reports the count of each status and latency
percentiles, and exits 1 on any answer other than 200, the expected 401 (a deleted key) and 429, or on a
connection error. It stops by itself: the clients stop at the deadline and gunicorn is terminated.
"""

import argparse
import http.client
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXPECTED = {200, 401, 429}
PATHS = [
    "/api/v1/me",
    "/api/v1/analytics/reconciliations?page%5Bsize%5D=50",
    "/api/v1/analytics/checklists?page%5Bsize%5D=50",
    "/api/v1/analytics/reconciliations?filter%5Bmonth%5D=2&filter%5Byear%5D=2025&page%5Bsize%5D=100",
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="how long the clients pull (default 30)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--keys", type=int, default=10, help="keys the clients share (default 10)")
    parser.add_argument("--churn-interval", type=float, default=0.2,
                        help="seconds between key creations/deletions in the churn thread (default 0.2)")
    parser.add_argument("--api-rate-limit", default="100000 per minute",
                        help="API_RATE_LIMIT and API_REFUSAL_LIMIT for the server (default high, so latency "
                             "measures the work and deleted keys get their 401; '600 per minute' is production's "
                             "per-key limit, '60 per minute' its per-IP limit on refusals)")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_url(url: str, schema: str) -> str:
    """DATABASE_URL with its search_path set to the scratch schema (libpq options)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{urlencode({'options': f'-csearch_path={schema}'})}"


class Soak:
    def __init__(self, args, database_url: str):
        self.args = args
        self.schema = f"soak_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = scratch_url(database_url, self.schema)
        self.base_url = database_url
        self.secret_key = secrets.token_urlsafe(32)
        self.pepper = secrets.token_urlsafe(32)
        self.port = free_port()
        self.statuses: Counter = Counter()
        self.latencies: list[float] = []
        self.errors: Counter = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.keys: list[str] = []  # the seeded keys, never deleted
        self.churned: list[str] = []  # keys the churn thread made; most of them deleted since (expected 401)
        self.churn = Counter()
        self.deleted_at: dict[str, float] = {}  # churned plaintext -> when its deactivation was committed
        self.violations: Counter = Counter()  # answers that contradict a key's state

    # ---------------------------------------------------------------- setup and teardown

    def app(self):
        os.environ.update(SECRET_KEY=self.secret_key, API_KEY_PEPPER=self.pepper, DATABASE_URL=self.url)
        from floqast import create_app
        from floqast.config import database_url

        class SoakConfig:
            SECRET_KEY = self.secret_key
            API_KEY_PEPPER = self.pepper
            SQLALCHEMY_DATABASE_URI = database_url(self.url)

        return create_app(SoakConfig)

    def create_schema(self) -> None:
        import psycopg

        with psycopg.connect(self.base_url, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{self.schema}"')

    def drop_schema(self) -> None:
        import psycopg

        with psycopg.connect(self.base_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def seed(self, app) -> None:
        from floqast.accounts.models import Role, Team, User
        from floqast.analytics.generate import Profile, generate
        from floqast.extensions import db
        from floqast.keys.models import ApiKey, Service

        with app.app_context():
            db.create_all()
            team = Team(name="Soak Corp", open_api_enabled=True, timezone="UTC")
            admin = User(team=team, role=Role.ADMIN, email="soak@example.test", name="Soak Admin")
            admin.set_password(secrets.token_urlsafe(16), 4)
            db.session.add_all([team, admin])
            db.session.commit()
            generate(team, Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=25, months=3,
                                   through=(2025, 3), seed=7, people=("Ann", "Ben", "Cy")))
            for index in range(self.args.keys):
                key, plaintext = ApiKey.issue(creator=admin, name=f"Soak {index}", services=list(Service),
                                              expires_on=None, pepper=self.pepper.encode())
                db.session.add(key)
                self.keys.append(plaintext)
            db.session.commit()

    def start_gunicorn(self) -> subprocess.Popen:
        env = {**os.environ, "SECRET_KEY": self.secret_key, "API_KEY_PEPPER": self.pepper, "DATABASE_URL": self.url,
               "API_RATE_LIMIT": self.args.api_rate_limit, "API_REFUSAL_LIMIT": self.args.api_rate_limit}
        command = [sys.executable, "-m", "gunicorn", "--workers", str(self.args.workers),
                   "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "wsgi:app"]
        process = subprocess.Popen(command, cwd=ROOT, env=env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {process.returncode}")
            try:
                if self.get("/api/v1/openapi.json", None)[0] == 200:
                    return process
            except OSError:
                pass
            time.sleep(0.1)
        process.terminate()
        raise SystemExit("gunicorn did not answer within 90 s")

    # ---------------------------------------------------------------- load

    def get(self, path: str, key: str | None) -> tuple[int, float]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers={"x-api-key": key} if key else {})
            response = connection.getresponse()
            response.read()
            return response.status, time.perf_counter() - started
        finally:
            connection.close()

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            with self.lock:
                # One pull in ten with a churned key: recently created, and most likely deleted by now.
                key = rng.choice(self.churned if self.churned and rng.random() < 0.1 else self.keys)
            sent = time.monotonic()
            try:
                status, seconds = self.get(rng.choice(PATHS), key)
            except OSError as error:
                with self.lock:
                    self.errors[type(error).__name__] += 1
                continue
            with self.lock:
                self.statuses[status] += 1
                self.latencies.append(seconds)
                deleted = self.deleted_at.get(key)
                if status == 200 and deleted is not None and deleted < sent:
                    self.violations["200 for a key deleted before the pull"] += 1
                if status == 401 and deleted is None and key in self.keys:
                    self.violations["401 for a working key"] += 1

    def churner(self, app) -> None:
        """Create a key, then delete one (the oldest extra one), through the models, until the deadline."""
        from floqast.accounts.models import User
        from floqast.extensions import db
        from floqast.keys import actions
        from floqast.keys.models import ApiKey, Service

        extra: list[tuple[ApiKey, str]] = []
        with app.app_context():
            admin = db.session.scalars(db.select(User)).first()
            while not self.stop.wait(self.args.churn_interval):
                try:
                    key, plaintext = ApiKey.issue(creator=admin, name=f"Churn {self.churn['created']}",
                                                  services=list(Service), expires_on=None,
                                                  pepper=self.pepper.encode())
                    db.session.add(key)
                    db.session.commit()
                    extra.append((key, plaintext))
                    with self.lock:
                        self.churned.append(plaintext)
                    self.churn["created"] += 1
                    if len(extra) > 3:
                        old, old_plaintext = extra.pop(0)
                        self.churn["deleted"] += actions.deactivate(old, by=admin)  # committed when it returns
                        with self.lock:
                            self.deleted_at[old_plaintext] = time.monotonic()
                except Exception as error:  # noqa: BLE001  (counted and reported; the run then fails)
                    db.session.rollback()
                    with self.lock:
                        self.errors[f"churn {type(error).__name__}"] += 1

    def run(self) -> int:
        self.create_schema()
        process = None
        try:
            app = self.app()
            self.seed(app)
            process = self.start_gunicorn()
            for _ in range(4 * self.args.workers):  # warm up: every worker has imported the app and connected
                self.get(PATHS[0], self.keys[0])
            threads = [threading.Thread(target=self.client, args=(index,), daemon=True)
                       for index in range(self.args.clients)]
            threads.append(threading.Thread(target=self.churner, args=(app,), daemon=True))
            started = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(self.args.seconds)
            self.stop.set()
            for thread in threads:
                thread.join(60)
            elapsed = time.monotonic() - started
            return self.report(elapsed)
        finally:
            if process is not None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
            try:
                from floqast.extensions import db

                with app.app_context():
                    db.engine.dispose()
            except Exception:  # noqa: BLE001
                pass
            self.drop_schema()

    def report(self, elapsed: float) -> int:
        total = sum(self.statuses.values())
        latencies = sorted(self.latencies)

        def percentile(fraction: float) -> float:
            return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000 if latencies else 0.0

        print(f"soak: {self.args.clients} clients, {self.args.workers} gunicorn workers, {elapsed:.1f} s, "
              f"{total} requests ({total / elapsed:.0f}/s)")
        print("status counts: " + ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items())))
        if latencies:
            print(f"latency ms: p50 {percentile(0.50):.1f}, p90 {percentile(0.90):.1f}, p99 {percentile(0.99):.1f}, "
                  f"max {latencies[-1] * 1000:.1f}, mean {statistics.fmean(latencies) * 1000:.1f}")
        print(f"keys created {self.churn['created']}, deleted {self.churn['deleted']} while pulling")
        unexpected = {status: count for status, count in self.statuses.items() if status not in EXPECTED}
        if unexpected or self.errors or self.violations:
            print(f"FAILED: unexpected statuses {unexpected}, errors {dict(self.errors)}, "
                  f"wrong answers {dict(self.violations)}")
            return 1
        print("ok: no answer other than 200, 401 (deleted keys) and 429; no deleted key accepted after its delete, "
              "no working key refused")
        return 0


def main() -> int:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        print("bench/soak.py needs DATABASE_URL=postgresql://... (it makes and drops a schema of its own there)",
              file=sys.stderr)
        return 2
    if urlsplit(database_url).scheme == "postgres":
        database_url = "postgresql://" + database_url.split("://", 1)[1]
    return Soak(args, database_url).run()


if __name__ == "__main__":
    sys.exit(main())

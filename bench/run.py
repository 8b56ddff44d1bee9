"""Benchmarks of the service, as ratios taken side by side in one run: `python -m bench [--quick] [--rows N]`.

It makes a scratch database (a SQLite file in a temporary folder, or, when DATABASE_URL is set, schemas of
its own in that PostgreSQL database, dropped at the end), loads it with the generator, starts the app under
gunicorn on a free loopback port, and measures:

1. auth overhead: GET /api/v1/me with a valid key against GET /healthz, same server, same load generator;
2. key check cost: in-process verification with 10 keys in the database against 1,000,000;
3. export speed: CSV export over HTTP against the driver alone + csv.writer, and the server's peak RSS;
4. deep pages: the last page of a cursor walk against the first one, at page size 1000;
5. the API Keys tab: server time with 1,000 keys in the team against 10.

Every goal is a ratio; the raw figures are printed beside it and written to bench/results/*.json.
"""

import argparse
import csv
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SECRET_KEY = "bench-secret-key-" + "x" * 32
PEPPER = "bench-pepper-" + "y" * 32
ENTITIES = 10  # the 100,000-row export is one entity's rows out of ten
PAGE_SIZE = 1000
TEAM = "Bench Corp"


@dataclass
class Sizes:
    rows: int
    keys: int
    load_seconds: float
    load_requests: int
    rounds: int
    export_rounds: int
    page_rounds: int

    @property
    def months(self) -> int:
        return 20 if self.rows >= 200_000 else 4

    @property
    def accounts(self) -> int:
        return max(1, self.rows // (ENTITIES * self.months))


def sizes(quick: bool, rows: int | None, keys: int | None) -> Sizes:
    if quick:
        chosen = Sizes(rows=20_000, keys=10_000, load_seconds=2.0, load_requests=50_000, rounds=3,
                       export_rounds=3, page_rounds=7)
    else:
        chosen = Sizes(rows=1_000_000, keys=1_000_000, load_seconds=5.0, load_requests=200_000, rounds=5,
                       export_rounds=1, page_rounds=11)
    if rows:
        chosen.rows = rows
    if keys:
        chosen.keys = keys
    return chosen


# ---------------------------------------------------------------------------------------------- databases


class Databases:
    """The scratch databases: main (the served app), keys-small and keys-large (the key check)."""

    def __init__(self, temp: Path):
        self.base = os.environ.get("DATABASE_URL")
        self.temp = temp
        self.schemas: list[str] = []
        if self.base:
            if not self.base.startswith(("postgres://", "postgresql://")):
                raise SystemExit("bench: DATABASE_URL must be a postgresql:// URL (or unset for SQLite)")
            self.kind = "postgresql"
            self.plain = "postgresql://" + self.base.split("://", 1)[1]
        else:
            self.kind = "sqlite"

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.temp / (name + '.sqlite')}"
        schema = self.schema(name)
        separator = "&" if "?" in self.plain else "?"
        return f"{self.plain}{separator}options={quote('-csearch_path=' + schema)}"

    def schema(self, name: str) -> str:
        return f"bench_{os.getpid()}_{name.replace('-', '_')}"

    def create(self, name: str) -> None:
        if self.kind == "postgresql":
            import psycopg

            schema = self.schema(name)
            with psycopg.connect(self.plain, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                connection.execute(f'CREATE SCHEMA "{schema}"')
            self.schemas.append(schema)

    def connect(self, name: str):
        """A plain driver connection (sqlite3 or psycopg), for the baseline and bulk loads."""
        if self.kind == "sqlite":
            import sqlite3

            return sqlite3.connect(self.temp / (name + ".sqlite"))
        import psycopg

        return psycopg.connect(self.plain, options=f"-csearch_path={self.schema(name)}")

    def drop(self) -> None:
        if self.kind == "postgresql" and self.schemas:
            import psycopg

            with psycopg.connect(self.plain, autocommit=True) as connection:
                for schema in self.schemas:
                    connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            self.schemas.clear()


def bench_config(url: str, temp: Path):
    from floqast.config import Config, database_url

    return type("BenchConfig", (Config,), {
        "SQLALCHEMY_DATABASE_URI": database_url(url),
        "SECRET_KEY": SECRET_KEY,
        "API_KEY_PEPPER": PEPPER,
        "INSTANCE_PATH": str(temp / "instance"),
        "BCRYPT_ROUNDS": 4,
    })


def make_app(url: str, temp: Path):
    from floqast import create_app
    from floqast.extensions import db

    app = create_app(bench_config(url, temp))
    with app.app_context():
        db.create_all()
    return app


def make_team(name: str, email: str):
    """A team with Open API on and its admin; call inside an app context."""
    from floqast.extensions import db
    from floqast.models import Role, Team, User

    team = Team(name=name, open_api_enabled=True, timezone="UTC")
    admin = User(team=team, role=Role.ADMIN, email=email, name=f"Admin of {name}")
    admin.set_password("bench password", 4)
    db.session.add_all([team, admin])
    db.session.commit()
    return team, admin


def issue_keys(admin, count: int, prefix: str = "Key") -> list[str]:
    """`count` real keys (a mix of statuses past the first 10), committed; their plaintexts."""
    from datetime import date, timedelta

    from floqast.extensions import db
    from floqast.models import ApiKey, Service, utcnow

    plaintexts = []
    for number in range(count):
        expires = date.today() + timedelta(days=90)
        if number >= 10 and number % 10 == 3:
            expires = date.today() - timedelta(days=5)
        key, plaintext = ApiKey.issue(creator=admin, name=f"{prefix} {number}", services=list(Service),
                                      expires_on=expires, pepper=PEPPER.encode())
        if number >= 10 and number % 10 == 7:
            key.deleted_at, key.deleted_by_id = utcnow(), admin.id
        db.session.add(key)
        plaintexts.append(plaintext)
    db.session.commit()
    return plaintexts


def filler_keys(team_id: int, admin_id: int, count: int, batch: int = 20_000) -> None:
    """`count` more key rows with random digests, inserted in bulk (executemany), not one ORM object each."""
    from sqlalchemy import insert

    from floqast.extensions import db
    from floqast.models import ApiKey, utcnow

    now = utcnow()
    table = ApiKey.__table__
    done = 0
    while done < count:
        size = min(batch, count - done)
        rows = [
            {"team_id": team_id, "name": f"Filler {done + i}", "hint": "fq_" + digest[:4],
             "digest": digest, "services": ["reconciliations"], "created_by_id": admin_id, "created_at": now}
            for i, digest in ((i, os.urandom(32).hex()) for i in range(size))
        ]
        db.session.execute(insert(table), rows)
        db.session.commit()
        done += size


# ---------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn on a free loopback port, started and stopped by the benchmark."""

    def __init__(self, env: dict, worker_class: str, workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.env = env
        self.command = [
            sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", worker_class,
            "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "--timeout", "300", "wsgi:app",
        ]
        if worker_class == "gthread":
            self.command[-1:-1] = ["--threads", str(threads)]
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited with {self.process.returncode}")
            try:
                status, _ = get(self.port, "/healthz")
                if status == 200 and len(self.workers()) > 0:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("bench: gunicorn did not answer /healthz within 30 s")

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            return [int(pid) for pid in children.read_text().split()]
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def get(port: int, path: str, headers: dict | None = None, connection=None) -> tuple[int, bytes]:
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        if own:
            connection.close()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """The highest RSS of any gunicorn worker while a block runs, sampled every 20 ms from /proc."""

    def __init__(self, server: Server):
        self.server, self.peak, self.stop = server, 0, threading.Event()

    def __enter__(self):
        self.pids = self.server.workers()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self):
        while not self.stop.is_set():
            self.peak = max([self.peak, *(rss_kib(pid) for pid in self.pids)])
            self.stop.wait(0.02)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# ---------------------------------------------------------------------------------------------- measures


@dataclass
class Result:
    number: int
    name: str
    measured: str
    baseline: str
    ratio: float
    goal: str
    met: bool
    raw: dict = field(default_factory=dict)


WRK_SCRIPT = """
local budget = tonumber(os.getenv("BENCH_REQUESTS_PER_THREAD") or "100000")
local count = 0
response = function(status, headers, body)
  count = count + 1
  if count >= budget then wrk.thread:stop() end
end
"""


def wrk_duration_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def worker_cpu_seconds(server: "Server") -> float:
    """User + system CPU time used so far by the gunicorn workers, from /proc."""
    total = 0
    for pid in server.workers():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def load(url: str, headers: dict, sizes: Sizes, temp: Path, tool: str) -> dict:
    """One bounded load run in a separate process: wrk when installed, else bench.load."""
    timeout = sizes.load_seconds + 30
    if tool == "wrk":
        threads, connections = 2, 8
        script = temp / "bounded.lua"
        script.write_text(WRK_SCRIPT)
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(sizes.load_seconds))}s",
                   "--latency", "-s", str(script)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        env = {**os.environ, "BENCH_REQUESTS_PER_THREAD": str(sizes.load_requests // threads)}
        output = subprocess.run(command + [url], capture_output=True, text=True, timeout=timeout, env=env,
                                check=True).stdout
        requests = int(re.search(r"(\d+) requests in", output).group(1))
        errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
        errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
        return {
            "tool": "wrk", "requests": requests, "errors": errors,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": wrk_duration_ms(re.search(r"\s50%\s+(\S+)", output).group(1)),
            "p99_ms": wrk_duration_ms(re.search(r"\s99%\s+(\S+)", output).group(1)),
        }
    command = [sys.executable, "-m", "bench.load", url, "--threads", "4", "--requests", str(sizes.load_requests),
               "--seconds", str(sizes.load_seconds)]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True).stdout
    return json.loads(output)


def auth_overhead(server: Server, key: str, sizes: Sizes, temp: Path, tool: str) -> Result:
    targets = {"me": ("/api/v1/me", {"x-api-key": key}), "health": ("/healthz", {})}
    for path, headers in targets.values():  # warm both workers and the key's Last used
        for _ in range(20):
            status, _ = get(server.port, path, headers)
            assert status == 200, (path, status)
    runs = {name: [] for name in targets}
    for _ in range(sizes.rounds):
        for name, (path, headers) in targets.items():
            cpu = worker_cpu_seconds(server)
            run = load(server.url + path, headers, sizes, temp, tool)
            run["worker_cpu_us"] = (worker_cpu_seconds(server) - cpu) / max(1, run["requests"]) * 1e6
            runs[name].append(run)
    for name, found in runs.items():
        if any(run["errors"] for run in found):
            raise SystemExit(f"bench: errors under load on {name}: {found}")
    # Best round of each (timeit's rule: a shared machine's noise only ever takes away); all rounds in raw.
    summary = {name: {
        "rps": max(run["rps"] for run in found),
        "p50_ms": min(run["p50_ms"] for run in found),
        "p99_ms": min(run["p99_ms"] for run in found),
        "worker_cpu_us": min(run["worker_cpu_us"] for run in found),
        "requests": sum(run["requests"] for run in found),
    } for name, found in runs.items()}
    ratio = summary["me"]["rps"] / summary["health"]["rps"]

    def text(figures):
        return (f"{figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                f"{figures['worker_cpu_us']:,.0f} µs CPU/req")

    return Result(1, "Auth overhead: /api/v1/me vs /healthz (throughput)", text(summary["me"]),
                  text(summary["health"]), ratio, ">= 0.8", ratio >= 0.8,
                  {"tool": tool, "rounds": runs, "summary": summary})


def key_check(databases: Databases, temp: Path, sizes: Sizes, log) -> Result:
    from floqast.api.auth import verify
    from floqast.extensions import db

    apps, plaintexts = {}, {}
    for name, count in (("keys-small", 10), ("keys-large", sizes.keys)):
        databases.create(name)
        app = apps[name] = make_app(databases.url(name), temp)
        with app.app_context():
            team, admin = make_team("Key Check", "admin@keycheck.test")
            started = time.perf_counter()
            filler_keys(team.id, admin.id, (count - 10) // 2)
            plaintexts[name] = issue_keys(admin, 10)  # the keys checked sit among the filler, not at one end
            filler_keys(team.id, admin.id, count - 10 - (count - 10) // 2)
            if databases.kind == "postgresql":
                db.session.execute(db.text("ANALYZE api_keys"))
                db.session.commit()
            total = db.session.scalar(db.text("SELECT count(*) FROM api_keys"))
            log(f"  {name}: {total:,} keys in {time.perf_counter() - started:.1f} s")
    checks = 200
    per_check = {name: [] for name in apps}
    for round_number in range(sizes.rounds * 2 + 1):
        for name, app in apps.items():
            with app.app_context():
                started = time.perf_counter()
                for _ in range(checks // 10):
                    for plaintext in plaintexts[name]:
                        verify(plaintext)
                        db.session.remove()
                elapsed = time.perf_counter() - started
            if round_number:  # the first round warms caches and compiles statements
                per_check[name].append(elapsed / checks * 1e6)
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()
    small, large = (min(per_check[name]) for name in ("keys-small", "keys-large"))  # best round of each
    ratio = large / small
    return Result(2, f"Key check: {sizes.keys:,} keys vs 10 (in-process verify)", f"{large:.0f} µs/check",
                  f"{small:.0f} µs/check", ratio, "<= 1.2", ratio <= 1.2,
                  {"keys": sizes.keys, "us_per_check": per_check})


def baseline_export(databases: Databases, team_id: int, rows: int) -> float:
    """Seconds to read the team's reconciliations with the driver alone and write them with csv.writer."""
    placeholder = "?" if databases.kind == "sqlite" else "%s"
    query = ("SELECT r.*, e.name, f.name FROM reconciliations r JOIN entities e ON e.id = r.entity_id "
             f"JOIN folders f ON f.id = r.folder_id WHERE r.team_id = {placeholder} ORDER BY r.id")
    connection = databases.connect("main")
    try:
        started = time.perf_counter()
        if databases.kind == "sqlite":
            cursor = connection.execute(query, (team_id,))
        else:
            cursor = connection.cursor(name="bench_baseline")
            cursor.itersize = 1000
            cursor.execute(query, (team_id,))
        written = 0
        with open(os.devnull, "w", newline="") as sink:
            writer = csv.writer(sink)
            writer.writerow([column[0] for column in cursor.description])
            for row in cursor:
                writer.writerow(row)
                written += 1
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    assert written == rows, (written, rows)
    return elapsed


def http_export(server: Server, key: str, query: str = "") -> tuple[float, int, int]:
    """Seconds, data lines and peak worker RSS (KiB) of one streamed CSV export."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    with RssSampler(server) as sampler:
        started = time.perf_counter()
        connection.request("GET", "/api/v1/analytics/reconciliations" + query,
                           headers={"x-api-key": key, "Accept": "text/csv"})
        response = connection.getresponse()
        assert response.status == 200, response.status
        lines = 0
        while chunk := response.read(1 << 20):
            lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, lines - 1, sampler.peak


def export_speed(server: Server, databases: Databases, key: str, team_id: int, entity_id: int, rows: int,
                 sizes: Sizes) -> list[Result]:
    part_rows = None
    part_peaks, http_times, base_times = [], [], []
    for _ in range(sizes.export_rounds):
        _, part_rows, peak = http_export(server, key, f"?filter%5BentityIds%5D={entity_id}")
        part_peaks.append(peak)
        base_times.append(baseline_export(databases, team_id, rows))
        elapsed, lines, peak_all = http_export(server, key)
        assert lines == rows, (lines, rows)
        http_times.append((elapsed, peak_all))
    http_best = min(elapsed for elapsed, _ in http_times)
    peak_all = max(peak for _, peak in http_times)
    peak_part = max(part_peaks)
    base_best = min(base_times)
    speed, base_speed = rows / http_best, rows / base_best
    ratio = speed / base_speed
    memory = peak_all / peak_part
    return [
        Result(3, f"Export: CSV of {rows:,} rows over HTTP vs driver + csv.writer",
               f"{speed:,.0f} rows/s ({http_best:.1f} s)", f"{base_speed:,.0f} rows/s ({base_best:.1f} s)",
               ratio, ">= 0.5", ratio >= 0.5, {"http_seconds": http_times, "baseline_seconds": base_times}),
        Result(3, f"Export memory: worker peak RSS, {rows:,} vs {part_rows:,} rows",
               f"{peak_all / 1024:.1f} MiB", f"{peak_part / 1024:.1f} MiB", memory, "<= 1.3", memory <= 1.3,
               {"peak_kib_all": peak_all, "peak_kib_part": peak_part, "part_rows": part_rows}),
    ]


def deep_pages(server: Server, databases: Databases, key: str, team_id: int, rows: int, sizes: Sizes) -> Result:
    """The first page and the last page of the walk, timed alternately on one keep-alive connection.

    The last page's cursor is the one the walk would hand out there (the bench knows the app's secret), so the
    1,000 pages in between need not be fetched.
    """
    from floqast.analytics.cursor import Cursors
    from floqast.analytics.params import Filters

    placeholder = "?" if databases.kind == "sqlite" else "%s"
    connection = databases.connect("main")
    try:
        cursor = connection.cursor()
        cursor.execute(f"SELECT id FROM reconciliations WHERE team_id = {placeholder} ORDER BY id "
                       f"LIMIT 1 OFFSET {placeholder}", (team_id, rows - PAGE_SIZE - 1))
        after_id = cursor.fetchone()[0]
    finally:
        connection.close()
    token = Cursors(SECRET_KEY, "reconciliations").encode(Filters().key, after_id)
    paths = {
        "first": f"/api/v1/analytics/reconciliations?page%5Bsize%5D={PAGE_SIZE}",
        "last": f"/api/v1/analytics/reconciliations?page%5Bsize%5D={PAGE_SIZE}&page%5Bcursor%5D={token}",
    }
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    times = {name: [] for name in paths}
    try:
        for round_number in range(sizes.page_rounds + 1):
            for name, path in paths.items():
                started = time.perf_counter()
                status, body = get(server.port, path, {"x-api-key": key}, connection)
                elapsed = time.perf_counter() - started
                assert status == 200, (name, status, body[:200])
                page = json.loads(body)
                assert len(page["data"]) == PAGE_SIZE and (("next" in page["links"]) == (name == "first"))
                if round_number:
                    times[name].append(elapsed * 1000)
    finally:
        connection.close()
    first, last = min(times["first"]), min(times["last"])  # best of the alternating rounds
    ratio = last / first
    return Result(4, f"Deep pages: last vs first page of {rows:,} rows (size {PAGE_SIZE})",
                  f"{last:.1f} ms", f"{first:.1f} ms", ratio, "<= 1.5", ratio <= 1.5, {"ms": times})


def key_page(app, sizes: Sizes) -> Result:
    """Server time of GET /settings/api-keys for a team with 1,000 keys and one with 10, in-process."""
    from floqast.extensions import db

    clients = {}
    for count in (10, 1000):
        with app.app_context():
            _, admin = make_team(f"Keys {count}", f"admin{count}@keys.test")
            issue_keys(admin, count)
            user_id = admin.id
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = str(user_id), True
        clients[count] = client
    times = {count: [] for count in clients}
    for round_number in range(sizes.page_rounds * 2 + 1):
        for count, client in clients.items():
            started = time.perf_counter()
            response = client.get("/settings/api-keys")
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.status_code
            if round_number:
                times[count].append(elapsed * 1000)
    with app.app_context():
        db.engine.dispose()
    small, large = min(times[10]), min(times[1000])  # best of the alternating rounds
    ratio = large / small
    return Result(5, "API Keys tab: 1,000 keys vs 10 (server time)", f"{large:.1f} ms", f"{small:.1f} ms",
                  ratio, "<= 2", ratio <= 2, {"ms": times})


# ---------------------------------------------------------------------------------------------- the run


def table(results: list[Result]) -> str:
    headers = ("#", "benchmark", "measured", "against", "ratio", "goal", "")
    lines = [(str(r.number), r.name, r.measured, r.baseline, f"{r.ratio:.2f}", r.goal, "met" if r.met else "MISSED")
             for r in results]
    widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(headers, widths)).rstrip()]
    out.append("  ".join("-" * width for width in widths))
    out += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in lines]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the service; every goal is a ratio taken in one run.")
    parser.add_argument("--quick", action="store_true", help="small sizes and short loads (CI, ~1 minute)")
    parser.add_argument("--rows", type=int, help="reconciliations to generate (default 1,000,000; quick 20,000)")
    parser.add_argument("--keys", type=int, help="keys for the key check (default 1,000,000; quick 10,000)")
    parser.add_argument("--load-tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync",
                        help="gunicorn workers: sync, as the README runs it in production (default), or gthread "
                             "(4 threads each)")
    parser.add_argument("--output", type=Path, help="JSON results file (default bench/results/<time>.json)")
    args = parser.parse_args(argv)
    chosen = sizes(args.quick, args.rows, args.keys)
    if chosen.rows < 2 * PAGE_SIZE + 1:
        parser.error("--rows must be at least 2,001")
    tool = args.load_tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"

    def log(message: str) -> None:
        print(message, flush=True)

    temp = Path(tempfile.mkdtemp(prefix="floqast-bench-"))
    databases = Databases(temp)
    server = None
    began = time.perf_counter()
    # The app reads its settings from the environment: gunicorn and the generator get the same as the bench.
    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "API_KEY_PEPPER": PEPPER,
           "FLOQAST_INSTANCE_PATH": str(temp / "instance"), "DATABASE_URL": databases.url("main"),
           # The load runs far past a client's rate limit on purpose: measure the work, not the 429s.
           "API_RATE_LIMIT": "100000000 per minute", "LOGIN_RATE_LIMIT": "100000000 per minute"}
    env.pop("FLOQAST_DEMO", None)
    try:
        log(f"bench: {'quick' if args.quick else 'full'} run on {databases.kind}, {chosen.rows:,} rows, "
            f"{chosen.keys:,} keys, gunicorn {args.worker_class} workers, load by {tool}; scratch in {temp}")
        databases.create("main")
        app = make_app(databases.url("main"), temp)
        from floqast.extensions import db
        from floqast.models import Service

        with app.app_context():
            team, admin = make_team(TEAM, "admin@bench.test")
            from floqast.models import ApiKey

            key_row, api_key = ApiKey.issue(creator=admin, name="Bench", services=list(Service), expires_on=None,
                                            pepper=PEPPER.encode())
            db.session.add(key_row)
            db.session.commit()
            team_id = team.id

        log(f"generating {chosen.rows:,} reconciliations ({ENTITIES} entities x {chosen.accounts} accounts x "
            f"{chosen.months} months) ...")
        started = time.perf_counter()
        generated = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "analytics", "generate", "--team", TEAM,
             "--entities", str(ENTITIES), "--accounts", str(chosen.accounts), "--months", str(chosen.months),
             "--seed", "1", "--through", "2025-12"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
        )
        if generated.returncode:
            raise SystemExit(f"bench: the generator failed:\n{generated.stdout}\n{generated.stderr}")
        generate_seconds = time.perf_counter() - started
        log("  " + generated.stdout.strip().splitlines()[-1])
        with app.app_context():
            from sqlalchemy import func, select

            from floqast.analytics.models import Entity, Reconciliation

            rows = db.session.scalar(select(func.count()).select_from(Reconciliation)
                                     .where(Reconciliation.team_id == team_id))
            entity_id = db.session.scalar(select(func.min(Entity.id)).where(Entity.team_id == team_id))
            if databases.kind == "postgresql":
                db.session.execute(db.text("ANALYZE"))
                db.session.commit()

        results: list[Result] = []
        log("2. key check ...")
        results.append(key_check(databases, temp, chosen, log))
        log("5. API Keys tab ...")
        results.append(key_page(app, chosen))
        with app.app_context():
            db.engine.dispose()

        server = Server(env, args.worker_class)
        server.start()
        log(f"gunicorn on {server.url}, workers {server.workers()}")
        log("1. auth overhead ...")
        results.insert(0, auth_overhead(server, api_key, chosen, temp, tool))
        log("3. export ...")
        results[2:2] = export_speed(server, databases, api_key, team_id, entity_id, rows, chosen)
        log("4. deep pages ...")
        results.insert(4, deep_pages(server, databases, api_key, team_id, rows, chosen))

        log("")
        log(table(results))
        total = time.perf_counter() - began
        log(f"\n{sum(r.met for r in results)} of {len(results)} goals met; generator {generate_seconds:.1f} s; "
            f"whole run {total:.0f} s")
        document = {
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "database": databases.kind,
            "load_tool": tool,
            "worker_class": args.worker_class,
            "rows": rows,
            "keys": chosen.keys,
            "cpus": os.cpu_count(),
            "generate_seconds": generate_seconds,
            "generator_output": generated.stdout.strip().splitlines()[-1],
            "seconds": total,
            "results": [vars(result) for result in results],
        }
        output = args.output or RESULTS / (
            f"bench-{document['mode']}-{databases.kind}-{datetime.now():%Y%m%d-%H%M%S}.json")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=2, default=str) + "\n")
        log(f"results written to {output}")
        return 0
    finally:
        if server:
            server.stop()
        databases.drop()
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

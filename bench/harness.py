"""What every benchmark shares: sizes, the scratch databases, the app's data, gunicorn, the load generator
and the table of ratios against their goals."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-secret-key-" + "x" * 32
PEPPER = "bench-pepper-" + "y" * 32
ENTITIES = 10  # the memory ratio's smaller export is one entity's rows: a tenth of them
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
    revocations: int  # keys deactivated one at a time for the revocation latency (revocation.kinds splits them)
    log_rows: int = 1_000_000  # the API request log at scale (log_scale)
    busy_key_rows: int = 100_000  # a key's requests in its last 24 hours, for its page
    prune_rows: int = 300_000  # a month past retention, for prune
    prune_rounds: int = 5  # prune's alternate rounds of each size, each on a fresh log

    @property
    def months(self) -> int:
        return 20 if self.rows >= 200_000 else 4

    @property
    def accounts(self) -> int:
        return max(1, self.rows // (ENTITIES * self.months))


def sizes(quick: bool, rows: int | None, keys: int | None, log_rows: int | None = None) -> Sizes:
    if quick:
        # Enough rows for a full 30,000-record JSON page (export's memory row): 10 entities x 800 accounts x 4.
        chosen = Sizes(rows=32_000, keys=10_000, load_seconds=2.0, load_requests=50_000, rounds=3,
                       export_rounds=3, page_rounds=7, revocations=20)
    else:
        chosen = Sizes(rows=1_000_000, keys=1_000_000, load_seconds=5.0, load_requests=200_000, rounds=5,
                       export_rounds=1, page_rounds=11, revocations=60, log_rows=10_000_000,
                       busy_key_rows=1_000_000, prune_rows=3_000_000, prune_rounds=3)
    if rows:
        chosen.rows = rows
    if keys:
        chosen.keys = keys
    if log_rows:
        chosen.log_rows = log_rows
    return chosen


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


def table(results: list[Result]) -> str:
    headers = ("#", "benchmark", "measured", "against", "ratio", "goal", "")
    lines = [(str(r.number), r.name, r.measured, r.baseline, f"{r.ratio:.2f}", r.goal, "met" if r.met else "MISSED")
             for r in results]
    widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(headers, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * width for width in widths))
    out += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in lines]
    return "\n".join(out)


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

    @property
    def placeholder(self) -> str:
        """The driver's query parameter marker."""
        return "?" if self.kind == "sqlite" else "%s"

    def url(self, name: str) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.temp / (name + '.sqlite')}"
        schema = self.schema(name)
        separator = "&" if "?" in self.plain else "?"
        return f"{self.plain}{separator}options={quote('-csearch_path=' + schema)}"

    def schema(self, name: str) -> str:
        return f"bench_{os.getpid()}_{name.replace('-', '_')}"

    def create(self, name: str) -> None:
        """An empty database of that name (one made before is dropped)."""
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                (self.temp / f"{name}.sqlite{suffix}").unlink(missing_ok=True)
            return
        import psycopg

        schema = self.schema(name)
        with psycopg.connect(self.plain, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            connection.execute(f'CREATE SCHEMA "{schema}"')
        if schema not in self.schemas:
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


# ---------------------------------------------------------------------------------------------- the app's data


def bench_config(url: str, temp: Path):
    from floqast.config import database_url

    return type("BenchConfig", (), {
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
    from floqast.accounts.models import Role, Team, User
    from floqast.extensions import db

    team = Team(name=name, open_api_enabled=True, timezone="UTC")
    admin = User(team=team, role=Role.ADMIN, email=email, name=f"Admin of {name}")
    admin.set_password("bench password", 4)
    db.session.add_all([team, admin])
    db.session.commit()
    return team, admin


def issue_keys(admin, count: int, prefix: str = "Key") -> list[str]:
    """`count` real keys (a mix of statuses past the first 10), committed; their plaintexts."""
    from datetime import date, timedelta

    from floqast.columns import utcnow
    from floqast.extensions import db
    from floqast.keys.models import ApiKey, Service

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


def generate(env: dict, sizes: Sizes) -> str:
    """Load the team's reconciliations with `flask analytics generate`, in a process of its own; its last line."""
    generated = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "analytics", "generate", "--team", TEAM,
         "--entities", str(ENTITIES), "--accounts", str(sizes.accounts), "--months", str(sizes.months),
         "--seed", "1", "--through", "2025-12"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
    )
    if generated.returncode:
        raise SystemExit(f"bench: the generator failed:\n{generated.stdout}\n{generated.stderr}")
    return generated.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn on a free loopback port, started and stopped by the benchmark.

    production: as the README runs it, `gunicorn -c gunicorn.conf.py wsgi:app` (its sync workers, WEB_CONCURRENCY
    of them, 4 by default), bound by GUNICORN_BIND. `options`: more gunicorn flags (the access log).
    """

    def __init__(self, env: dict, worker_class: str, workers: int = 2, threads: int = 4, production: bool = False,
                 options: tuple[str, ...] = ()):
        self.port = free_port()
        self.env = env
        if production:
            self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
            self.command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--log-level", "warning",
                            *options, "wsgi:app"]
        else:
            self.command = [
                sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", worker_class,
                "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "--timeout", "300", *options, "wsgi:app",
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


# ---------------------------------------------------------------------------------------------- the load


def worker_cpu_seconds(server: Server) -> float:
    """User + system CPU time used so far by the gunicorn workers, from /proc."""
    total = 0
    for pid in server.workers():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def side_by_side(server: Server, targets: dict, sizes: Sizes, temp: Path, tool: str,
                 rounds: int | None = None) -> tuple[dict, dict]:
    """Load each of `targets` ({name: (path, headers)}) on `server` in alternating rounds (side_by_side_on)."""
    return side_by_side_on({name: (server, path, headers) for name, (path, headers) in targets.items()}, sizes, temp,
                           tool, rounds)


def side_by_side_on(targets: dict, sizes: Sizes, temp: Path, tool: str, rounds: int | None = None) -> tuple[dict, dict]:
    """Load each of `targets` ({name: (server, path, headers)}) in alternating rounds, in turn first and last; the best
    figures of each, and every round's (timeit's rule: a shared machine's noise only ever takes away)."""
    for server, path, headers in targets.values():  # warm the workers and the keys' Last used
        for _ in range(20):
            status, _ = get(server.port, path, headers)
            assert status == 200, (path, status)
    runs = {name: [] for name in targets}
    for number in range(rounds or sizes.rounds):
        # ABBA: each round in the other order, so that whatever favours going first or second (a server that
        # idled while the other was loaded, the machine's drift) falls on every target alike.
        for name in list(targets)[::-1 if number % 2 else 1]:
            server, path, headers = targets[name]
            cpu = worker_cpu_seconds(server)
            run = load(server.url + path, headers, sizes, temp, tool)
            run["worker_cpu_us"] = (worker_cpu_seconds(server) - cpu) / max(1, run["requests"]) * 1e6
            runs[name].append(run)
    for name, found in runs.items():
        if any(run["errors"] for run in found):
            raise SystemExit(f"bench: errors under load on {name}: {found}")
    summary = {name: {
        "rps": max(run["rps"] for run in found),
        "p50_ms": min(run["p50_ms"] for run in found),
        "p99_ms": min(run["p99_ms"] for run in found),
        "worker_cpu_us": min(run["worker_cpu_us"] for run in found),
        "requests": sum(run["requests"] for run in found),
    } for name, found in runs.items()}
    return summary, runs


def figures_text(figures: dict) -> str:
    return (f"{figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
            f"{figures['worker_cpu_us']:,.0f} µs CPU/req")


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

"""1. Auth overhead: GET /api/v1/me with a valid key against GET /healthz, same server, same load generator."""

import os
from pathlib import Path

from bench.harness import Result, Server, Sizes, get, load


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


def measure(server: Server, key: str, sizes: Sizes, temp: Path, tool: str) -> Result:
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

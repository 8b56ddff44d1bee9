"""1. Auth overhead: GET /api/v1/me with a valid key against GET /healthz, same server, same load generator.

The goal is issue 16's: a keyed pull as cheap as an unkeyed one, within 10%, on SQLite and in the production shape.
"""

from pathlib import Path

from bench.harness import Result, Server, Sizes, figures_text, side_by_side


def measure(server: Server, key: str, sizes: Sizes, temp: Path, tool: str) -> Result:
    targets = {"me": ("/api/v1/me", {"x-api-key": key}), "health": ("/healthz", {})}
    summary, runs = side_by_side(server, targets, sizes, temp, tool)
    ratio = summary["me"]["rps"] / summary["health"]["rps"]
    return Result(1, "Auth overhead: /api/v1/me vs /healthz (throughput)", figures_text(summary["me"]),
                  figures_text(summary["health"]), ratio, ">= 0.9", ratio >= 0.9,
                  {"tool": tool, "rounds": runs, "summary": summary})

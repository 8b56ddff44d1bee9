"""6. Allowed IP addresses: keyed pulls (GET /api/v1/me) with a key that allows 20 ranges against a key that
allows any address, same server, same load generator."""

from pathlib import Path

from bench.harness import Result, Server, Sizes, figures_text, side_by_side

# The load comes from loopback: 19 ranges that do not hold it, then the one that does (checked last).
RANGES = [f"10.{number}.0.0/16" for number in range(19)] + ["127.0.0.0/8"]


def measure(server: Server, key: str, allowlisted_key: str, sizes: Sizes, temp: Path, tool: str) -> Result:
    targets = {"allowlist": ("/api/v1/me", {"x-api-key": allowlisted_key}),
               "any address": ("/api/v1/me", {"x-api-key": key})}
    summary, runs = side_by_side(server, targets, sizes, temp, tool)
    ratio = summary["allowlist"]["rps"] / summary["any address"]["rps"]
    return Result(6, f"Allowed IPs: keyed pull throughput, {len(RANGES)} ranges on the key vs none",
                  figures_text(summary["allowlist"]), figures_text(summary["any address"]), ratio, ">= 0.97",
                  ratio >= 0.97, {"tool": tool, "rounds": runs, "summary": summary})

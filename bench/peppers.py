"""17. Pepper rotation: keyed pulls (GET /api/v1/me) from a gunicorn with two peppers configured (API_KEY_PEPPER and
API_KEY_PEPPERS, the key under the old one, as in a rotation) against one with API_KEY_PEPPER alone: two gunicorns
of the same shape, loaded in alternate rounds."""

from pathlib import Path

from bench.harness import Result, Server, Sizes, figures_text, side_by_side_on

ME = "/api/v1/me"
NEW_PEPPER = "2:bench-new-pepper-" + "z" * 32


def measure(env: dict, worker_class: str, key: str, sizes: Sizes, temp: Path, tool: str) -> Result:
    servers = {"one pepper": Server({**env, "API_KEY_PEPPERS": ""}, worker_class),
               "two peppers": Server({**env, "API_KEY_PEPPERS": NEW_PEPPER}, worker_class)}
    try:
        for server in servers.values():
            server.start()
        # An even number of rounds: each server goes first as often as last (two servers, one idle while the other
        # is loaded, favour one place in a round by more than the 3 % this row looks for).
        summary, runs = side_by_side_on({name: (server, ME, {"x-api-key": key}) for name, server in servers.items()},
                                        sizes, temp, tool, rounds=sizes.rounds + sizes.rounds % 2)
    finally:
        for server in servers.values():
            server.stop()
    ratio = summary["two peppers"]["rps"] / summary["one pepper"]["rps"]
    return Result(17, "Pepper rotation: keyed pull throughput, two peppers configured vs one",
                  figures_text(summary["two peppers"]), figures_text(summary["one pepper"]), ratio, ">= 0.97",
                  ratio >= 0.97, {"tool": tool, "rounds": runs, "summary": summary})

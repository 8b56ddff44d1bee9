"""11. Keys limited to entities: a page of reconciliations pulled with a key limited to 20 entities (the team's 10 with
records among them, so both keys get the same records) against a key that reads every entity, same server, same load
generator."""

from pathlib import Path

from bench.harness import Result, Server, Sizes, figures_text, side_by_side

ENTITIES = 20
# A page as a BI connector's incremental pull asks for it: small enough that the key's checks are a visible share.
PATH = "/api/v1/analytics/reconciliations?page[size]=100"


def measure(server: Server, key: str, scoped_key: str, sizes: Sizes, temp: Path, tool: str) -> Result:
    targets = {"limited": (PATH, {"x-api-key": scoped_key}), "every entity": (PATH, {"x-api-key": key})}
    summary, runs = side_by_side(server, targets, sizes, temp, tool)
    ratio = summary["limited"]["rps"] / summary["every entity"]["rps"]
    return Result(11, f"Entities: a 100-record pull with a key limited to {ENTITIES} entities vs every entity",
                  figures_text(summary["limited"]), figures_text(summary["every entity"]), ratio, ">= 0.97",
                  ratio >= 0.97, {"tool": tool, "rounds": runs, "summary": summary})

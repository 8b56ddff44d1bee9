"""4. Deep pages: the last page of a cursor walk against the first one."""

import http.client
import json
import time

from bench.harness import SECRET_KEY, Databases, Result, Server, Sizes, get

PAGE_SIZE = 1000


def measure(server: Server, databases: Databases, key: str, team_id: int, rows: int, sizes: Sizes) -> Result:
    """The first page and the last page of the walk, timed alternately on one keep-alive connection.

    The last page's cursor is the one the walk would hand out there (the bench knows the app's secret), so the
    pages in between need not be fetched.
    """
    from floqast.analytics.filters import Filters
    from floqast.api.cursor import Cursors

    placeholder = databases.placeholder
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
                assert len(page["data"]) == PAGE_SIZE and ((page["links"]["next"] is not None) == (name == "first"))
                if round_number:
                    times[name].append(elapsed * 1000)
    finally:
        connection.close()
    first, last = min(times["first"]), min(times["last"])  # best of the alternating rounds
    ratio = last / first
    return Result(4, f"Deep pages: last vs first page of {rows:,} rows (size {PAGE_SIZE})",
                  f"{last:.1f} ms", f"{first:.1f} ms", ratio, "<= 1.5", ratio <= 1.5, {"ms": times})

"""The API request log at scale for the benchmarks: `fill_request_log` writes millions of realistic rows fast (COPY
on PostgreSQL, one transaction on SQLite), with their daily and hourly counts, as the log's batches would have."""

import random
from datetime import datetime, timedelta

from sqlalchemy import text

# A realistic mix of answers: mostly pulls that worked, some bad parameters, refusals (with their reasons).
STATUSES = ((200, None, 880), (400, None, 40), (401, "expired", 20), (401, "deleted", 10), (403, "address", 15),
            (403, "service", 5), (429, None, 20), (404, None, 5), (500, None, 5))
URIS = ("/api/v1/analytics/reconciliations?filter[month]=11&filter[year]=2026", "/api/v1/analytics/checklists",
        "/api/v1/me", "/api/v1/audit-trail?filter[startDate]=2026-11-01", "/api/v1/analytics/reconciliations")
SERVICES = ("Reconciliation Analytics", "Checklist Analytics", None, None, "Reconciliation Analytics")
ADDRESSES = ("203.0.113.7", "203.0.113.8", "198.51.100.23", "2001:db8::17", "192.0.2.44")
USER_AGENTS = ("PowerBI/2.13", "python-requests/2.32.3", "curl/8.5.0", "Tableau/2024.3")
CHUNK = 50_000
OUTCOME_SUMS = ("sum(CASE WHEN status < 400 THEN 1 ELSE 0 END), "
                "sum(CASE WHEN status IN (401, 403, 429) THEN 1 ELSE 0 END), "
                "sum(CASE WHEN status >= 400 AND status NOT IN (401, 403, 429) THEN 1 ELSE 0 END)")


def log_rows(count: int, teams: dict[int, list[int]], first: datetime, last: datetime, measured_share: float | None,
             seed: int):
    """`count` rows (tuples of floqast.usage.capture.COLUMNS) oldest first, evenly spread from `first` to `last`:
    the first team of `teams` ({team_id: its key ids}) has `measured_share` of them (None: as many as any other),
    the others the rest; each row's key is one of its team's."""
    from floqast.usage.capture import trail_entry

    chooser = random.Random(seed)
    team_ids = list(teams)
    if measured_share is None or len(team_ids) == 1:
        weights = [1.0] * len(team_ids)
    else:
        weights = [measured_share] + [(1 - measured_share) / (len(team_ids) - 1)] * (len(team_ids) - 1)
    statuses, status_weights = [status[:2] for status in STATUSES], [status[2] for status in STATUSES]
    step = (last - first) / max(1, count - 1)
    for start in range(0, count, CHUNK):
        size = min(CHUNK, count - start)
        owners = chooser.choices(team_ids, weights, k=size)
        answers = chooser.choices(statuses, status_weights, k=size)
        rows = []
        for number, (team_id, (status, refusal)) in enumerate(zip(owners, answers, strict=True), start):
            which, at, key_id = chooser.randrange(len(URIS)), first + step * number, chooser.choice(teams[team_id])
            address = ADDRESSES[number % len(ADDRESSES)]
            rows.append((at, team_id, key_id, "GET", URIS[which], address, status, SERVICES[which], refusal,
                         USER_AGENTS[number % len(USER_AGENTS)],
                         trail_entry(at, key_id, "GET", URIS[which], address, status, SERVICES[which])))
        yield rows


def fill_request_log(connection, count: int, teams: dict[int, list[int]], last: datetime, days: float = 90,
                     measured_share: float | None = 0.1, seed: int = 1) -> None:
    """Add `count` requests to the log, spread over the `days` before `last` (aware UTC), to the keys of `teams`
    ({team_id: key ids}; the first team gets `measured_share` of the rows, the others the rest evenly), with a
    realistic mix of statuses, and add them to their keys' days (UTC), hours and addresses; in the SQLAlchemy
    `connection`'s transaction (the caller commits, then ANALYZEs on PostgreSQL). Partitions are made for its
    months.

    On PostgreSQL the rows go in by COPY (about a million in 10-20 s); on SQLite by one executemany."""
    from floqast.usage.capture import COLUMNS
    from floqast.usage.partitions import make_partitions_between

    first = last - timedelta(days=days)
    before = connection.execute(text("SELECT coalesce(max(id), 0) FROM api_requests")).scalar()
    driver = connection.connection.driver_connection
    chunks = log_rows(count, teams, first, last, measured_share, seed)
    if connection.dialect.name == "postgresql":
        make_partitions_between(connection, first, last)
        with driver.cursor() as cursor, cursor.copy(f"COPY api_requests ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for rows in chunks:
                for row in rows:
                    copy.write_row(row)
        day, hour = "(created_at AT TIME ZONE 'UTC')::date", "floor(extract(epoch FROM created_at) / 3600)::integer"
        lowest, highest = "least", "greatest"
    else:
        insert = f"INSERT INTO api_requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        for rows in chunks:
            # SQLAlchemy's SQLite form of an aware UTC datetime: naive, with microseconds.
            driver.executemany(insert, [(f"{row[0]:%Y-%m-%d %H:%M:%S.%f}", *row[1:]) for row in rows])
        day, hour = "date(created_at)", "CAST(strftime('%s', created_at) AS INTEGER) / 3600"
        lowest, highest = "min", "max"
    outcomes = ("succeeded", "refused", "failed")

    def added(table: str) -> str:
        return ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in outcomes)

    connection.execute(text(
        f"INSERT INTO api_request_days (team_id, api_key_id, day, {', '.join(outcomes)}) "
        f"SELECT team_id, api_key_id, {day}, {OUTCOME_SUMS} FROM api_requests WHERE id > :before "
        f"GROUP BY team_id, api_key_id, {day} "
        f"ON CONFLICT (team_id, api_key_id, day) DO UPDATE SET {added('api_request_days')}"
    ), {"before": before})
    connection.execute(text(
        f"INSERT INTO api_request_hours (team_id, hour, api_key_id, {', '.join(outcomes)}, first_id, last_id) "
        f"SELECT team_id, {hour}, api_key_id, {OUTCOME_SUMS}, min(id), max(id) FROM api_requests WHERE id > :before "
        f"GROUP BY team_id, {hour}, api_key_id "
        f"ON CONFLICT (team_id, hour, api_key_id) DO UPDATE SET {added('api_request_hours')}, "
        f"first_id = {lowest}(api_request_hours.first_id, excluded.first_id), "
        f"last_id = {highest}(api_request_hours.last_id, excluded.last_id)"
    ), {"before": before})
    connection.execute(text(
        "INSERT INTO api_request_addresses (team_id, api_key_id, day, source_ip, requests, refused, last_id) "
        f"SELECT team_id, api_key_id, {day}, coalesce(source_ip, ''), count(*), "
        "sum(CASE WHEN status IN (401, 403, 429) THEN 1 ELSE 0 END), max(id) FROM api_requests WHERE id > :before "
        f"GROUP BY team_id, api_key_id, {day}, coalesce(source_ip, '') "
        "ON CONFLICT (team_id, api_key_id, day, source_ip) DO UPDATE SET "
        "requests = api_request_addresses.requests + excluded.requests, "
        "refused = api_request_addresses.refused + excluded.refused, "
        f"last_id = {highest}(api_request_addresses.last_id, excluded.last_id)"
    ), {"before": before})

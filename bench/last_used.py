"""10. Last used writes: the UPDATEs of api_keys.last_used_at during row 1's keyed loads, at most one per key a minute.

A trigger in the scratch database (SQLite or the bench's PostgreSQL schema) notes each write that changes a key's
last_used_at, with the value written: exact, where pg_stat_user_tables' update counts would lag and count every
column's updates.
"""

from datetime import datetime, timedelta

from bench.harness import Databases, Result

TRIGGERS = {
    "sqlite": [
        "CREATE TABLE bench_last_used_writes (key_id INTEGER NOT NULL, at TIMESTAMP NOT NULL)",
        """CREATE TRIGGER bench_count_last_used AFTER UPDATE OF last_used_at ON api_keys
           WHEN NEW.last_used_at IS NOT OLD.last_used_at
           BEGIN INSERT INTO bench_last_used_writes VALUES (NEW.id, NEW.last_used_at); END""",
    ],
    "postgresql": [
        "CREATE TABLE bench_last_used_writes (key_id INTEGER NOT NULL, at TIMESTAMPTZ NOT NULL)",
        """CREATE FUNCTION bench_count_last_used() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO bench_last_used_writes VALUES (NEW.id, NEW.last_used_at); RETURN NULL; END $$""",
        """CREATE TRIGGER bench_count_last_used AFTER UPDATE OF last_used_at ON api_keys FOR EACH ROW
           WHEN (NEW.last_used_at IS DISTINCT FROM OLD.last_used_at) EXECUTE FUNCTION bench_count_last_used()""",
    ],
}
MINUTE = timedelta(minutes=1)


def count_writes(databases: Databases) -> None:
    """From now on, note every write of a key's Last used in the main database."""
    connection = databases.connect("main")
    try:
        for statement in TRIGGERS[databases.kind]:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def writes(databases: Databases) -> list[tuple[int, datetime]]:
    """Every write noted so far: (key id, the Last used written), in order."""
    connection = databases.connect("main")
    try:
        rows = connection.execute("SELECT key_id, at FROM bench_last_used_writes ORDER BY key_id, at").fetchall()
    finally:
        connection.close()
    return [(key_id, at if isinstance(at, datetime) else datetime.fromisoformat(at)) for key_id, at in rows]


def most_in_a_minute(noted: list[tuple[int, datetime]]) -> int:
    """The most writes of one key within any minute."""
    most = 0
    for index, (key_id, at) in enumerate(noted):
        most = max(most, sum(1 for other, later in noted[index:] if other == key_id and later - at < MINUTE))
    return most


def measure(databases: Databases, pulls: int, seconds: float) -> Result:
    """The writes noted so far (run right after row 1, the first keyed pulls), over its `pulls` keyed pulls that
    took `seconds` of load."""
    noted = writes(databases)
    most = most_in_a_minute(noted)
    keys = len({key_id for key_id, _ in noted})
    return Result(10, "Last used writes during row 1's keyed loads",
                  f"{len(noted)} write{'' if len(noted) == 1 else 's'} ({keys} key) for {pulls:,} pulls in "
                  f"{seconds:.0f} s of load",
                  "at most 1 per key per minute", float(most), "<= 1 per key per minute", most <= 1,
                  {"writes": [(key_id, at.isoformat()) for key_id, at in noted], "pulls": pulls,
                   "load_seconds": seconds})

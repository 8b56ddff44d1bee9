"""Every read of the request log behind Activity, a key's page, the audit trail and prune is an index range of the
log (or of its rollups), and a range of days reads only its months' partitions: PostgreSQL's EXPLAIN of each
statement the pages send, so that a later change cannot quietly make one read the whole log.

The planner is told to avoid sequential scans (enable_seqscan off), as it would on a log of millions of rows; a
Seq Scan it still chooses, or an index read with no condition, means no index can serve the statement.
"""

import contextlib
import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, update

from floqast.extensions import db
from floqast.usage import prune as prune_module
from floqast.usage.models import ApiRequest
from helpers import AUDIT_TRAIL, ME, log_rows

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="EXPLAIN plans are PostgreSQL's (the log is partitioned there, and SQLite's planner is another): set "
           "DATABASE_URL=postgresql://... (CI does)")

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)
# The log's tables, and its rollups: what a read must reach by an index.
LOG_TABLES = ("api_requests", "api_request_days", "api_request_hours", "api_request_addresses")


@contextlib.contextmanager
def log_reads():
    """The statements (and their parameters) that read the log while the block runs."""
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "DELETE")) and "api_request" in statement:
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def plan_of(statement: str, parameters) -> dict:
    """PostgreSQL's plan for the statement with its parameters, sequential scans avoided where an index can."""
    with db.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
        plan = cursor.fetchone()[0][0]["Plan"]
        connection.rollback()
    return plan


def nodes(plan: dict, above: tuple = ()):
    """Each node of the plan with the node types above it."""
    yield plan, above
    for child in plan.get("Plans", []):
        yield from nodes(child, (*above, plan["Node Type"]))


def conditions(node: dict) -> str:
    """A scan's index conditions, its bitmap index scans' (under BitmapAnd and BitmapOr too) included."""
    found = [node.get("Index Cond", "")]
    for child in node.get("Plans", []):
        if child["Node Type"] in ("Bitmap Index Scan", "BitmapAnd", "BitmapOr"):
            found.append(conditions(child))
    return " ".join(found)


def id_ranged(node: dict) -> bool:
    """Whether an index read of the log is bounded by ids: a range of them, or a list."""
    found = conditions(node)
    return ("(id >=" in found and "(id <=" in found) or "(id = ANY" in found


def unbounded_reads(plan: dict, by_ids: bool = False) -> list[str]:
    """The plan's reads of the log or a rollup that are no bounded index range: a sequential scan, an index read
    without a condition, a read of the log not by its team's rows, or that neither a LIMIT stops nor ids bound
    (only ids, with `by_ids`)."""
    found = []
    for node, above in nodes(plan):
        relation = node.get("Relation Name", "")
        if not relation.startswith(LOG_TABLES):
            continue
        if node["Node Type"] == "Seq Scan":
            found.append(f"Seq Scan on {relation}")
        elif not conditions(node).strip():
            found.append(f"{node['Node Type']} on {relation} without a condition")
        elif not relation.startswith("api_requests"):
            continue
        elif "team_id = " not in conditions(node):
            found.append(f"{node['Node Type']} on {relation}, {conditions(node)}: every team's rows")
        elif not id_ranged(node) and (by_ids or "Limit" not in above):
            found.append(f"{node['Node Type']} on {relation}, {conditions(node)}: no LIMIT nor ids bound it")
    return found


def partitions_read(plan: dict) -> set[str]:
    return {node["Relation Name"] for node, _ in nodes(plan)
            if node.get("Relation Name", "").startswith("api_requests_")}


def assert_index_ranges(reads: list, one_partition: bool = False) -> None:
    """Every statement reads the log and its rollups by bounded index ranges; with `one_partition` (a day's),
    one partition of the log at most, by a range of ids."""
    assert reads, "no statement read the request log"
    for statement, parameters in reads:
        plan = plan_of(statement, parameters)
        assert unbounded_reads(plan, by_ids=one_partition) == [], statement
        if one_partition:
            assert len(partitions_read(plan)) <= 1, (statement, partitions_read(plan))


@pytest.fixture
def logged(app, team, admin, make_key):
    """A key with requests over four months (four partitions), some refused."""
    key, plaintext = make_key(admin)
    moments = [NOW - timedelta(days=days, hours=hours) for days in (0, 1, 20, 45, 70, 100) for hours in (1, 5)]
    log_rows(team.id, key.id, *moments)
    log_rows(team.id, key.id, NOW - timedelta(hours=2), NOW - timedelta(days=45, hours=3), status=401)
    return key, plaintext


ACTIVITY_LISTS = {
    "first page": {},
    "one key": {"key": "{key}"},
    "refused": {"status": "refused"},
    "one day": {"requests_from": "2026-05-01", "requests_to": "2026-05-01"},
    "older page": {"older_than": "5"},
}


@pytest.mark.parametrize("query", ACTIVITY_LISTS.values(), ids=ACTIVITY_LISTS.keys())
def test_activitys_request_lists_read_index_ranges(admin_client, logged, query):
    key, _ = logged
    with log_reads() as reads:
        response = admin_client.get("/settings/api-keys/activity/requests",
                                    query_string={name: value.format(key=key.id) for name, value in query.items()},
                                    headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert_index_ranges(reads, one_partition="requests_from" in query)


def test_a_keys_page_reads_index_ranges(admin_client, logged):
    key, _ = logged
    with log_reads() as reads:
        assert admin_client.get(f"/settings/api-keys/{key.id}").status_code == 200
    assert_index_ranges(reads)
    assert any("api_request_hours" in statement for statement, _ in reads)  # the 24 hours: never the log's rows


@pytest.mark.parametrize("query", [
    {"filter[startDate]": "2026-05-01", "filter[endDate]": "2026-05-01"},
    {"filter[startDate]": "2026-05-01", "filter[endDate]": "2026-05-01", "filter[userApiKey._id]": "{key}"},
    {"page[size]": "3"},
    {},
], ids=["one day", "one day, one key", "small pages", "everything"])
@pytest.mark.parametrize("stored", [True, False], ids=["entries stored", "logged before entries were stored"])
def test_the_audit_trails_pages_read_index_ranges(api_get, logged, query, stored):
    key, plaintext = logged
    if not stored:  # their columns are read by a statement of their own
        db.session.execute(update(ApiRequest).values(trail_entry=None))
        db.session.commit()
    path = AUDIT_TRAIL + "?" + "&".join(f"{name}={value.format(key=key.id)}" for name, value in query.items())
    with log_reads() as reads:
        while path:  # every page of the walk, by links.next
            response = api_get(path, plaintext)
            assert response.status_code == 200
            path = response.get_json()["links"]["next"]
    assert_index_ranges(reads, one_partition="filter[startDate]" in query)
    assert any("trail_entry IS NULL" in statement for statement, _ in reads) is not stored


def test_prune_deletes_by_an_index_range_of_the_one_month_it_does_not_drop(app, logged, monkeypatch):
    with log_reads() as reads:
        prune_module.prune(NOW, 90)
    [(statement, parameters)] = [(statement, parameters) for statement, parameters in reads
                                 if statement.lstrip().upper().startswith("DELETE FROM API_REQUESTS ")]
    plan = plan_of(statement, parameters)
    assert [node["Node Type"] for node, _ in nodes(plan) if node.get("Relation Name", "").startswith("api_requests_")
            ] == ["Bitmap Heap Scan"]  # by the BRIN index on created_at
    [scan] = [node for node, _ in nodes(plan) if node["Node Type"] == "Bitmap Heap Scan"]
    assert "created_at <" in conditions(scan)
    assert len(partitions_read(plan)) == 1


def test_a_seq_scan_of_the_log_is_caught(app, logged):
    """The check itself: a read of every row of the log is what these tests fail on."""
    plan = plan_of("SELECT count(*) FROM api_requests WHERE uri = %(uri)s", {"uri": ME})
    assert unbounded_reads(plan) and partitions_read(plan)
    # A key's last 24 hours counted in the log itself: an index range, but as long as the key is busy.
    plan = plan_of("SELECT count(*) FROM api_requests WHERE team_id = 1 AND api_key_id = 1 AND created_at > "
                   "%(since)s", {"since": NOW - timedelta(days=1)})
    assert unbounded_reads(plan)

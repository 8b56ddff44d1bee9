"""The API request log: what is logged (every request whose team is known, never a key), when the buffer is
written (batch size, age, exit, reading), that a failed write fails no request, forks, and `api-log prune`."""

import http.client
import logging
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import pytest
from flask import Response, request
from sqlalchemy import event, func, insert, select, text

from floqast.accounts.models import Role
from floqast.cli import api_log
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import tokens
from floqast.keys.models import Service
from floqast.usage import batch, buffer
from floqast.usage import partitions as log_partitions
from floqast.usage.buffer import RequestLog, flush_all
from floqast.usage.capture import Captured, log_api_request, redacted_query
from floqast.usage.days import ApiRequestDay
from floqast.usage.models import ApiRequest
from floqast.usage.partitions import is_partition, month_of, partition_name
from helpers import (
    CHECKLISTS,
    CLIENT_IP,
    ME,
    RECONCILIATIONS,
    free_port,
    gunicorn_serving,
    issue_key,
    log_rows,
    logged_requests,
    run_together,
    statements_sent,
)

ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
partitioned = pytest.mark.skipif(not ON_POSTGRESQL, reason="the log is partitioned on PostgreSQL only (SQLite's is "
                                 "a plain table): set DATABASE_URL=postgresql://... (CI does)")


class LoggedKey(NamedTuple):
    """A key as the request log reads it from the request: its id and its team's."""

    id: int
    team_id: int


@pytest.fixture
def log(app) -> RequestLog:
    return app.extensions["request_log"]


@pytest.fixture
def clock(monkeypatch):
    """The log's clock, moved by the test: clock.now = seconds."""

    class Clock:
        now = 1000.0

    monkeypatch.setattr(buffer, "clock", lambda: Clock.now)
    return Clock


def rows_in_database() -> int:
    """The log's rows in the database, without writing the buffer first."""
    return db.session.scalar(select(func.count()).select_from(ApiRequest))


def test_an_accepted_pull_is_logged_with_its_team_key_address_status_and_service(api_get, team, admin, make_key):
    key, plaintext = make_key(admin)
    assert api_get(f"{RECONCILIATIONS}?filter[month]=March&filter[year]=2025", plaintext).status_code == 200
    assert api_get(ME, plaintext).status_code == 200
    pull, me = logged_requests()
    assert (pull.team_id, pull.api_key_id, pull.method, pull.source_ip, pull.status, pull.service) == (
        team.id, key.id, "GET", CLIENT_IP, 200, "Reconciliation Analytics")
    assert pull.uri == "/api/v1/analytics/reconciliations?filter[month]=March&filter[year]=2025"
    assert (me.uri, me.service) == (ME, None)
    assert abs(pull.created_at - utcnow()) < timedelta(minutes=1)


def test_a_bad_parameter_is_logged_with_its_400(api_get, admin, make_key):
    _, plaintext = make_key(admin)
    assert api_get(f"{CHECKLISTS}?filter[month]=Smarch", plaintext).status_code == 400
    [row] = logged_requests()
    assert (row.status, row.service, row.uri) == (400, "Checklist Analytics", f"{CHECKLISTS}?filter[month]=Smarch")


@pytest.mark.parametrize("refusal", ["expired", "deactivated", "wrong service", "open api off", "rate limited"])
def test_a_refusal_with_a_key_of_the_team_is_logged_against_it(app, api_get, team, admin, make_key, refusal):
    fields = {"expired": {"expires_on": team.today() - timedelta(days=1)},
              "deactivated": {"deleted_at": utcnow(), "deleted_by_id": admin.id},
              "wrong service": {"services": [Service.CHECKLISTS]}}.get(refusal, {})
    key, plaintext = make_key(admin, **fields)
    if refusal == "open api off":
        team.open_api_enabled = False
        db.session.commit()
    if refusal == "rate limited":
        app.config["API_RATE_LIMIT"] = "1 per minute"
        api_get(RECONCILIATIONS, plaintext)
    status = api_get(RECONCILIATIONS, plaintext).status_code
    assert status in (401, 403, 429)
    row = logged_requests()[-1]
    assert (row.team_id, row.api_key_id, row.status, row.source_ip) == (team.id, key.id, status, CLIENT_IP)
    assert row.service == "Reconciliation Analytics"


def test_a_key_sent_in_the_url_is_logged_for_its_team_without_the_key(api_get, team, admin, make_key):
    key, plaintext = make_key(admin)
    assert api_get(f"{ME}?api_key={plaintext}&filter[x]={plaintext}").status_code == 400
    [row] = logged_requests()
    assert (row.team_id, row.api_key_id, row.status) == (team.id, key.id, 400)
    assert row.uri == f"{ME}?api_key=REDACTED&filter[x]=REDACTED"


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "fq_not-a-key"}, {"x-api-key": tokens.generate()}])
def test_a_request_without_a_key_of_any_team_is_logged_nowhere(api_get, admin, make_key, headers):
    make_key(admin)
    assert api_get(ME, headers=headers).status_code == 401
    assert api_get("/api/v1/openapi.json").status_code == 200
    assert logged_requests() == []


def test_pages_are_not_logged(admin_client):
    assert admin_client.get("/settings/api-keys").status_code == 200
    assert logged_requests() == []


@pytest.mark.parametrize(("query", "logged"), [
    ("token=abc&page[size]=5", "token=REDACTED&page[size]=5"),
    ("X-API-Key=abc", "X-API-Key=REDACTED"),
    ("filter[entityIds]=fq_abc", "filter[entityIds]=REDACTED"),
    ("fq_abcdef", "REDACTED"),
    ("fq_abc=1&filter[month]=May", "REDACTED=1&filter[month]=May"),
    ("filter[entityIds]=%20fq_abc", "filter[entityIds]=REDACTED"),
    ("%66q_abc=x", "REDACTED=x"),
    ("filter[month]=May&filter[year]=2025", "filter[month]=May&filter[year]=2025"),
    ("page[cursor]=WyJhdWRpdC10cmFpbCJdfq_x", "page[cursor]=WyJhdWRpdC10cmFpbCJdfq_x"),
])
def test_anything_like_a_key_in_a_query_is_redacted(query, logged):
    assert redacted_query(query) == logged


@pytest.mark.parametrize(("query", "logged"), [
    ("authorization=Bearer%20{key}", "authorization=REDACTED"),
    ("filter[month]=%22{key}%22&filter[year]=2026", "filter[month]=REDACTED&filter[year]=2026"),
    ("filter[entityIds]=1,{key}", "filter[entityIds]=REDACTED"),
    ("filter[entityIds]=1%2C{percent_encoded_key}", "filter[entityIds]=REDACTED"),
    ("filter[{key}]=1&page[size]=5", "REDACTED=1&page[size]=5"),
])
def test_a_key_anywhere_in_a_name_or_value_is_redacted(query, logged):
    key = tokens.generate()
    percent_encoded_key = "".join(f"%{ord(char):02X}" for char in key)
    assert redacted_query(query.format(key=key, percent_encoded_key=percent_encoded_key)) == logged


def test_a_key_in_the_path_is_never_logged(api_get, admin, make_key):
    _, plaintext = make_key(admin)
    assert api_get(f"{ME}?{plaintext}", plaintext).status_code == 400
    assert plaintext not in logged_requests()[0].uri


def test_a_key_in_the_path_is_redacted_in_the_row_made_after_its_request_has_ended(app, team):
    plaintext = tokens.generate()
    with app.test_request_context(f"/api/v1/downloads/{plaintext}?filter[x]={plaintext}"):
        request.context.key = LoggedKey(7, team.id)
        log_api_request(Response())
    [row] = logged_requests()
    assert row.uri == "/api/v1/downloads/REDACTED?filter[x]=REDACTED"


def test_a_path_part_holding_a_key_is_redacted(app, team):
    plaintext = tokens.generate()
    with app.test_request_context(f"/api/v1/downloads/link-{plaintext}"):
        request.context.key = LoggedKey(7, team.id)
        log_api_request(Response())
    [row] = logged_requests()
    assert row.uri == "/api/v1/downloads/REDACTED"


def test_requests_are_buffered_then_written_in_one_statement(app, api_get, admin, make_key, log):
    _, plaintext = make_key(admin)
    inserts = []

    def count(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO API_REQUESTS"):
            inserts.append((executemany, len(parameters) if executemany else 1))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            assert api_get(ME, plaintext).status_code == 200
        assert inserts == [] and rows_in_database() == 0
        with statements_sent() as statements:
            assert log.flush() == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    copies = [statement for statement in statements if statement.upper().startswith("COPY")]
    if ON_POSTGRESQL:  # COPY, past SQLAlchemy
        assert (inserts, copies) == ([], [batch.COPY_ROWS])
    else:
        assert (inserts, copies) == ([(True, 3)], [])
    assert rows_in_database() == 3


def usage_days() -> list[tuple]:
    db.session.expire_all()
    return [(day.team_id, day.api_key_id, day.day.isoformat(), day.succeeded, day.refused, day.failed)
            for day in db.session.scalars(select(ApiRequestDay).order_by(ApiRequestDay.api_key_id, ApiRequestDay.day))]


def test_a_batch_adds_to_its_keys_days_in_the_teams_zone_with_one_upsert_per_key_and_day(make_team, log):
    tokyo = make_team("Tokyo office", timezone="Asia/Tokyo")
    late = datetime(2026, 5, 1, 14, 59, tzinfo=timezone.utc)  # 23:59 in Tokyo; a minute later it is May 2 there
    upserts = []

    def count(connection, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO API_REQUEST_DAYS"):
            upserts.append(len(parameters) if executemany else 1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        log_rows(tokyo.id, 1, late, late, late + timedelta(minutes=1), status=200)
        log_rows(tokyo.id, 1, late, status=401)
        log_rows(tokyo.id, 1, late, status=429)
        log_rows(tokyo.id, 1, late, status=500)
        log_rows(tokyo.id, 2, late + timedelta(minutes=1), status=403)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    # SQLite's first batch: key 1 on May 1 and on May 2. PostgreSQL's one statement a batch sends its days as
    # arrays (a day twice in it would fail it).
    assert upserts == ([1] * 5 if ON_POSTGRESQL else [2, 1, 1, 1, 1])
    assert usage_days() == [
        (tokyo.id, 1, "2026-05-01", 2, 2, 1),
        (tokyo.id, 1, "2026-05-02", 1, 0, 0),
        (tokyo.id, 2, "2026-05-02", 0, 1, 0),
    ]


def test_the_days_are_counted_with_the_batch_or_not_at_all(team, log, caplog):
    db.session.commit()
    ApiRequestDay.__table__.drop(db.engine)
    try:
        with caplog.at_level(logging.WARNING, logger="floqast.usage.buffer"):
            log_rows(team.id, 1, utcnow())
        assert "API request log: 1 rows not written" in caplog.text
        assert rows_in_database() == 0  # the log's insert went back with the days'
    finally:
        ApiRequestDay.__table__.create(db.engine)
    log_rows(team.id, 1, utcnow())
    assert rows_in_database() == 1 and len(usage_days()) == 1


def test_the_batch_is_written_when_it_reaches_its_size(api_get, admin, make_key, log, monkeypatch):
    monkeypatch.setattr(log, "batch_rows", 3)
    _, plaintext = make_key(admin)
    api_get(ME, plaintext)
    api_get(ME, plaintext)
    assert rows_in_database() == 0
    api_get(ME, plaintext)
    assert rows_in_database() == 3


def test_the_batch_is_written_by_the_request_after_its_oldest_row_has_waited_its_time(
        api_get, admin, make_key, log, clock, monkeypatch):
    monkeypatch.setattr(log, "flush_seconds", 1.0)
    _, plaintext = make_key(admin)
    api_get(ME, plaintext)
    clock.now += 0.9
    api_get(ME, plaintext)
    assert rows_in_database() == 0
    clock.now += 0.1
    api_get(ME, plaintext)
    assert rows_in_database() == 3


def test_the_idle_flush_writes_rows_only_once_the_oldest_has_waited(api_get, admin, make_key, log, clock, monkeypatch):
    # What the daemon thread does every quarter of REQUEST_LOG_FLUSH_SECONDS in a worker no request wakes.
    monkeypatch.setattr(log, "flush_seconds", 1.0)
    _, plaintext = make_key(admin)
    assert log.flush_if_due() == 0
    api_get(ME, plaintext)
    clock.now += 0.99
    assert log.flush_if_due() == 0 and rows_in_database() == 0
    clock.now += 0.01
    assert log.flush_if_due() == 1 and rows_in_database() == 1


def test_a_worker_flushes_in_a_daemon_thread_of_its_own_started_with_its_first_row(make_app):
    worker = make_app(REQUEST_LOG_BACKGROUND_FLUSH=True)
    log = worker.extensions["request_log"]
    assert log.flusher is None
    worker.test_client().get(ME)
    assert log.flusher is None  # nothing logged: no team
    with worker.app_context():
        log.add(Captured(time.time(), 1, 1, "GET", CLIENT_IP, 200, ME, None))
    assert log.flusher.daemon and log.flusher.is_alive()
    log.take()


def test_worker_exit_writes_what_the_buffer_holds(api_get, admin, make_key):
    key, plaintext = make_key(admin)
    api_get(ME, plaintext)
    flush_all()  # (apps other tests built may hold rows too: only this key's are this test's)
    assert db.session.scalar(select(func.count()).where(ApiRequest.api_key_id == key.id)) == 1


def test_a_forked_worker_starts_with_an_empty_buffer_and_no_thread(api_get, admin, make_key, log):
    _, plaintext = make_key(admin)
    api_get(ME, plaintext)
    log.flusher = object()  # as if the parent had its thread running
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it inherited, and leave without running any exit hook
        inherited = f"{len(log.rows)} {log.flusher is None} {log.lock.acquire(blocking=False)}"
        os.write(write, inherited.encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "0 True True"
    os.close(read)
    assert len(log.rows) == 1  # the parent keeps its own rows
    log.flusher = None


def test_a_failed_write_fails_no_request_and_says_how_many_rows_it_lost(api_get, admin, make_key, log, monkeypatch,
                                                                          caplog):
    _, plaintext = make_key(admin)
    monkeypatch.setattr(log, "batch_rows", 2)
    db.session.commit()
    ApiRequest.__table__.drop(db.engine)
    try:
        with caplog.at_level(logging.WARNING, logger="floqast.usage.buffer"):
            assert [api_get(ME, plaintext).status_code for _ in range(2)] == [200, 200]
        assert "API request log: 2 rows not written" in caplog.text
        assert log.rows == []
    finally:
        ApiRequest.__table__.create(db.engine)
    api_get(ME, plaintext)
    assert len(logged_requests()) == 1


def test_logging_can_be_switched_off(make_app, make_team, make_user):
    quiet = make_app(REQUEST_LOG_ENABLED=False)
    with quiet.app_context():
        team = make_team()
        admin = make_user(team, Role.ADMIN)
        _, plaintext = issue_key(admin)
        db.session.commit()
        assert quiet.test_client().get(ME, headers={"x-api-key": plaintext}).status_code == 200
        assert quiet.extensions["request_log"].rows == []


# ---------------------------------------------------------------------------------------------- prune


NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


def prune(runner, monkeypatch) -> list[str]:
    monkeypatch.setattr(api_log, "utcnow", lambda: NOW)
    result = runner.invoke(args=["api-log", "prune"])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_prune_keeps_the_retention_days_and_deletes_older_rows(runner, team, monkeypatch):
    kept = [datetime(2026, 3, 20, tzinfo=timezone.utc), NOW]
    log_rows(team.id, 1, datetime(2026, 2, 10, tzinfo=timezone.utc), datetime(2026, 3, 10, tzinfo=timezone.utc),
                *kept)
    output = prune(runner, monkeypatch)
    assert [row.created_at for row in logged_requests()] == kept
    if db.engine.dialect.name == "sqlite":
        assert output == ["deleted 2 rows older than 2026-03-17 12:00 UTC", "deleted 2 daily usage counts",
                          "deleted 2 hourly usage counts", "deleted 2 daily address counts"]
    else:  # February's partition dropped whole, March's oldest row deleted
        assert output[-4:] == ["deleted 1 rows older than 2026-03-17 12:00 UTC", "deleted 2 daily usage counts",
                               "deleted 2 hourly usage counts", "deleted 2 daily address counts"]


def test_prune_deletes_the_days_of_usage_older_than_the_retention(runner, team, monkeypatch):
    log_rows(team.id, 1, *(datetime(2026, 3, day, 12, tzinfo=timezone.utc) for day in (14, 15, 16, 17)), NOW)
    # The cutoff is March 17 12:00 UTC: March 16 is kept, since in some zone its rows may still be kept.
    assert prune(runner, monkeypatch)[-3] == "deleted 2 daily usage counts"
    assert [day[2] for day in usage_days()] == ["2026-03-16", "2026-03-17", "2026-06-15"]


def test_prune_follows_the_retention_setting(app, runner, team, monkeypatch):
    app.config["REQUEST_LOG_RETENTION_DAYS"] = 7
    log_rows(team.id, 1, NOW - timedelta(days=8), NOW - timedelta(days=6))
    assert prune(runner, monkeypatch)[-4] == "deleted 1 rows older than 2026-06-08 12:00 UTC"
    assert len(logged_requests()) == 1


def partitions() -> set[str]:
    with db.engine.connect() as connection:
        return {name for name, _ in log_partitions.partitions(connection)}


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite's log is a plain table; PostgreSQL's partitions are tested below")
def test_on_sqlite_the_log_is_one_plain_table(app):
    with db.engine.connect() as connection:
        names = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars().all()
    assert "api_requests" in names and not any(is_partition(name) for name in names)


@partitioned
def test_prune_drops_old_partitions_and_makes_the_coming_months(runner, team, monkeypatch):
    log_rows(team.id, 1, datetime(2026, 2, 10, tzinfo=timezone.utc), datetime(2026, 3, 10, tzinfo=timezone.utc))
    before = partitions()
    assert {"api_requests_2026_02", "api_requests_2026_03"} <= before
    coming = {f"api_requests_2026_{month:02d}" for month in (6, 7, 8)}  # this month and the next two
    output = prune(runner, monkeypatch)
    assert "dropped api_requests_2026_02" in output and "dropped api_requests_2026_03" not in output
    assert {line for line in output if line.startswith("created")} == {f"created {name}" for name in coming - before}
    made = partitions()
    assert "api_requests_2026_02" not in made
    assert {"api_requests_2026_03", "api_requests_2026_06", "api_requests_2026_07", "api_requests_2026_08"} <= made
    assert prune(runner, monkeypatch) == ["deleted 0 rows older than 2026-03-17 12:00 UTC",
                                          "deleted 0 daily usage counts",
                                          "deleted 0 hourly usage counts",
                                          "deleted 0 daily address counts"]  # twice is harmless


@partitioned
def test_a_batch_for_a_month_without_its_partition_makes_it(team):
    month = datetime(2031, 5, 2, tzinfo=timezone.utc)
    assert partition_name(month_of(month)) not in partitions()
    log_rows(team.id, 1, month)
    assert partition_name(month_of(month)) in partitions()
    assert [row.created_at for row in logged_requests()] == [month]


@partitioned
def test_two_workers_flushing_into_a_month_without_a_partition_both_succeed(app, team):
    month = datetime(2032, 7, 9, tzinfo=timezone.utc)
    workers = [RequestLog(app), RequestLog(app)]
    for number, worker in enumerate(workers):
        worker.rows = [Captured((month + timedelta(minutes=number)).timestamp(), team.id, number, "GET", CLIENT_IP,
                                200, ME, None)] * 50

    assert run_together(2, lambda number: workers[number].flush()) == [50, 50]
    assert len(logged_requests()) == 100
    assert partition_name(month_of(month)) in partitions()


def test_every_value_reads_back_as_it_was_logged(team, log):
    # PostgreSQL's batch is a COPY, whose text format escapes tabs, newlines and backslashes, and spells NULL \N.
    at = datetime(2026, 5, 1, 23, 59, 59, 999999, tzinfo=timezone.utc)
    uri = f"{ME}?q=a\tb\nc\\d\\N&name=Zürich €"
    log.rows = [Captured(at.timestamp(), team.id, 7, "GET", "2001:db8::ff00:42:8329", 500, uri, None),
                Captured(at.timestamp(), team.id, 7, "GET", None, 200, "\\N", "\\N")]
    assert log.flush() == 2
    assert [(row.created_at, row.api_key_id, row.method, row.uri, row.source_ip, row.status, row.service)
            for row in logged_requests()] == [
        (at, 7, "GET", uri, "2001:db8::ff00:42:8329", 500, None),
        (at, 7, "GET", "\\N", None, 200, "\\N"),
    ]


def test_values_too_long_for_their_columns_are_clipped_so_the_batch_is_written(app, team):
    # One value too long would make PostgreSQL refuse the whole batch: an address from a proxy header, or a
    # service label a view sets.
    with app.test_request_context(ME, environ_base={"REMOTE_ADDR": "9" * 100}):
        request.context.key, request.context.logged_service = LoggedKey(7, team.id), "S" * 100
        log_api_request(Response())
    [row] = logged_requests()
    assert (row.source_ip, row.service, row.api_key_id) == ("9" * 45, "S" * 32, 7)


def test_gunicorn_workers_write_what_they_hold_when_they_stop(make_app, make_team, make_user, tmp_path):
    database = f"sqlite:///{tmp_path / 'app.sqlite'}"
    served = make_app(SQLALCHEMY_DATABASE_URI=database)
    with served.app_context():
        _, plaintext = issue_key(make_user(make_team(), Role.ADMIN))
        db.session.commit()
    port = free_port()
    env = {**os.environ, "SECRET_KEY": "log-test-secret", "API_KEY_PEPPER": served.config["API_KEY_PEPPER"],
           "DATABASE_URL": database, "WEB_CONCURRENCY": "2", "REQUEST_LOG_FLUSH_SECONDS": "3600"}
    with gunicorn_serving(port, env):
        for _ in range(6):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", ME, headers={"x-api-key": plaintext})
            assert connection.getresponse().status == 200
        with served.app_context():
            assert rows_in_database() == 0  # held by the workers: neither 500 rows nor an hour old
    with served.app_context():
        assert rows_in_database() == 6


def test_a_view_may_name_the_uri_and_service_to_log(app, team):
    # A signed download URL is a credential: its view logs the query it stands for instead of its token.
    with app.test_request_context("/api/v1/downloads/secret-token"):
        request.context.key = LoggedKey(7, team.id)
        request.context.logged_uri = f"{CHECKLISTS}?filter[month]=May"
        request.context.logged_service = "Checklist Analytics"
        log_api_request(Response())
    [row] = logged_requests()
    assert (row.uri, row.service) == (f"{CHECKLISTS}?filter[month]=May", "Checklist Analytics")


@partitioned
def test_a_batch_waits_for_the_one_being_written_so_ids_become_visible_in_order(app, team, log):
    # Were they not, a trail reader could see ids 501-1000 committed, resume after 1000, and never see 1-500.
    log_rows(team.id, 1, utcnow())  # the month's partition exists
    with db.engine.connect() as first:  # a worker in the middle of its batch
        first.execute(text(f"SELECT pg_advisory_xact_lock(hashtext('{batch.INSERT_LOCK}'))"))
        first.execute(insert(ApiRequest), [{"created_at": utcnow(), "team_id": team.id, "api_key_id": 1,
                                            "method": "GET", "uri": ME, "source_ip": CLIENT_IP, "status": 200}])
        log.rows = [Captured(time.time(), team.id, 2, "GET", CLIENT_IP, 200, ME, None)]
        second = threading.Thread(target=log.flush)
        second.start()
        with db.engine.connect() as watcher:
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
            while watcher.execute(text(waiting)).scalar() == 0:
                assert second.is_alive(), "the second batch was written without waiting"
                time.sleep(0.01)
        first.commit()
    second.join(30)
    first_id, second_id = (entry.id for entry in logged_requests()[1:])
    assert first_id < second_id

"""What a key check, an export, the key list and a page of records cost in SQL: counted or planned, never timed.

The benchmark (bench/) measures speed; these tests keep the shape that makes it scale: a key check is one
indexed SELECT whatever the number of keys, an export's statements do not grow with its rows, a page of
the key list costs the same number of statements for 3 keys as for 30, and a page of records is read from
an index in id order, never by sorting the team's rows.
"""

import os

import pytest
from sqlalchemy import insert, text

from floqast.accounts.models import Role
from floqast.analytics.filters import Filters
from floqast.analytics.generate import Profile, generate
from floqast.analytics.records import DATASETS
from floqast.api import export
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import lookup, tokens
from floqast.keys.authenticate import authenticate
from floqast.keys.models import ApiKey
from helpers import CLIENT_IP, ME, RECONCILIATIONS, log_in, statements_sent


def add_filler_keys(team, creator, count: int) -> None:
    """`count` more key rows in one executemany, with random digests."""
    rows = [{"team_id": team.id, "name": f"Filler {number}", "hint": "fq_abcd", "digest": os.urandom(32).hex(),
             "services": ["reconciliations"], "created_by_id": creator.id, "created_at": utcnow()}
            for number in range(count)]
    db.session.execute(insert(ApiKey.__table__), rows)
    db.session.commit()


def pepper(app) -> bytes:
    return app.config["API_KEY_PEPPER"].encode()


def on_api_keys(sent: list[str], verb: str) -> list[str]:
    return [statement for statement in sent if statement.upper().startswith(verb) and "api_keys" in statement]


# Twenty ranges, the client's last: what a key checks on each pull at most.
TWENTY_RANGES = ",".join([f"10.{number}.0.0/16" for number in range(19)] + [f"{CLIENT_IP}/32"])


@pytest.mark.parametrize("allowed_ips", [None, TWENTY_RANGES], ids=["any address", "20 allowed ranges"])
@pytest.mark.parametrize("keys_in_database", [3, 500])
def test_a_key_check_is_one_select_on_the_digest_whatever_the_number_of_keys(app, team, admin, make_key,
                                                                             keys_in_database, allowed_ips):
    _, plaintext = make_key(admin, allowed_ips=allowed_ips)
    add_filler_keys(team, admin, keys_in_database - 1)
    db.session.remove()

    with statements_sent() as sent:
        assert authenticate(plaintext, CLIENT_IP, None).key.name == "Power BI"

    assert len(sent) == 1
    assert sent[0].upper().startswith("SELECT") and "api_keys.digest IN (" in sent[0]
    assert "api_keys.allowed_ips" in sent[0]  # the allowed addresses come with the key's row


def test_a_pull_from_an_address_the_key_allows_costs_what_a_pull_with_any_address_costs(api_get, admin, make_key,
                                                                                       key_read_every_pull):
    sent = {}
    for name, allowed_ips in (("any", None), ("twenty", TWENTY_RANGES)):
        _, plaintext = make_key(admin, name=name, allowed_ips=allowed_ips)
        with statements_sent() as sent[name]:
            assert api_get(ME, plaintext).status_code == 200
            assert api_get(ME, plaintext).status_code == 200

    # The same statements, values aside: the key's SELECT twice, and one write of Last used.
    assert [statement.split()[:3] for statement in sent["twenty"]] == [
        statement.split()[:3] for statement in sent["any"]]
    assert len(sent["twenty"]) == 3


def test_a_pull_costs_the_same_statements_with_3_keys_as_with_500(client, team, admin, make_key, key_read_every_pull):
    _, plaintext = make_key(admin)

    def pull_twice() -> tuple[list[str], list[str]]:
        with statements_sent() as first:
            assert client.get(ME, headers={"x-api-key": plaintext}).status_code == 200
        with statements_sent() as second:
            assert client.get(ME, headers={"x-api-key": plaintext}).status_code == 200
        return first, second

    few_first, few_second = pull_twice()
    add_filler_keys(team, admin, 497)
    db.session.execute(text("UPDATE api_keys SET last_used_at = NULL"))
    db.session.commit()
    many_first, many_second = pull_twice()

    # The first pull of a minute writes Last used once; the next one only reads its key.
    assert len(on_api_keys(few_first, "SELECT")) == 1 and len(on_api_keys(few_first, "UPDATE")) == 1
    assert len(on_api_keys(few_second, "SELECT")) == 1 and on_api_keys(few_second, "UPDATE") == []
    assert "last_used_at IS NULL OR" in on_api_keys(few_first, "UPDATE")[0].replace("api_keys.", "")
    # Where and with what it was used travel in that same UPDATE: no write of their own.
    update_sent = on_api_keys(few_first, "UPDATE")[0].replace(" ", "")
    assert "last_used_ip=" in update_sent and "last_used_user_agent=" in update_sent
    assert (len(many_first), len(many_second)) == (len(few_first), len(few_second))


@pytest.fixture
def books(team):
    """Generate reconciliations for the team: `books(accounts)` makes accounts x 2 months of them."""

    def make(accounts: int, entity: str) -> int:
        profile = Profile(entities=((entity, "USD"),), accounts=accounts, months=2, through=(2025, 6), seed=7,
                          people=("Avery", "Blake", "Casey"), checklists=False)
        made, _ = generate(team, profile)
        return made

    return make


def test_an_export_does_not_issue_a_query_per_row(client, admin, make_key, books, monkeypatch):
    monkeypatch.setattr(export, "ROWS_PER_FETCH", 25)
    _, plaintext = make_key(admin)
    headers = {"x-api-key": plaintext, "Accept": "text/csv"}
    client.get(ME, headers=headers)  # Last used is written now, not during the counts below
    counts = {}
    for accounts, entity in ((10, "North"), (150, "South")):
        books(accounts, entity)
        db.session.expire_all()
        with statements_sent() as sent:
            response = client.get(RECONCILIATIONS, headers=headers)
            rows = response.get_data(as_text=True).count("\n") - 1
        counts[rows] = len(sent)

    few, many = sorted(counts)
    assert (few, many) == (20, 320)
    # One key check and one streamed SELECT, read in batches of ROWS_PER_FETCH: nothing grows with the rows,
    # and certainly not past one statement per batch.
    assert counts[many] == counts[few] <= 2 + many // export.ROWS_PER_FETCH


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_page_of_the_key_list_costs_the_same_statements_for_3_keys_as_for_30(client, team, admin, make_user,
                                                                               make_key, htmx):
    creators = [admin] + [make_user(team, Role.SYSADMIN, email=f"sys{n}@acme.test", name=f"Sys {n}")
                          for n in range(3)]
    log_in(client, admin)
    headers = {"HX-Request": "true"} if htmx else {}

    def count_for_a_page() -> int:
        db.session.expire_all()  # the same starting point both times: nothing already loaded
        with statements_sent() as sent:
            assert client.get("/settings/api-keys?status=all", headers=headers).status_code == 200
        return len(sent)

    for number in range(3):
        make_key(creators[number % len(creators)], name=f"Key {number}")
    few = count_for_a_page()
    for number in range(3, 30):
        make_key(creators[number % len(creators)], name=f"Key {number}",
                 deleted_at=utcnow() if number % 5 == 0 else None, deleted_by_id=admin.id if number % 5 == 0 else None)
    many = count_for_a_page()

    assert many == few


def index_on_digest(connection) -> str:
    """The name of the unique index that holds api_keys.digest, read from the database itself."""
    if connection.dialect.name == "sqlite":
        for row in connection.exec_driver_sql("PRAGMA index_list('api_keys')"):
            name, unique = row[1], row[2]
            columns = [info[2] for info in connection.exec_driver_sql(f"PRAGMA index_info('{name}')")]
            if unique and columns == ["digest"]:
                return name
    else:
        return connection.execute(
            text("SELECT indexname FROM pg_indexes"
                 " WHERE schemaname = current_schema() AND tablename = 'api_keys' AND indexdef LIKE :unique_on_digest"),
            {"unique_on_digest": "%UNIQUE%(digest)"},
        ).scalar_one()
    raise AssertionError("no unique index on api_keys.digest")


@pytest.mark.parametrize("peppers", [1, 2])
def test_the_key_lookup_uses_the_unique_digest_index_not_a_scan(app, team, admin, make_key, peppers):
    """With one pepper or two (a rotation: the key's digest under each, in one query)."""
    _, plaintext = make_key(admin)
    add_filler_keys(team, admin, 2000)
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("ANALYZE api_keys")
    compiled = lookup.statement("digest", peppers).compile(dialect=connection.dialect)
    digests = [tokens.digest(plaintext, pepper(app) + bytes(number)) for number in range(peppers)]
    if connection.dialect.name == "sqlite":
        plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(digests))]
    else:
        parameters = {f"digest{number}": digest for number, digest in enumerate(digests)}
        plan = [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}", parameters)]
    text_plan = "\n".join(plan)
    index = index_on_digest(connection)

    assert index in text_plan, text_plan
    if connection.dialect.name == "sqlite":
        assert f"SEARCH api_keys USING INDEX {index} (digest=?)" in text_plan
        assert "SCAN api_keys" not in text_plan
    else:
        # One digest: an index scan; several (IN): a bitmap of the same index, as cheap for a handful of rows.
        assert f"Index Scan using {index} on api_keys" in text_plan or f"Bitmap Index Scan on {index}" in text_plan
        assert "Seq Scan on api_keys" not in text_plan


@pytest.mark.parametrize("service", list(DATASETS), ids=lambda service: service.value)
@pytest.mark.parametrize("page", ["first", "later"])
def test_a_page_of_records_is_read_in_id_order_from_an_index_without_sorting_the_team(app, team, books, service,
                                                                                      page):
    # Without an index on (team_id, id) the first page sorted all of the team's rows (5.5 s at 1,000,000).
    books(20, "North")
    dataset = DATASETS[service]
    after_id = None if page == "first" else 5
    statement = dataset.query(team.id, Filters(), team.today(), after_id).limit(1001)
    connection = db.session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    index = f"ix_{dataset.model.__tablename__}_team_id_id"
    if connection.dialect.name == "sqlite":
        plan = "\n".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                                                       tuple(compiled.params.values())))
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        # Tiny test tables make a sort the cheapest plan; forbid it to see whether an index gives the order.
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
        plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
        assert index in plan, plan
        assert "Sort" not in plan, plan

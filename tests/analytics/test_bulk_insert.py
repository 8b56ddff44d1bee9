"""The generator's fast insert stores exactly what the ORM would, column by column, on SQLite and PostgreSQL."""

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import JSON, delete, select, text

from floqast.analytics import bulk_insert
from floqast.analytics.generate import Profile, checklist_rows, reconciliation_rows
from floqast.analytics.models import ChecklistItem, Reconciliation
from floqast.extensions import db

BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=9, months=3, through=(2025, 1), seed=4,
                people=("Ann", "Ben", "Cy"))
ROWS = {Reconciliation: reconciliation_rows, ChecklistItem: checklist_rows}


def stored(model) -> list[tuple]:
    """Every stored column but the id the database assigns, as the driver returns it (no column types applied),
    JSON as its text."""
    columns = ", ".join(
        f"CAST({column.name} AS TEXT)" if isinstance(column.type, JSON) else column.name
        for column in model.__table__.columns if column.name != "id"
    )
    return [tuple(row) for row in db.session.execute(text(f"SELECT {columns} FROM {model.__tablename__} ORDER BY id"))]


@pytest.mark.parametrize("model", ROWS)
def test_the_fast_insert_stores_the_rows_the_orm_stores(team, model, monkeypatch):
    rows = list(ROWS[model](team, BOOKS, random.Random(BOOKS.seed)))
    # Beyond what the generator makes: a moment in another zone, with microseconds.
    moment = rows[0]["created_at"] + timedelta(microseconds=123_456)
    rows[0]["created_at"] = moment.astimezone(ZoneInfo("Asia/Kolkata"))
    monkeypatch.setattr(bulk_insert, "BATCH_SIZE", 7)  # several batches and a short last one

    assert bulk_insert.insert_in_batches(model, rows) == len(rows)
    fast = stored(model)
    db.session.execute(delete(model))
    db.session.add_all(model(**row) for row in rows)
    db.session.flush()
    plain = stored(model)

    assert len(fast) == len(rows) > 7 * 2
    assert fast == plain
    assert db.session.scalar(select(model.created_at).order_by(model.id).limit(1)) == rows[0]["created_at"]

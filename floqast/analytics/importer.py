"""Import a CSV in the export's columns: check every row first, then write all of them or none."""

import csv
import re
from datetime import date, datetime

from sqlalchemy import insert, select, tuple_, update

from floqast.accounts.models import Team
from floqast.analytics.models import Entity, Folder
from floqast.analytics.money import to_money
from floqast.analytics.records import TEXT_KINDS, Dataset, restore_formula_text
from floqast.columns import utcnow
from floqast.extensions import db

FREQUENCIES = ("Monthly", "Quarterly", "Annually")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ImportRejected(Exception):
    """The file was not imported; `problems` says why, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_value(kind: str, text: str):
    """One cell as its column's Python value; ValueError with the reason when it is not one."""
    if kind == "money":
        return to_money(text)
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(f"{text!r} is not a whole number")
        return int(text)
    if kind == "date":
        if not ISO_DATE.match(text):
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
        return date.fromisoformat(text)
    if kind == "datetime":
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError(f"{text!r} has no time zone; end it with Z for UTC")
        return moment
    if kind == "tags":
        return [tag.strip() for tag in text.split(";") if tag.strip()]
    return text


def check_rules(values: dict) -> list[str]:
    """What a parsed row breaks beyond its cells' types."""
    problems = []
    if "period_month" in values and not 1 <= values["period_month"] <= 12:
        problems.append("period.month must be 1 to 12")
    if "period_year" in values and not 1900 <= values["period_year"] <= 2999:
        problems.append("period.year must be a four-digit year")
    if "currency" in values and not re.fullmatch(r"[A-Z]{3}", values["currency"]):
        problems.append("currency must be a three-letter code such as USD")
    if "frequency" in values and values["frequency"] not in FREQUENCIES:
        problems.append(f"frequency must be one of {', '.join(FREQUENCIES)}")
    for group in ("preparer", "reviewer"):
        if (values.get(f"{group}_signed_by") is None) != (values.get(f"{group}_signed_at") is None):
            problems.append(f"signatures.{group}.signedBy and signedDate go together: give both or neither")
    return problems


def parse_row(dataset: Dataset, row: dict) -> tuple[dict, list[str]]:
    """The row's column values and the problems found in it."""
    values, problems = {}, []
    table = dataset.model.__table__
    for field in dataset.fields:
        if field.derived:
            continue
        text = (row.get(field.name) or "").strip()
        if field.kind in TEXT_KINDS:  # as it was before the export neutralised it against formulas
            text = restore_formula_text(text)
        if not text:
            if field.nullable or field.kind == "tags":
                values[field.column] = [] if field.kind == "tags" else None
            else:
                problems.append(f"{field.name} is required")
            continue
        limit = getattr(table.c[field.column].type, "length", None) if field.column in table.c else 100
        if limit and len(text) > limit:
            problems.append(f"{field.name} is longer than {limit} characters")
            continue
        try:
            values[field.column] = parse_value(field.kind, text)
        except ValueError as error:
            problems.append(f"{field.name}: {error}")
    return values, problems + (check_rules(values) if not problems else [])


def read_rows(dataset: Dataset, lines) -> list[dict]:
    """Every row of the file, parsed; ImportRejected listing each bad row when any is bad."""
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    missing = [field.name for field in dataset.fields if not field.derived and field.name not in header]
    unknown = [name for name in header if name not in dataset.columns]
    if missing or unknown:
        problems = [f"Header: {what} columns {', '.join(names)}" for what, names in
                    (("missing", missing), ("unknown", unknown)) if names]
        raise ImportRejected(problems)
    rows, problems, seen = [], [], {}
    for number, row in enumerate(reader, start=2):  # the header is row 1, as in a spreadsheet
        values, row_problems = parse_row(dataset, row)
        if not row_problems:
            key = (values["entity"], *(values[column] for column in dataset.natural_key[1:]))
            if key in seen:
                row_problems.append(f"the same record as row {seen[key]}")
            seen.setdefault(key, number)
        problems += [f"Row {number}: {problem}" for problem in row_problems]
        rows.append(values)
    if problems:
        raise ImportRejected(problems)
    if not rows:
        raise ImportRejected(["The file has a header but no rows."])
    return rows


def import_rows(dataset: Dataset, team: Team, rows: list[dict]) -> tuple[int, int]:
    """Write parsed rows for `team` in one transaction: new records inserted, known ones updated."""
    model, now = dataset.model, utcnow()
    entity_ids = Entity.ids_by_name(team, [row["entity"] for row in rows])
    folder_ids = Folder.ids_by_name(team, [row["folder"] for row in rows])
    records = [
        {
            **{column: value for column, value in row.items() if column not in ("entity", "folder")},
            "team_id": team.id,
            "entity_id": entity_ids[row["entity"]],
            "folder_id": folder_ids[row["folder"]],
            "updated_at": now,
        }
        for row in rows
    ]
    existing = known_ids(dataset, team, records)
    updates = [
        {**record, "id": existing[key]} for record in records if (key := natural_key(dataset, record)) in existing
    ]
    inserts = [{**record, "created_at": now} for record in records if natural_key(dataset, record) not in existing]
    if inserts:
        db.session.execute(insert(model.__table__), inserts)
    if updates:
        db.session.execute(update(model), updates)
    db.session.commit()
    return len(inserts), len(updates)


def natural_key(dataset: Dataset, record: dict) -> tuple:
    return tuple(record[column] for column in dataset.natural_key)


def known_ids(dataset: Dataset, team: Team, records: list[dict]) -> dict[tuple, int]:
    """Ids of the team's records that the file names again, by natural key."""
    model = dataset.model
    columns = [getattr(model, column) for column in dataset.natural_key]
    periods = {(record["period_year"], record["period_month"]) for record in records}
    query = select(*columns, model.id).where(
        model.team_id == team.id, tuple_(model.period_year, model.period_month).in_(periods)
    )
    return {tuple(row[:-1]): row[-1] for row in db.session.execute(query)}


def import_csv(dataset: Dataset, team: Team, lines) -> tuple[int, int]:
    """Check and import a CSV file's lines; (inserted, updated), or ImportRejected with nothing written."""
    return import_rows(dataset, team, read_rows(dataset, lines))

"""The two datasets: their query, their records as the API shows them, and the flat CSV form."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import select

from floqast.analytics.filters import Filters
from floqast.analytics.models import SIGN_OFF_GROUPS, ChecklistItem, Entity, Folder, Reconciliation
from floqast.analytics.money import money_text
from floqast.keys.models import Service


@dataclass(frozen=True)
class Field:
    """One column of the CSV form (a JSON field, nested names joined with '.')."""

    name: str
    kind: str  # id (digits: a string in JSON), integer, string, money, boolean, date, datetime or tags
    description: str
    nullable: bool = False
    column: str | None = None  # the model column an import writes; None for fields the service computes

    @property
    def derived(self) -> bool:
        return self.column is None


# Every time the API gives, in JSON and CSV (FloQast's form): UTC, whole seconds, as iso_utc writes it.
ISO_UTC_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"


def iso_utc(moment: datetime | None) -> str | None:
    """The API's one time format, YYYY-MM-DDTHH:MM:SSZ (ISO 8601 in UTC, whole seconds), or None."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def iso_date(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


HEAD_FIELDS = (
    Field("id", "id", "The record's id."),
    Field("entity.id", "id", "The entity's id (for filter[entityIds])."),
    Field("entity.name", "string", "The entity's name.", column="entity"),
    Field("folder.id", "id", "The folder's id."),
    Field("folder.name", "string", "The folder, such as Cash or Payroll.", column="folder"),
    Field("period.month", "integer", "The month closed, 1 to 12.", column="period_month"),
    Field("period.year", "integer", "The year of the period.", column="period_year"),
)
SIGNATURE_FIELDS = tuple(
    field
    for group in SIGN_OFF_GROUPS
    for field in (
        Field(f"signatures.{group}.assignedTo", "string", f"Who is assigned as {group}.", True, f"{group}_assigned_to"),
        Field(f"signatures.{group}.signedBy", "string", f"Who signed off as {group}.", True, f"{group}_signed_by"),
        Field(f"signatures.{group}.signedDate", "datetime", f"When the {group} signed off (UTC).", True,
              f"{group}_signed_at"),
        Field(f"signatures.{group}.dueDate", "date", f"When the {group} sign-off is due.", column=f"{group}_due_on"),
    )
)
PAST_DUE = Field("pastDue", "boolean", "A sign-off is still missing after its due date.")
TAIL_FIELDS = (
    Field("createdAt", "datetime", "When the record was created (UTC)."),
    Field("updatedAt", "datetime", "When the record last changed (UTC); see filter[modifiedSince]."),
)

RECONCILIATION_FIELDS = (
    *HEAD_FIELDS,
    Field("accountNumber", "string", "The general ledger account number.", column="account_number"),
    Field("accountName", "string", "The account's name.", column="account_name"),
    Field("currency", "string", "ISO 4217 currency code, such as USD.", column="currency"),
    Field("glBalance", "money", "The general ledger balance.", column="gl_balance"),
    Field("reconciledBalance", "money", "The balance supported by the reconciliation.", column="reconciled_balance"),
    Field("reconcilingItems", "money", "The total of the reconciling items.", column="reconciling_items"),
    Field("difference", "money", "glBalance − reconciledBalance − reconcilingItems."),
    Field("reconciled", "boolean", "The difference is zero and both sign-offs are done."),
    Field("autoRecType", "string", "How the account is reconciled automatically, if it is.", True, "auto_rec_type"),
    *SIGNATURE_FIELDS,
    PAST_DUE,
    *TAIL_FIELDS,
)
CHECKLIST_FIELDS = (
    *HEAD_FIELDS,
    Field("description", "string", "The close task.", column="description"),
    Field("frequency", "string", "How often the task recurs: Monthly, Quarterly or Annually.", column="frequency"),
    Field("tags", "tags", "Labels of the task (in CSV, separated by ';').", column="tags"),
    *SIGNATURE_FIELDS,
    Field("readyForReview", "boolean", "The preparer has signed; the reviewer has not yet."),
    Field("complete", "boolean", "Both sign-offs are done."),
    PAST_DUE,
    *TAIL_FIELDS,
)


def head(row) -> dict:
    # Ids are strings in JSON, as JSON:API and FloQast's API have them; the CSV keeps the numbers.
    return {
        "id": str(row.id),
        "entity": {"id": str(row.entity_id), "name": row.entity_name},
        "folder": {"id": str(row.folder_id), "name": row.folder_name},
        "period": {"month": row.period_month, "year": row.period_year},
    }


def signatures(row) -> list[dict]:
    return [
        {
            "group": group,
            "assignedTo": getattr(row, f"{group}_assigned_to"),
            "signedBy": getattr(row, f"{group}_signed_by"),
            "signedDate": iso_utc(getattr(row, f"{group}_signed_at")),
            "dueDate": iso_date(getattr(row, f"{group}_due_on")),
        }
        for group in SIGN_OFF_GROUPS
    ]


def tail(row) -> dict:
    return {"pastDue": row.past_due, "createdAt": iso_utc(row.created_at), "updatedAt": iso_utc(row.updated_at)}


def reconciliation_record(row) -> dict:
    """A reconciliation as the API shows it."""
    return {
        **head(row),
        "accountNumber": row.account_number,
        "accountName": row.account_name,
        "currency": row.currency,
        "glBalance": money_text(row.gl_balance),
        "reconciledBalance": money_text(row.reconciled_balance),
        "reconcilingItems": money_text(row.reconciling_items),
        "difference": money_text(row.difference),
        "reconciled": row.reconciled,
        "autoRecType": row.auto_rec_type,
        "signatures": signatures(row),
        **tail(row),
    }


def checklist_record(row) -> dict:
    """A checklist item as the API shows it."""
    return {
        **head(row),
        "description": row.description,
        "frequency": row.frequency,
        "tags": list(row.tags or []),
        "signatures": signatures(row),
        "readyForReview": row.ready_for_review,
        "complete": row.complete,
        **tail(row),
    }


def flatten(record: dict, prefix: str = "") -> dict[str, str]:
    """The CSV form of a record: nested names joined with '.', sign-offs by group, tags joined with ';'."""
    flat = {}
    for name, value in record.items():
        if name == "signatures":
            value = {signature["group"]: {k: v for k, v in signature.items() if k != "group"} for signature in value}
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{name}."))
        elif isinstance(value, list):
            flat[prefix + name] = ";".join(value)
        elif isinstance(value, bool):
            flat[prefix + name] = "true" if value else "false"
        else:
            flat[prefix + name] = "" if value is None else str(value)
    return flat


def result_key(field_name: str) -> str:
    """The label of a field's value in the dataset query's rows ("signatures.preparer.signedDate" ->
    "preparer_signed_at", "entity.name" -> "entity_name", "glBalance" -> "gl_balance")."""
    parts = field_name.split(".")
    if parts[0] == "signatures":
        group, name = parts[1], parts[2]
        return f"{group}_" + {"signedDate": "signed_at", "dueDate": "due_on"}.get(name, snake(name))
    return "_".join(snake(part) for part in parts)


def snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


# A spreadsheet runs a cell that begins with =, +, -, @, tab or CR as a formula (OWASP's CSV injection).
# A quote before such a text cell makes it text; cells that begin with a quote get one too, so that
# `restore_formula_text` takes exactly one off again and an export imports unchanged.
FORMULA_STARTS = "=+-@\t\r'"
# A spreadsheet whose list separator is ; (Excel in most of Europe) cuts this comma-separated file at every ; and
# line break, inside our quotes too, and honours a " only at the start of a cell it cut: each part of a text cell
# after one of these is a cell's start of its own (each tag, for one), where a " needs the quote as well.
CELL_BREAKS = ";\r\n"


def one_of(characters: str) -> str:
    """A bracket expression matching any of `characters`, read alike by Python's re and PostgreSQL's regular
    expressions (no escapes: a - goes last, where both take it as itself)."""
    return "[" + characters.replace("-", "") + "-" * ("-" in characters) + "]"


_FORMULA_START = one_of(FORMULA_STARTS)
_SPLIT_OFF_START = one_of(FORMULA_STARTS + '"')
_AFTER_BREAK = f"(?<={one_of(CELL_BREAKS)})"
# Where neutralise_formula puts its quotes. The CSV export on PostgreSQL (csv_copy.py) runs this very pattern in
# regexp_replace; tests/analytics/test_csv_copy.py checks that both give the same text.
NEUTRALISED_AT = re.compile(f"^(?={_FORMULA_START})|{_AFTER_BREAK}(?={_SPLIT_OFF_START})")
ADDED_QUOTES = re.compile(f"^'(?={_FORMULA_START})|{_AFTER_BREAK}'(?={_SPLIT_OFF_START})")
TEXT_KINDS = ("string", "tags")


def neutralise_formula(text: str | None) -> str | None:
    """A text cell as spreadsheets show it without running it: a quote before each part's formula character."""
    return NEUTRALISED_AT.sub("'", text) if text else text


def restore_formula_text(text: str) -> str:
    """The text an exported cell held before `neutralise_formula`."""
    return ADDED_QUOTES.sub("", text)


@dataclass(frozen=True)
class Dataset:
    """One analytics service: its table, its record shape and its CSV columns."""

    service: Service
    model: type
    to_record: Callable
    fields: tuple[Field, ...]
    natural_key: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [field.name for field in self.fields]

    def flat_record(self, row) -> dict[str, str]:
        """A row's CSV form built the plain way: its record flattened, text neutralised against formulas."""
        flat = flatten(self.to_record(row))
        return {field.name: neutralise_formula(flat[field.name]) if field.kind in TEXT_KINDS else flat[field.name]
                for field in self.fields}

    def query(self, team_id: int, filters: Filters, today: date, after_id: int | None = None):
        """The records of one team matching `filters`, in id order, with every derived field."""
        model = self.model
        statement = (
            select(
                *(column.label(column.name) for column in model.__table__.columns),
                Entity.name.label("entity_name"),
                Folder.name.label("folder_name"),
                *(expression.label(name) for name, expression in model.derived(today).items()),
            )
            .join(Entity, Entity.id == model.entity_id)
            .join(Folder, Folder.id == model.folder_id)
            .where(model.team_id == team_id, *filters.clauses(model))
            .order_by(model.id)
        )
        return statement if after_id is None else statement.where(model.id > after_id)


DATASETS = {
    Service.RECONCILIATIONS: Dataset(
        Service.RECONCILIATIONS, Reconciliation, reconciliation_record, RECONCILIATION_FIELDS,
        ("entity_id", "account_number", "period_year", "period_month"),
    ),
    Service.CHECKLISTS: Dataset(
        Service.CHECKLISTS, ChecklistItem, checklist_record, CHECKLIST_FIELDS,
        ("entity_id", "description", "period_year", "period_month"),
    ),
}

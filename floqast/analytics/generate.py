"""Deterministic close data in bulk: the demo's realistic books and the load-test generator's volumes."""

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import cache

from sqlalchemy import select

from floqast.accounts.models import Team
from floqast.analytics.bulk_insert import insert_in_batches
from floqast.analytics.models import ChecklistItem, Entity, Folder, Reconciliation
from floqast.analytics.periods import months_through, period_end
from floqast.extensions import db

PREPARER_DUE_DAYS = 5
REVIEWER_DUE_DAYS = 10

# (folder, first account number, account names); numbers run on from the first one.
CHART = (
    ("Cash", 1000, ("Operating account", "Payroll account", "Petty cash", "Money market", "Lockbox")),
    ("Accounts Receivable", 1200, ("Trade receivables", "Allowance for doubtful accounts", "Unbilled revenue")),
    ("Prepaids", 1400, ("Prepaid insurance", "Prepaid rent", "Prepaid software", "Deposits")),
    ("Fixed Assets", 1600, ("Computer equipment", "Furniture and fixtures", "Leasehold improvements",
                            "Accumulated depreciation")),
    ("Accrued Liabilities", 2100, ("Accrued payroll", "Accrued bonus", "Accrued professional fees",
                                   "Accrued interest", "Sales tax payable")),
    ("Equity", 3000, ("Common stock", "Additional paid-in capital", "Retained earnings")),
)
AUTO_REC_TYPES = (None, None, None, "Amortization", "Transaction Matching", "Flux Analysis")
# (description, folder, frequency, months it recurs in or None for every month, tags)
TASKS = (
    ("Bank reconciliations", "Cash", "Monthly", None, ("bank", "cash")),
    ("Payroll accrual", "Payroll", "Monthly", None, ("payroll", "accrual")),
    ("Flux review", "Reporting", "Monthly", None, ("review", "analytics")),
    ("Revenue cut-off", "Revenue", "Monthly", None, ("revenue",)),
    ("Prepaid amortisation", "Prepaids", "Monthly", None, ("prepaids", "journal entry")),
    ("Depreciation journal", "Fixed Assets", "Monthly", None, ("fixed assets", "journal entry")),
    ("Intercompany reconciliation", "Intercompany", "Monthly", None, ("intercompany",)),
    ("Accrued expenses review", "Accrued Liabilities", "Monthly", None, ("accrual", "review")),
    ("Sales tax filing", "Tax", "Monthly", None, ("tax", "filing")),
    ("Close meeting and sign-off", "Reporting", "Monthly", None, ("management",)),
    ("Debt covenant review", "Reporting", "Quarterly", (3, 6, 9, 12), ("debt", "review")),
    ("Audit PBC list", "Reporting", "Annually", (12,), ("audit",)),
)


@dataclass(frozen=True)
class Profile:
    """What to make: entities with their currency, accounts per entity and a run of closed months."""

    entities: tuple[tuple[str, str], ...]
    accounts: int
    months: int
    through: tuple[int, int]
    seed: int
    people: tuple[str, ...]
    checklists: bool = True

    def periods(self) -> list[tuple[int, int]]:
        """(year, month) pairs, oldest first, ending with `through`."""
        return months_through(self.through, self.months)


def expected_rows(profile: Profile) -> int:
    """How many rows `generate` makes for the profile, for a progress bar."""
    tasks = sum(1 for _, month in profile.periods() for task in TASKS if task[3] is None or month in task[3])
    return len(profile.entities) * (profile.months * profile.accounts + (tasks if profile.checklists else 0))


@cache
def nine_am(day: date) -> datetime:
    return datetime.combine(day, time(9), timezone.utc)


@cache
def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def at(day: date, rng: random.Random) -> datetime:
    return nine_am(day) + minutes(rng.randrange(10 * 60))


def chart(accounts: int) -> list[tuple[str, str, str]]:
    """`accounts` (folder, number, name) triples, spread over the folders of the chart."""
    result = []
    for index in range(accounts):
        folder, first, names = CHART[index % len(CHART)]
        position = index // len(CHART)
        name = names[position % len(names)]
        suffix = "" if position < len(names) else f" {position // len(names) + 1}"
        result.append((folder, account_number(first, position), f"{name}{suffix}"))
    return result


ACCOUNTS_PER_RANGE = 200  # each folder's numbers run from its first one to first + 199


def account_number(first: int, position: int) -> str:
    """"1000", "1001", ... "1199", then "1000-1", "1001-1", ...: past 200 accounts a folder's numbers would
    run into the next folder's (Cash's 201st account was 1200, Accounts Receivable's first)."""
    number = str(first + position % ACCOUNTS_PER_RANGE)
    return number if position < ACCOUNTS_PER_RANGE else f"{number}-{position // ACCOUNTS_PER_RANGE}"


def sign_offs(rng: random.Random, year: int, month: int, age: int, people: tuple[str, ...]) -> dict:
    """Preparer and reviewer sign-offs: recent periods are still open, older ones mostly done, some late."""
    end = period_end(year, month)
    preparer_due, reviewer_due = end + timedelta(days=PREPARER_DUE_DAYS), end + timedelta(days=REVIEWER_DUE_DAYS)
    chance = rng.random()
    prepared = chance < (0.6 if age == 0 else 0.97)
    reviewed = prepared and chance < (0.35 if age == 0 else 0.93)
    late = rng.random() < 0.12
    preparer, reviewer = rng.sample(people, 2)
    preparer_day = preparer_due + timedelta(days=rng.randrange(1, 6) if late else -rng.randrange(0, 4))
    reviewer_signed = reviewer_due + timedelta(days=rng.randrange(1, 6) if late else -rng.randrange(0, 4))
    reviewer_day = max(preparer_day, reviewer_signed)
    return {
        "preparer_assigned_to": preparer,
        "preparer_signed_by": preparer if prepared else None,
        "preparer_signed_at": at(preparer_day, rng) if prepared else None,
        "preparer_due_on": preparer_due,
        "reviewer_assigned_to": reviewer,
        "reviewer_signed_by": reviewer if reviewed else None,
        "reviewer_signed_at": at(reviewer_day, rng) if reviewed else None,
        "reviewer_due_on": reviewer_due,
    }


def stamps(rng: random.Random, year: int, month: int, signed: dict) -> dict:
    created = at(period_end(year, month) + timedelta(days=1), rng)
    moments = [created] + [signed[f"{g}_signed_at"] for g in ("preparer", "reviewer") if signed[f"{g}_signed_at"]]
    return {"created_at": created, "updated_at": max(moments)}


def balances(rng: random.Random, signed_off: bool) -> dict:
    gl = Decimal(rng.randrange(-5_000_000_00, 25_000_000_00)).scaleb(-2)
    items = Decimal(rng.randrange(-50_000_00, 50_000_00)).scaleb(-2) if rng.random() < 0.3 else Decimal("0.00")
    # Most finished work ties out; some open work and a few finished accounts still carry a difference.
    off = rng.random() < (0.03 if signed_off else 0.4)
    unexplained = Decimal(rng.randrange(1, 2_500_00)).scaleb(-2) if off else Decimal("0.00")
    return {"gl_balance": gl, "reconciled_balance": gl - items - unexplained, "reconciling_items": items}


def reconciliation_rows(team: Team, profile: Profile, rng: random.Random):
    accounts = chart(profile.accounts)
    entity_ids = Entity.ids_by_name(team, [name for name, _ in profile.entities])
    folder_ids = Folder.ids_by_name(team, [folder for folder, _, _ in accounts])
    periods = profile.periods()
    for entity, currency in profile.entities:
        for age, (year, month) in zip(range(len(periods) - 1, -1, -1), periods, strict=True):
            for folder, number, name in accounts:
                signed = sign_offs(rng, year, month, age, profile.people)
                yield {
                    "team_id": team.id, "entity_id": entity_ids[entity], "folder_id": folder_ids[folder],
                    "period_year": year, "period_month": month,
                    "account_number": number, "account_name": name, "currency": currency,
                    "auto_rec_type": rng.choice(AUTO_REC_TYPES),
                    **balances(rng, signed["reviewer_signed_at"] is not None),
                    **signed, **stamps(rng, year, month, signed),
                }


def checklist_rows(team: Team, profile: Profile, rng: random.Random):
    entity_ids = Entity.ids_by_name(team, [name for name, _ in profile.entities])
    folder_ids = Folder.ids_by_name(team, [task[1] for task in TASKS])
    periods = profile.periods()
    for entity, _ in profile.entities:
        for age, (year, month) in zip(range(len(periods) - 1, -1, -1), periods, strict=True):
            for description, folder, frequency, months, tags in TASKS:
                if months is not None and month not in months:
                    continue
                signed = sign_offs(rng, year, month, age, profile.people)
                yield {
                    "team_id": team.id, "entity_id": entity_ids[entity], "folder_id": folder_ids[folder],
                    "period_year": year, "period_month": month,
                    "description": description, "frequency": frequency, "tags": list(tags),
                    **signed, **stamps(rng, year, month, signed),
                }


def generate(team: Team, profile: Profile, on_batch=None) -> tuple[int, int]:
    """Make the profile's reconciliations and checklist items for `team`, in one transaction."""
    rng = random.Random(profile.seed)
    reconciliations = insert_in_batches(Reconciliation, reconciliation_rows(team, profile, rng), on_batch)
    checklists = 0
    if profile.checklists:
        checklists = insert_in_batches(ChecklistItem, checklist_rows(team, profile, rng), on_batch)
    db.session.commit()
    return reconciliations, checklists


def has_data(team: Team) -> bool:
    """Whether the team has close records (entities alone, made for a key limited to them, are not books)."""
    return any(db.session.scalar(select(model.id).where(model.team_id == team.id).limit(1)) is not None
               for model in (Reconciliation, ChecklistItem))

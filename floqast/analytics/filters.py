"""Which records of a dataset a pull asks for: the filters its queries apply."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone


@dataclass(frozen=True)
class Filters:
    """Which records a pull asks for; every field optional."""

    year: int | None = None
    month: int | None = None
    modified_since: date | None = None
    modified_before: date | None = None
    entity_ids: tuple[int, ...] = field(default_factory=tuple)
    # The entities the pull's key may read (None: every entity of its team): no record of another is ever read.
    readable_entity_ids: tuple[int, ...] | None = None

    def clauses(self, model) -> list:
        """SQL conditions on `model` for these filters."""
        conditions = []
        if self.month is not None:
            conditions += [model.period_year == self.year, model.period_month == self.month]
        if self.modified_since is not None:
            conditions.append(model.updated_at >= start_of_utc_day(self.modified_since))
        if self.modified_before is not None:
            conditions.append(model.updated_at < start_of_utc_day(self.modified_before))
        if self.entity_ids or self.readable_entity_ids is not None:
            conditions.append(model.entity_id.in_(self.entity_ids or self.readable_entity_ids))
        return conditions

    @property
    def key(self) -> list:
        """A JSON-ready fingerprint, so that a cursor only continues the query that issued it."""
        dates = [None if day is None else day.isoformat() for day in (self.modified_since, self.modified_before)]
        return [self.year, self.month, *dates, list(self.entity_ids)]


def start_of_utc_day(day: date) -> datetime:
    return datetime.combine(day, time(), timezone.utc)

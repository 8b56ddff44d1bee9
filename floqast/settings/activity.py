"""The Activity page's date filters: From and To, days in the team's time zone (both included), read from the query
string, with an error for each one that is not a day."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from werkzeug.datastructures import MultiDict

from floqast.accounts.models import Team

# Only this form: date.fromisoformat also reads 20260105 and 2026W011, which no date field sends.
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NOT_A_DAY = "Enter {label} as a date, such as 2026-03-01."


@dataclass
class DateRange:
    """A list's From and To as sent (under their own names in the URL), the UTC instants they bound (None: open),
    and what is wrong with them."""

    names: tuple[str, str]
    texts: tuple[str, str] = ("", "")
    since: datetime | None = None
    until: datetime | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def fields(self) -> list[tuple[str, str, str, str | None]]:
        """Each field's name, label, value as sent and error, for the form."""
        return [(name, label, text, self.errors.get(name))
                for name, label, text in zip(self.names, ("From", "To"), self.texts, strict=True)]

    def args(self) -> dict[str, str | None]:
        """The query arguments that keep this range in a list's links (None: left out)."""
        return {name: text or None for name, text in zip(self.names, self.texts, strict=True)}


def read_day(text: str) -> date:
    if not ISO_DAY.fullmatch(text):
        raise ValueError(text)
    return date.fromisoformat(text)


def date_range(args: MultiDict, team: Team, names: tuple[str, str]) -> DateRange:
    """The range ?<from>=&<to>= asks for: from the start of From to the end of To in the team's time zone."""
    texts = tuple(args.get(name, "").strip() for name in names)
    dates = DateRange(names, texts)
    days = []
    for name, label, text in zip(names, ("From", "To"), texts, strict=True):
        try:
            days.append(read_day(text) if text else None)
        except ValueError:
            dates.errors[name] = NOT_A_DAY.format(label=label)
            days.append(None)
    start, end = days
    if start and end and end < start:
        dates.errors[names[1]] = f"To is before From: choose a day on or after {start.isoformat()}."
    if not dates.errors:
        dates.since = None if start is None else datetime.combine(start, time(), team.zone).astimezone(timezone.utc)
        dates.until = None if end is None else team.end_of_day(end)
    return dates

"""Close periods: calendar months as (year, month) pairs."""

from datetime import date, timedelta
from functools import cache


def last_closed_month(today: date) -> tuple[int, int]:
    """The month before the one `today` falls in."""
    first = today.replace(day=1) - timedelta(days=1)
    return first.year, first.month


def months_through(through: tuple[int, int], count: int) -> list[tuple[int, int]]:
    """`count` months, oldest first, ending with `through`."""
    year, month = through
    index = year * 12 + month - 1
    return [(i // 12, i % 12 + 1) for i in range(index - count + 1, index + 1)]


@cache
def period_end(year: int, month: int) -> date:
    """The last day of the month."""
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)

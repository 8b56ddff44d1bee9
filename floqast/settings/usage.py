"""The key page's Usage: its requests per day over the team's last 30 days as a bar chart (SVG drawn here, no
script), and its totals for the last 24 hours and 30 days, succeeded and refused apart."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.models import ApiKey
from floqast.usage.addresses import ClientAddress, client_addresses
from floqast.usage.buffer import flush_own
from floqast.usage.days import ApiRequestDay, counted_days
from floqast.usage.hours import ApiRequestHour, hour_of
from floqast.usage.queries import latest_accepted

DAYS = 30
# The most addresses a key's page lists; Allow only these addresses takes at most the allowlist's limit of them.
ADDRESSES_SHOWN = 50
# The chart's drawing, in viewBox units: the whole, and the room around the bars (left for the scale, under them
# for dates, right for half of today's date).
WIDTH, HEIGHT, LEFT, RIGHT, BOTTOM, TOP = 640, 220, 52, 20, 24, 8
# Stacked bottom to top, each drawn with its class (static/app.css) and named in the legend.
SERIES = (("succeeded", "Succeeded"), ("failed", "Other errors"), ("refused", "Refused (401, 403, 429)"))


@dataclass
class Counts:
    """Requests by outcome: succeeded (below 400), refused (401, 403, 429), failed (any other error)."""

    succeeded: int = 0
    refused: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.refused + self.failed

    def add(self, other: "Counts") -> None:
        self.succeeded += other.succeeded
        self.refused += other.refused
        self.failed += other.failed


@dataclass
class Day(Counts):
    day: date | None = None


@dataclass
class Segment:
    css_class: str
    y: float
    height: float


@dataclass
class Bar:
    day: Day
    x: float
    segments: list[Segment]


def nice_ceiling(value: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least `value` and 5 (so a quiet key's few requests do
    not stand as tall as a busy one's)."""
    step = 1
    while True:
        for multiple in (1, 2, 5):
            if step * multiple >= max(value, 5):
                return step * multiple
        step *= 10


@dataclass
class Chart:
    """Where the bars, the scale and the date labels go."""

    days: list[Day]

    width, height, left, right, bottom, top = WIDTH, HEIGHT, LEFT, RIGHT, BOTTOM, TOP

    @property
    def scale_top(self) -> int:
        return nice_ceiling(max(day.total for day in self.days))

    @property
    def base(self) -> float:
        return self.height - self.bottom

    @property
    def slot(self) -> float:
        return (self.width - self.left - self.right) / len(self.days)

    @property
    def bar_width(self) -> float:
        return round(self.slot * 0.7, 2)

    def y(self, count: float) -> float:
        return round(self.base - count * (self.base - self.top) / self.scale_top, 2)

    @property
    def ticks(self) -> list[tuple[int, float]]:
        """The scale's lines: zero, half and the top, with their heights."""
        return [(count, self.y(count)) for count in (0, self.scale_top // 2, self.scale_top)]

    @property
    def bars(self) -> list[Bar]:
        bars = []
        for number, day in enumerate(self.days):
            segments, below = [], 0
            for name, _ in SERIES:
                above = below + getattr(day, name)
                if above > below:
                    segments.append(Segment(f"bar-{name}", self.y(above), self.y(below) - self.y(above)))
                below = above
            x = round(self.left + number * self.slot + (self.slot - self.bar_width) / 2, 2)
            bars.append(Bar(day, x, segments))
        return bars

    @property
    def labels(self) -> list[tuple[date, float]]:
        """Every 7th day's date under its bar, counting back from today's."""
        return [(bar.day.day, round(bar.x + self.bar_width / 2, 2)) for bar in self.bars[::-7]]


def last_day_counts(key: ApiKey, now: datetime) -> Counts:
    """The key's requests of the last 24 hours, by whole hours (this one and the 23 before it), from its hourly
    counts: at most 24 rows, however busy the key."""
    hour = hour_of(now)
    totals = db.session.execute(select(*(func.coalesce(func.sum(getattr(ApiRequestHour, name)), 0)
                                          for name, _ in SERIES)).where(
        ApiRequestHour.team_id == key.team_id,
        ApiRequestHour.hour.between(hour - 23, hour),
        ApiRequestHour.api_key_id == key.id,
    )).one()
    return Counts(**dict(zip((name for name, _ in SERIES), totals, strict=True)))


def key_usage(key: ApiKey, now: datetime | None = None) -> dict:
    """What the Usage section shows: the key's last 30 days of the team (at most 30 rows of the daily counts),
    their totals, and the last 24 hours' totals; this worker's unwritten log rows are written first."""
    now = now or utcnow()
    flush_own()
    today = key.team.today(now)
    first = today - timedelta(days=DAYS - 1)
    counted = counted_days(key.team_id, key.id, first, today)
    days = []
    for number in range(DAYS):
        day = first + timedelta(days=number)
        row = counted.get(day)
        days.append(Day(row.succeeded, row.refused, row.failed, day) if row else Day(day=day))
    month = Counts()
    for day in days:
        month.add(day)
    return {"usage_chart": Chart(days), "usage_series": SERIES, "usage_totals": {
        "Last 24 hours": last_day_counts(key, now), f"Last {DAYS} days": month}}


@dataclass
class LastUse:
    """When, from where and with what a key was last used."""

    at: datetime
    ip: str | None
    user_agent: str | None


def last_use(key: ApiKey) -> LastUse | None:
    """The key's last use as the request log has it (its latest accepted request, which the key's own Last used,
    written at most once a minute, may lag behind); what the key noted when the log holds nothing as recent (pruned,
    or turned off); None for a key never used."""
    if key.last_used_at is None:
        return None
    logged = latest_accepted(key.team_id, key.id, key.last_used_at)
    if logged is not None:
        return LastUse(logged.created_at, logged.source_ip, logged.user_agent)
    return LastUse(key.last_used_at, key.last_used_ip, key.last_used_user_agent)


def month_requests(key: ApiKey, now: datetime | None = None) -> int:
    """How many requests the key made in its team's last 30 days (the Usage chart's days), in one query."""
    flush_own()
    today = key.team.today(now or utcnow())
    totals = select(func.coalesce(func.sum(ApiRequestDay.succeeded + ApiRequestDay.refused + ApiRequestDay.failed), 0))
    return db.session.scalar(totals.where(
        ApiRequestDay.team_id == key.team_id,
        ApiRequestDay.api_key_id == key.id,
        ApiRequestDay.day.between(today - timedelta(days=DAYS - 1), today),
    ))


def key_addresses(key: ApiKey, now: datetime | None = None) -> list[ClientAddress]:
    """The addresses the key's requests came from in the last 30 days, the latest used first."""
    flush_own()
    return client_addresses(key.team_id, key.id, (now or utcnow()) - timedelta(days=DAYS), ADDRESSES_SHOWN)

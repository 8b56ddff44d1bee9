"""Template filters that show dates and times in the team's time zone, how long ago a time was, numbers and
counts of things, and text with links."""

import re
from datetime import date, datetime, timedelta

from flask import current_app
from markupsafe import Markup, escape

from floqast.columns import utcnow
from floqast.keys.models import EXPIRING_SOON_DAYS, KeyStatus
from floqast.settings import bp

NO_EXPIRY = "—"  # a deactivated key's, whose expiry no longer means anything


@bp.app_template_filter()
def day(value: date | datetime | None, team=None) -> str:
    """A date like "Nov 27, 2026", taking a datetime into the team's zone first."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(team.zone).date()
    return f"{value:%b} {value.day}, {value.year}"


@bp.app_template_filter()
def moment(value: datetime, team) -> str:
    """A time like "Nov 27, 2026, 7:05 AM" in the team's zone."""
    local = value.astimezone(team.zone)
    return f"{day(local.date())}, {local:%-I:%M %p}"


@bp.app_template_filter()
def exact_time(value: datetime, team) -> str:
    """The full local time for a tooltip, like "Nov 27, 2026, 7:05 AM PST"."""
    return f"{moment(value, team)} {value.astimezone(team.zone):%Z}"


@bp.app_template_filter()
def number(value: int) -> str:
    """A whole number as every page writes one: 30,000."""
    return f"{value:,}"


@bp.app_template_filter()
def numbers_in(text: str) -> str:
    """Text with each number in it written as `number` does: "30000 per minute" is "30,000 per minute"."""
    return re.sub(r"\d+", lambda found: number(int(found.group())), text)


@bp.app_template_filter()
def count(value: int, unit: str, units: str | None = None) -> str:
    """A number of things, the unit agreeing with it: "1 other error", "2 other errors", "1,200 requests"."""
    return f"{number(value)} {unit if value == 1 else units or unit + 's'}"


def _count(amount: int, unit: str) -> str:
    return f"{count(amount, unit)} ago"


@bp.app_template_filter()
def ago(value: datetime, now: datetime | None = None) -> str:
    """How long ago, as people say it: "Just now", "5 minutes ago", "3 hours ago", "2 days ago"."""
    elapsed = (now or utcnow()) - value
    if elapsed < timedelta(minutes=1):
        return "Just now"  # also a clock a little ahead of ours
    if elapsed < timedelta(hours=1):
        return _count(elapsed // timedelta(minutes=1), "minute")
    if elapsed < timedelta(days=1):
        return _count(elapsed // timedelta(hours=1), "hour")
    days = elapsed.days
    if days < 30:
        return _count(days, "day")
    if days < 365:
        return _count(days // 30, "month")
    return _count(days // 365, "year")


@bp.app_template_filter()
def expiry(key, today: date) -> str:
    """The Expires a key shows: its date, or Never; for a deactivated key only an expiry that came before it stopped
    (a later one, or none, never happens)."""
    if key.status(today) is KeyStatus.DEACTIVATED:
        stopped_on = key.stopped_at.astimezone(key.team.zone).date()
        return day(key.expires_on) if key.expires_on is not None and key.expires_on < stopped_on else NO_EXPIRY
    return day(key.expires_on) if key.expires_on else "Never"


@bp.app_template_test()
def expiring_soon(expires_on: date | None, today: date) -> bool:
    """Whether a key still works but stops within the next EXPIRING_SOON_DAYS days."""
    return expires_on is not None and today <= expires_on <= today + timedelta(days=EXPIRING_SOON_DAYS)


# A web address in stored text, such as the one GitHub's report gives for a leaked key.
URL = re.compile(r"https://[^\s<>\"]+")
# The most of an address a link shows (a longer one: its start and its end), with the whole in the link.
SHOWN_URL_LENGTH = 160


@bp.app_template_filter()
def with_links(text: str | None) -> Markup:
    """Text, escaped, with each https address in it a link; one longer than SHOWN_URL_LENGTH shows its start and
    end, the whole of it in the link and its title: a leaked key's URL may run to thousands of characters."""
    parts, start = [], 0
    for found in URL.finditer(text or ""):
        url = shown = found.group()
        if len(url) > SHOWN_URL_LENGTH:
            half = SHOWN_URL_LENGTH // 2
            shown = f"{url[:half]}…{url[-half:]}"
        parts += [escape(text[start:found.start()]),
                  Markup('<a href="{0}" title="{0}" rel="noreferrer">{1}</a>').format(url, shown)]
        start = found.end()
    parts.append(escape((text or "")[start:]))
    return Markup("").join(parts)


@bp.app_template_filter()
def entities_read(key, total: int) -> str:
    """Which of its team's entities a key reads, as the pages say it: "All entities" or "3 of 12 entities"."""
    if key.entity_ids is None:
        return "All entities"
    return f"{len(key.entity_ids):,} of {total:,} {'entity' if total == 1 else 'entities'}"


@bp.app_template_filter()
def rate_limit(key) -> str:
    """A key's rate limit as the pages say it: its own, or the team default's."""
    if key.rate_limit_per_minute is None:
        return f"the team default ({current_app.config['API_RATE_LIMIT']})"
    return f"{key.rate_limit_per_minute:,} requests a minute"

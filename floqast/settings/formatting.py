"""Template filters that show dates and times in the team's time zone."""

from datetime import date, datetime

from floqast.settings import bp


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

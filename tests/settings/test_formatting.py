"""The template filters behind the API Keys table: relative "Last used" and "Expiring soon"."""

from datetime import date, datetime, timedelta, timezone

import pytest

from floqast.accounts.models import Team
from floqast.settings.formatting import ago, exact_time, expiring_soon, moment

NOW = datetime(2026, 11, 27, 15, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("elapsed, expected", [
    (timedelta(seconds=-30), "Just now"),
    (timedelta(seconds=0), "Just now"),
    (timedelta(seconds=59), "Just now"),
    (timedelta(minutes=1), "1 minute ago"),
    (timedelta(minutes=59, seconds=59), "59 minutes ago"),
    (timedelta(hours=1), "1 hour ago"),
    (timedelta(hours=3, minutes=20), "3 hours ago"),
    (timedelta(hours=23, minutes=59), "23 hours ago"),
    (timedelta(days=1), "1 day ago"),
    (timedelta(days=2, hours=3), "2 days ago"),
    (timedelta(days=29), "29 days ago"),
    (timedelta(days=30), "1 month ago"),
    (timedelta(days=364), "12 months ago"),
    (timedelta(days=365), "1 year ago"),
    (timedelta(days=800), "2 years ago"),
])
def test_ago(elapsed, expected):
    assert ago(NOW - elapsed, now=NOW) == expected


def test_exact_time_is_the_team_local_time_with_its_zone():
    team = Team(name="Acme", timezone="America/Los_Angeles")
    assert moment(NOW, team) == "Nov 27, 2026, 7:30 AM"
    assert exact_time(NOW, team) == "Nov 27, 2026, 7:30 AM PST"
    assert exact_time(NOW, Team(name="Globex", timezone="UTC")) == "Nov 27, 2026, 3:30 PM UTC"


@pytest.mark.parametrize("days_left, expected", [
    (-1, False), (0, True), (1, True), (7, True), (8, False), (365, False),
])
def test_expiring_soon(days_left, expected):
    today = date(2026, 11, 27)
    assert expiring_soon(today + timedelta(days=days_left), today) is expected


def test_no_expiration_is_never_expiring_soon():
    assert expiring_soon(None, date(2026, 11, 27)) is False

"""The demo teams' books: Acme Corp's full year and Globex's smaller, European one."""

from sqlalchemy import select

from floqast.analytics.generate import Profile, generate, has_data
from floqast.analytics.periods import last_closed_month
from floqast.extensions import db
from floqast.models import Team

DEMO_BOOKS = {
    "Acme Corp": dict(
        entities=(("Acme Corp (US)", "USD"), ("Acme Canada Ltd", "CAD"), ("Acme Manufacturing LLC", "USD")),
        accounts=150, months=12, seed=2024,
        people=("Alex Admin", "Morgan Manager", "Uma User", "Sam Sysadmin", "Priya Patel", "Diego Ramos"),
    ),
    "Globex": dict(
        entities=(("Globex UK Ltd", "GBP"), ("Globex Europe BV", "EUR")),
        accounts=40, months=6, seed=2025,
        people=("Gale Globex", "Hank Scorpio", "Frank Grimes"),
    ),
}


def seed_demo_analytics() -> None:
    """Fill each demo team that has no close data yet, up to its last closed month."""
    for name, books in DEMO_BOOKS.items():
        team = db.session.scalar(select(Team).where(Team.name == name))
        if team is not None and not has_data(team):
            generate(team, Profile(**books, through=last_closed_month(team.today())))

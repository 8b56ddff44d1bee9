"""`flask --app wsgi team ...`: create teams, turn their Open API on or off, list them."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from floqast.accounts.models import Team, User
from floqast.cli.wording import plural
from floqast.extensions import db

team_cli = AppGroup("team", help="Create teams and turn their Open API on or off.")


def team_named(name: str) -> Team:
    """The team called `name`, ignoring surrounding spaces and case as `team create` does, or a refusal."""
    team = Team.named(name)
    if team is None:
        raise click.ClickException(f"No team is named {name.strip()!r}. See `flask --app wsgi team list`.")
    return team


def valid_timezone(ctx, param, value: str) -> str:
    # A ClickException, not BadParameter: one line naming the problem, not a usage dump.
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.ClickException(
            f"{value!r} is not an IANA time zone such as UTC or America/New_York."
        ) from None
    return value


@team_cli.command("create")
@click.argument("name")
@click.option("--open-api", is_flag=True, help="Turn the Open API on for the new team.")
@click.option("--timezone", default="UTC", show_default=True, callback=valid_timezone, help="IANA time zone.")
def create_team(name: str, open_api: bool, timezone: str):
    """Create a team (Open API off unless --open-api)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise click.ClickException("A team name needs 1 to 100 characters.")
    if db.session.scalar(select(Team).where(func.lower(Team.name) == name.lower())):
        raise click.ClickException(f"A team named {name!r} already exists.")
    db.session.add(Team(name=name, timezone=timezone, open_api_enabled=open_api))
    db.session.commit()
    click.echo(f"Created team {name!r} ({timezone}), Open API {'on' if open_api else 'off'}.")


@team_cli.command("open-api")
@click.argument("name")
@click.argument("state", type=click.Choice(["on", "off"]))
def switch_open_api(name: str, state: str):
    """Turn a team's Open API on or off."""
    team = team_named(name)
    team.open_api_enabled = state == "on"
    db.session.commit()
    click.echo(f"Open API is {state} for {team.name!r}.")


@team_cli.command("list")
def list_teams():
    """List teams with their time zone, Open API switch and number of users."""
    users = func.count(User.id)
    rows = db.session.execute(
        select(Team, users).outerjoin(User, User.team_id == Team.id).group_by(Team.id).order_by(Team.name)
    ).all()
    if not rows:
        click.echo("No teams yet. Create one with `flask --app wsgi team create NAME`.")
    for team, user_count in rows:
        switch = "on" if team.open_api_enabled else "off"
        click.echo(f"{team.name}\t{team.timezone}\tOpen API {switch}\t{plural(user_count, 'user')}")

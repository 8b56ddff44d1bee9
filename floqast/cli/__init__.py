"""Operator commands: teams, users, keys (notices, GitHub's public keys) and the demo (`flask --app wsgi ...`)."""

import re
import sys
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from floqast.cli.demo import demo
from floqast.extensions import db
from floqast.keys.secret_scanning import PublicKeysError, download_public_keys, keys_file
from floqast.models import Role, Team, User
from floqast.notices import mail, outbox

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_BYTES = 72  # bcrypt's limit: bcrypt 5 refuses longer passwords with a ValueError

team_cli = AppGroup("team", help="Create teams and turn their Open API on or off.")
user_cli = AppGroup("user", help="Create users.")
keys_cli = AppGroup("keys", help="Jobs for API keys, meant for cron: expiry notices, GitHub's public keys.")


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
        click.echo(f"{team.name}\t{team.timezone}\tOpen API {switch}\t{user_count} users")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise click.ClickException(f"The password may have at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit).")
    return password


@user_cli.command("create")
@click.option("--team", "team_name", required=True, help="The team's name.")
@click.option("--email", required=True)
@click.option("--name", required=True, help="The person's name, shown as Created by.")
@click.option("--role", type=click.Choice([role.value for role in Role]), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(team_name: str, email: str, name: str, role: str, password_stdin: bool):
    """Create a user in a team; the password comes from a hidden prompt or standard input."""
    team = team_named(team_name)
    email = email.strip().lower()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise click.ClickException(f"{email!r} is not an email address.")
    if not name.strip() or len(name.strip()) > 100:
        raise click.ClickException("A name needs 1 to 100 characters.")
    if User.by_email(email):
        raise click.ClickException(f"A user with the email {email} already exists.")
    user = User(team=team, email=email, name=name.strip(), role=Role(role))
    user.set_password(read_password(password_stdin), current_app.config["BCRYPT_ROUNDS"])
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {user.role.label} {email} in {team.name!r}.")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@keys_cli.command("notify")
def notify():
    """Email each key's creator and team admins once a key expires within 7 days, within a day, and once it has
    expired, and send notices recorded elsewhere (revoked keys); meant for cron."""
    try:
        transport = mail.transport()
    except mail.MailNotConfigured as error:
        raise click.ClickException(str(error)) from None
    outbox.record_expiry_notices()
    try:
        delivery = outbox.deliver(transport)
    finally:
        transport.close()
    for path in delivery.written:
        click.echo(f"Wrote {path}")
    click.echo(f"Sent {plural(delivery.sent, 'notice')}.")
    for failure in delivery.failures:
        click.echo(failure, err=True)
    if delivery.failures:
        sys.exit(1)  # cron and monitoring see it; what was not sent goes on the next run


@keys_cli.command("github-public-keys")
def github_public_keys():
    """Download GitHub's secret scanning public keys into GITHUB_SECRET_SCANNING_KEYS."""
    url, path = current_app.config["GITHUB_SECRET_SCANNING_KEYS_URL"], keys_file()
    try:
        count = download_public_keys(url, path)
    except (OSError, PublicKeysError) as error:
        raise click.ClickException(f"Could not download GitHub's public keys from {url} ({error}); "
                                   f"{path} is left as it was.") from None
    click.echo(f"Wrote {count} public key{'s' if count != 1 else ''} of GitHub's secret scanning to {path}.")


def init_app(app) -> None:
    app.cli.add_command(team_cli)
    app.cli.add_command(user_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(demo)
    from floqast.cli.analytics import analytics_cli
    from floqast.cli.api_log import api_log_cli

    app.cli.add_command(analytics_cli)
    app.cli.add_command(api_log_cli)

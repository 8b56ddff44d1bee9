"""`flask --app wsgi user create`: add a person to a team."""

import re
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from floqast.accounts.models import Role, User
from floqast.cli.teams import team_named
from floqast.extensions import db

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_BYTES = 72  # bcrypt's limit: bcrypt 5 refuses longer passwords with a ValueError

user_cli = AppGroup("user", help="Create users.")


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

"""`flask --app wsgi api-log prune`: keep REQUEST_LOG_RETENTION_DAYS of the API request log."""

import click
from flask import current_app
from flask.cli import AppGroup

from floqast.columns import utcnow
from floqast.usage.prune import prune

api_log_cli = AppGroup("api-log", help="The API request log: keep REQUEST_LOG_RETENTION_DAYS of it.")


@api_log_cli.command("prune")
def prune_command():
    """Drop what is older than REQUEST_LOG_RETENTION_DAYS; on PostgreSQL, make the coming months' partitions."""
    for line in prune(utcnow(), current_app.config["REQUEST_LOG_RETENTION_DAYS"]):
        click.echo(line)

"""Operator commands (`flask --app wsgi ...`), one module per command group."""

from floqast.cli.analytics import analytics_cli
from floqast.cli.api_log import api_log_cli
from floqast.cli.demo import demo
from floqast.cli.keys import keys_cli
from floqast.cli.teams import team_cli
from floqast.cli.users import user_cli
from floqast.cli.webhooks import webhooks_cli


def init_app(app) -> None:
    for command in (team_cli, user_cli, keys_cli, analytics_cli, api_log_cli, webhooks_cli, demo):
        app.cli.add_command(command)

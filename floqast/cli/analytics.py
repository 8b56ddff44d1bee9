"""Analytics commands: `flask --app wsgi analytics generate|import ...`."""

import time

import click
from flask.cli import AppGroup

from floqast.analytics.generate import Profile, expected_rows, generate, has_data
from floqast.analytics.importer import ImportRejected, import_csv
from floqast.analytics.periods import last_closed_month
from floqast.analytics.records import DATASETS
from floqast.cli.teams import team_named
from floqast.keys.models import ANALYTICS_SERVICES, Service

analytics_cli = AppGroup("analytics", help="Make or import Reconciliation and Checklist Analytics data.")


def year_month(ctx, param, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        year, month = (int(part) for part in value.split("-"))
        if 1 <= month <= 12 and 1900 <= year <= 2999:
            return year, month
    except ValueError:
        pass
    raise click.BadParameter(f"{value!r} is not a month such as 2025-06.")


@analytics_cli.command("generate")
@click.option("--team", "team_name", required=True, help="The team's name; it must have no close data yet.")
@click.option("--entities", type=click.IntRange(1, 1000), default=3, show_default=True)
@click.option("--accounts", type=click.IntRange(1, 100_000), default=150, show_default=True, help="Per entity.")
@click.option("--months", type=click.IntRange(1, 240), default=12, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="The same seed makes the same data.")
@click.option("--through", callback=year_month, help="Last period as YYYY-MM (default: last closed month).")
@click.option("--currency", default="USD", show_default=True)
def generate_command(team_name, entities, accounts, months, seed, through, currency):
    """Generate reconciliations and checklist items in bulk, deterministically for a seed."""
    team = team_named(team_name)
    if has_data(team):
        raise click.ClickException(f"{team.name!r} already has close data; generate into a team without any.")
    profile = Profile(
        entities=tuple((f"Entity {number:03d}", currency) for number in range(1, entities + 1)),
        accounts=accounts, months=months, through=through or last_closed_month(team.today()), seed=seed,
        people=("Avery Preparer", "Blake Reviewer", "Casey Controller", "Devon Accountant"),
    )
    started = time.perf_counter()
    with click.progressbar(length=expected_rows(profile), label="Generating", show_pos=True) as bar:
        reconciliations, checklists = generate(team, profile, bar.update)
    seconds = time.perf_counter() - started
    rate = (reconciliations + checklists) / seconds if seconds else 0
    click.echo(f"Made {reconciliations} reconciliations and {checklists} checklist items "
               f"for {team.name!r} in {seconds:.1f} s ({rate:,.0f} rows/s).")


@analytics_cli.command("import")
@click.argument("service", type=click.Choice([service.value for service in ANALYTICS_SERVICES]))
@click.option("--team", "team_name", required=True, help="The team the records belong to.")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
def import_command(service, team_name, file):
    """Import a CSV in the API's export columns: every row is checked, then all or none are written."""
    team = team_named(team_name)
    try:
        inserted, updated = import_csv(DATASETS[Service(service)], team, file)
    except ImportRejected as rejected:
        for problem in rejected.problems:
            click.echo(problem, err=True)
        raise click.ClickException(
            f"Nothing was imported: {len(rejected.problems)} problem(s) in {file.name}."
        ) from None
    click.echo(f"Imported {file.name} into {team.name!r}: {inserted} new, {updated} updated.")

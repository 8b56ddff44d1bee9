"""`flask --app wsgi webhooks deliver`: send the webhook outbox, meant for cron every minute."""

import sys

import click
from flask.cli import AppGroup

from floqast.notices import mail
from floqast.webhooks import delivery

webhooks_cli = AppGroup("webhooks", help="Signed webhooks of key events: send the outbox (cron, every minute).")


@webhooks_cli.command("deliver")
def deliver():
    """Send every webhook message that is due, retry failed ones with backoff for a day, disable endpoints that
    failed for a day and mail their admins."""
    run = delivery.deliver()
    click.echo(f"Delivered {run.delivered}, failed {run.failed} (retried later).")
    for endpoint in run.disabled:
        click.echo(f"Disabled webhook endpoint {endpoint.id} ({endpoint.url}): every attempt failed for 24 hours.")
    if delivery.endpoints_to_tell():
        try:
            transport = mail.transport()
        except mail.MailNotConfigured as error:
            run.problems.append(f"Admins not told of disabled webhook endpoints: {error}")
        else:
            try:
                delivery.tell_admins(transport, run)
            finally:
                transport.close()
            click.echo(f"Told the admins of {run.notices_sent} disabled endpoint(s).")
    for problem in run.problems:
        click.echo(problem, err=True)
    if run.problems:
        sys.exit(1)

"""`flask --app wsgi keys ...`: jobs for API keys, meant for cron: expiry notices, GitHub's public keys; and which
keys each pepper holds, for rotating it."""

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from floqast.cli.wording import plural
from floqast.config import current_peppers
from floqast.extensions import db
from floqast.keys import queries, self_roll
from floqast.keys.secret_scanning import PublicKeysError, download_public_keys, keys_file
from floqast.notices import mail, outbox

keys_cli = AppGroup("keys", help="Jobs for API keys, meant for cron: expiry notices, GitHub's public keys; which "
                              "keys each pepper holds.")


@keys_cli.command("notify")
def notify():
    """Email each key's creator and team admins once a key expires within 7 days, within a day, and once it has
    expired, and send notices recorded elsewhere (revoked, deleted and rolled keys); meant for cron. It also erases
    the new keys of self-rolls kept past their minutes."""
    self_roll.erase_sealed()
    db.session.commit()
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
    click.echo(f"Wrote {plural(count, 'public key')} of GitHub's secret scanning to {path}.")


@keys_cli.command("pepper-status")
def pepper_status():
    """List the keys that work (or will once resumed) under each pepper id, with their teams and names, so that the
    keys of an old pepper can be rolled before it is removed."""
    configured = list(current_peppers())
    by_pepper = queries.working_keys_by_pepper()
    for pepper_id in sorted({*configured, *by_pepper}):
        keys = by_pepper.get(pepper_id, [])
        if pepper_id not in configured:
            state = "not configured: these keys are refused as unknown"
        elif pepper_id == configured[-1]:
            state = "configured, the newest: new keys are stored under it"
        else:
            state = "configured" if keys else "configured, and no working key uses it: it may be removed"
        click.echo(f"Pepper {pepper_id} ({state}): {plural(len(keys), 'working key')}")
        for key in keys:
            suspended = " (suspended)" if key.suspended_at else ""
            click.echo(f"  {key.team.name}: \"{key.name}\" {key.hint}… id {key.id}{suspended}")

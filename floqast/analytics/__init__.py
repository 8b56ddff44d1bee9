"""Reconciliation Analytics and Checklist Analytics: the data, its queries, exports and commands."""

from floqast.analytics import models  # noqa: F401  (registers the tables with the metadata)


def init_app(app) -> None:
    from floqast.analytics import cli

    cli.init_app(app)

"""Reconciliation Analytics and Checklist Analytics: the two datasets, their records and queries, made or imported."""

from floqast.analytics import models  # noqa: F401  (registers the tables with the metadata)

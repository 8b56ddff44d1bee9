"""schemathesis against /api/v1/openapi.json, with a working key: every built-in check passes.

The document is loaded from the app itself (WSGI, no server), and each generated request is sent with a key
for both services, on books with records in them. Examples are bounded (hypothesis settings below, and the
derandomized profile in CI)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from floqast import create_app
from floqast.analytics.generate import Profile, generate
from floqast.config import TestConfig
from floqast.keys.models import Service

BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=4, months=2, through=(2025, 2), seed=5,
                people=("Ann", "Ben"))


def every_check():
    """All of schemathesis' response checks, whatever its configuration enables by default."""
    load_all_checks()
    return [check for check in CHECKS.get_all() if callable(check) and not isinstance(check, type)]


@pytest.fixture
def plaintext(team, admin, make_key):
    generate(team, BOOKS)
    return make_key(admin, services=list(Service))[1]


def within_the_rules_across_parameters(query: dict) -> None:
    """Make a schema-valid query also meet the rules that span parameters, which OpenAPI cannot express (each
    parameter's description states them): month and year come together, modifiedBefore is later than
    modifiedSince, endDate is not before startDate, and a cursor is one the API issued (signed), never made up."""
    month, year = "filter[month]" in query, "filter[year]" in query
    if month != year:
        query.setdefault("filter[month]", "March")
        query.setdefault("filter[year]", "2025")
    since, before = query.get("filter[modifiedSince]"), query.get("filter[modifiedBefore]")
    if since and before and since >= before:
        del query["filter[modifiedBefore]"]
    start, end = query.get("filter[startDate]"), query.get("filter[endDate]")
    if start and end and end < start:
        del query["filter[endDate]"]
    query.pop("page[cursor]", None)


# Loaded once, at collection, from an app of its own: the document needs no database. Each test then sends
# its cases to the test's own app (pytest 9 broke schemathesis' lazy fixture loader: no Node._nodeid).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", create_app(TestConfig))


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_does_what_its_openapi_document_says(case, app, plaintext):
    if case.meta and case.meta.generation.mode is GenerationMode.POSITIVE and case.query:
        within_the_rules_across_parameters(case.query)
    case.call_and_validate(app=app, headers={"x-api-key": plaintext}, checks=every_check())

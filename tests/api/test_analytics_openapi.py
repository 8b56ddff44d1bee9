"""The OpenAPI document matches the real routes and responses; the admin docs page."""

import calendar
import re

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_spec

from floqast.accounts.models import Role
from floqast.analytics.generate import Profile, generate
from floqast.analytics.periods import last_closed_month
from floqast.api import params
from floqast.api.params import ALLOW_REDIRECT, PARAMETERS
from helpers import log_in, parse_html, text_of, validate

OPENAPI = "/api/v1/openapi.json"
BOOKS = Profile(entities=(("North", "USD"),), accounts=6, months=2, through=(2025, 3), seed=3, people=("Ann", "Ben"))


@pytest.fixture
def document(client):
    response = client.get(OPENAPI)
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def key(team, admin, make_key):
    generate(team, BOOKS)
    return make_key(admin)[1]


def test_the_document_is_public_and_openapi_3_1(client, document):
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/api/v1"}]


def test_the_document_is_valid_openapi_3_1(document):
    validate_spec(document)  # raises, naming the first error
    # and it is the validator that would say so: a response without its description is not valid OpenAPI
    broken = {**document, "paths": {"/me": {"get": {"responses": {"200": {}}}}}}
    assert list(OpenAPIV31SpecValidator(broken).iter_errors())


def test_the_server_url_never_comes_from_the_host_header(client):
    response = client.get(OPENAPI, headers={"Host": "evil.example"})
    assert response.get_json()["servers"] == [{"url": "/api/v1"}]
    assert "evil.example" not in response.get_data(as_text=True)


def test_every_api_route_is_documented(app, document):
    routes = {  # Flask's <token> is OpenAPI's {token}
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
    }
    assert routes == set(document["paths"])


@pytest.mark.parametrize("path", ["/analytics/reconciliations", "/analytics/checklists"])
def test_every_parameter_is_documented(document, path):
    assert [p["name"] for p in document["paths"][path]["get"]["parameters"]] == [*PARAMETERS, ALLOW_REDIRECT]


@pytest.mark.parametrize("path", ["/analytics/reconciliations", "/analytics/checklists"])
def test_real_pages_match_the_schema(client, document, key, path):
    for query in ({"page[size]": "3"}, {"filter[month]": "3", "filter[year]": "2025"}):
        response = client.get(f"/api/v1{path}", query_string=query, headers={"x-api-key": key})
        assert response.status_code == 200
        validate(document, path, "200", response.get_json())


def test_me_matches_the_schema(client, document, key):
    validate(document, "/me", "200", client.get("/api/v1/me", headers={"x-api-key": key}).get_json())


@pytest.mark.parametrize(("headers", "query", "status"), [
    ({}, {}, "401"),
    ({"x-api-key": "fq_nonsense"}, {}, "401"),
    (None, {"filter[month]": "Smarch", "filter[year]": "2025"}, "400"),
    (None, {"page[size]": "0"}, "400"),
])
def test_real_errors_match_the_schema(client, document, key, headers, query, status):
    response = client.get("/api/v1/analytics/reconciliations", query_string=query,
                          headers={"x-api-key": key} if headers is None else headers)
    assert str(response.status_code) == status
    validate(document, "/analytics/reconciliations", status, response.get_json())


# Far past any size limit: the app refuses these before authentication, on every route, the document's own too.
OVERSIZED = {
    "413": ({}, {}, b"x" * (64 * 1024 + 1)),
    "414": ({}, {f"p{number}": "1" for number in range(5000)}, None),
    "431": ({f"X-Padding-{number}": "p" * 200 for number in range(100)}, {}, None),
}


@pytest.mark.parametrize("status", list(OVERSIZED))
@pytest.mark.parametrize("path", ["/me", "/analytics/reconciliations", "/analytics/checklists", "/openapi.json"])
def test_refusals_for_size_are_documented_on_every_operation(client, document, key, path, status):
    headers, query, body = OVERSIZED[status]
    response = client.get(f"/api/v1{path}", query_string=query, headers={"x-api-key": key, **headers}, data=body)
    assert str(response.status_code) == status
    validate(document, path, status, response.get_json())


def test_a_wrong_schema_would_be_caught(document, key):
    with pytest.raises(jsonschema.ValidationError):
        validate(document, "/analytics/reconciliations", "200", {"data": [{"id": 1}], "links": {"self": "x"}})
    with pytest.raises(jsonschema.ValidationError):  # links are paths of this site, never absolute URLs
        validate(document, "/analytics/reconciliations", "200",
                 {"data": [], "links": {"self": "http://evil.example/api/v1/analytics/reconciliations"}})


def test_admins_get_the_api_documentation_page(client, admin, key, team):
    log_in(client, admin)
    html = client.get("/settings/api-docs").get_data(as_text=True)
    # 4 pulls, the audit trail, the key list and a key's usage
    assert html.count('curl -g -H "x-api-key: $FLOQAST_API_KEY"') == 7
    assert "Requests are limited to 100,000 per minute per key" in text_of(parse_html(html))
    year, month = last_closed_month(team.today())  # the examples ask for the month the team closed last
    period = f"filter[month]={calendar.month_name[month]}&amp;filter[year]={year}"
    assert f"http://localhost/api/v1/analytics/reconciliations?{period}" in html
    assert f"http://localhost/api/v1/analytics/checklists?{period}" in html
    assert html.count('-H "Accept: text/csv"') == 3  # 2 datasets and the key list
    for field in ("glBalance", "signatures.reviewer.signedDate", "readyForReview", "difference"):
        assert f"<code>{field}</code>" in html
    keys_page = client.get("/settings/api-keys").get_data(as_text=True)
    assert 'href="/settings/api-docs">API documentation</a>' in keys_page


def test_the_api_documentation_page_states_the_page_sizes_the_api_takes(client, admin, key, monkeypatch):
    monkeypatch.setattr(params, "DEFAULT_PAGE_SIZE", 250)
    monkeypatch.setattr(params, "MAX_PAGE_SIZE", 5000)
    log_in(client, admin)
    text = text_of(parse_html(client.get("/settings/api-docs").get_data(as_text=True)))
    assert "page[size]: 1 to 5,000 records per JSON page (default 250)" in text
    for size, status in (("5000", 200), ("5001", 400)):  # and the API takes what the page says
        response = client.get("/api/v1/analytics/reconciliations", query_string={"page[size]": size},
                              headers={"x-api-key": key})
        assert response.status_code == status


def test_the_api_documentation_page_shows_allow_redirect_and_how_long_a_link_works(app, client, admin, key):
    app.config["DOWNLOAD_URL_SECONDS"] = 120
    log_in(client, admin)
    html = client.get("/settings/api-docs").get_data(as_text=True)
    assert 'curl -g -L -H "x-api-key: $FLOQAST_API_KEY"' in html and '&amp;allowRedirect=true"</code>' in html
    assert "For 120 seconds it gives what the same request without allowRedirect would" in text_of(parse_html(html))


@pytest.mark.parametrize("role", [Role.MANAGER, Role.USER])
def test_others_are_forbidden_the_api_documentation_page(client, team, make_user, role):
    log_in(client, make_user(team, role))
    assert client.get("/settings/api-docs").status_code == 403


def test_the_csv_response_and_the_docs_page_say_how_formulas_are_neutralised(client, document, admin, key):
    for path in ("/analytics/reconciliations", "/analytics/checklists"):
        csv_schema = document["paths"][path]["get"]["responses"]["200"]["content"]["text/csv"]["schema"]
        assert "=, +, -, @" in csv_schema["description"] and "-1234.50 stays a number" in csv_schema["description"]
    log_in(client, admin)
    page = text_of(parse_html(client.get("/settings/api-docs")))
    assert "as text instead of running it as a formula" in page

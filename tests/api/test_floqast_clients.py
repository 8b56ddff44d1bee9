"""Scripts written for FloQast's own Open API, played against ours unchanged: the shapes its users write."""

import csv
import io
import json
import shutil
import subprocess

import jsonschema
import pytest
import requests
from sqlalchemy import func, select

from floqast.accounts.models import Role
from floqast.analytics.generate import Profile
from floqast.analytics.models import Reconciliation
from floqast.api.params import MAX_PAGE_SIZE
from floqast.extensions import db
from floqast.keys.models import ANALYTICS_SERVICES
from helpers import AUDIT_TRAIL, PATHS, RECONCILIATIONS, serving, validate

BASE_URL = "http://localhost"
# 2 entities x 550 accounts: 1,100 reconciliations a month, more than our old default page of 1,000.
BIG_MONTHS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=550, months=2, through=(2025, 3),
                     seed=7, people=("Ann", "Ben"), checklists=False)
SMALL_BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR")), accounts=6, months=2, through=(2025, 3),
                      seed=8, people=("Ann", "Ben"))


@pytest.fixture
def big_key(key_to_books):
    return key_to_books(BIG_MONTHS)


@pytest.fixture
def small_key(key_to_books):
    return key_to_books(SMALL_BOOKS)


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


@pytest.fixture
def server(app):
    """The app on a real loopback port, for requests and curl."""
    with serving(app) as base_url:
        yield base_url


def march_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Reconciliation)
                             .where(Reconciliation.period_year == 2025, Reconciliation.period_month == 3))


def test_a_script_that_reads_only_data_gets_the_whole_month(client, big_key):
    # requests.get(url, headers={"x-api-key": key}).json()["data"], and done: no page[size], no links.
    response = client.get(f"{BASE_URL}{RECONCILIATIONS}?filter[month]=March&filter[year]=2025",
                          headers={"x-api-key": big_key})
    data = response.get_json()["data"]
    assert march_count() == 1100
    assert len(data) == 1100
    assert {(record["period"]["year"], record["period"]["month"]) for record in data} == {(2025, 3)}
    assert response.get_json()["links"]["next"] is None


def test_a_script_that_loops_while_links_next_on_relative_links_gets_every_record_once(client, big_key):
    # FloQast's links are paths: its users' scripts put their base URL in front of links.next until it is null.
    headers = {"x-api-key": big_key}
    body = client.get(f"{BASE_URL}{RECONCILIATIONS}?filter[month]=3&filter[year]=2025&page[size]=300",
                      headers=headers).get_json()
    data, pages = body["data"], 1
    while body["links"]["next"]:
        body = client.get(BASE_URL + body["links"]["next"], headers=headers).get_json()
        data += body["data"]
        pages += 1
    ids = [record["id"] for record in data]
    assert pages == 4  # 300 + 300 + 300 + 200
    assert len(ids) == len(set(ids)) == march_count()


def test_the_default_page_size_is_the_maximum(client, big_key, document):
    everything = client.get(RECONCILIATIONS, headers={"x-api-key": big_key}).get_json()
    assert len(everything["data"]) == 2200 and everything["links"]["next"] is None
    [size] = [p for p in document["paths"]["/analytics/reconciliations"]["get"]["parameters"]
              if p["name"] == "page[size]"]
    assert size["schema"]["default"] == size["schema"]["maximum"] == MAX_PAGE_SIZE == 30000


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_every_id_in_a_json_record_is_a_string_and_the_csv_keeps_the_same_ids(client, small_key, service):
    records = client.get(PATHS[service], headers={"x-api-key": small_key}).get_json()["data"]
    ids = [(record["id"], record["entity"]["id"], record["folder"]["id"]) for record in records]
    assert records and all(isinstance(value, str) and value.isdigit() for triple in ids for value in triple)
    response = client.get(PATHS[service], headers={"x-api-key": small_key, "Accept": "text/csv"})
    rows = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    assert [(row["id"], row["entity.id"], row["folder.id"]) for row in rows] == ids


def test_entity_ids_as_records_give_them_filter_the_records(client, small_key):
    records = client.get(RECONCILIATIONS, headers={"x-api-key": small_key}).get_json()["data"]
    north = {record["entity"]["id"] for record in records if record["entity"]["name"] == "North"}
    filtered = client.get(RECONCILIATIONS, query_string={"filter[entityIds]": ",".join(north)},
                          headers={"x-api-key": small_key}).get_json()["data"]
    assert filtered and {record["entity"]["name"] for record in filtered} == {"North"}


def test_me_names_the_keys_creator_as_a_string_user_id(client, team, admin, make_user, make_key):
    creator = make_user(team, Role.SYSADMIN, email="sam@acme.test")
    key, plaintext = make_key(creator)
    me = client.get("/api/v1/me", headers={"x-api-key": plaintext}).get_json()["data"]
    assert me["userId"] == str(creator.id) != str(admin.id)
    assert (me["apiKeyId"], me["teamId"]) == (str(key.id), str(team.id))


@pytest.mark.parametrize("query", [{}, {"page[size]": "24"}, {"filter[month]": "January", "filter[year]": "2020"}])
def test_the_last_page_says_next_is_null(client, small_key, query):
    # The whole table, an exact fit (24 = 2 entities x 6 accounts x 2 months) and an empty month.
    response = client.get(RECONCILIATIONS, query_string=query, headers={"x-api-key": small_key})
    links = response.get_json()["links"]
    assert list(links) == ["self", "next"] and links["next"] is None


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_every_page_of_a_walk_and_me_match_the_openapi_document(client, small_key, document, service):
    path = PATHS[service]
    body = client.get(path, query_string={"page[size]": "10"}, headers={"x-api-key": small_key}).get_json()
    while True:
        validate(document, path.removeprefix("/api/v1"), "200", body)
        if body["links"]["next"] is None:
            break
        body = client.get(body["links"]["next"], headers={"x-api-key": small_key}).get_json()
    validate(document, "/me", "200", client.get("/api/v1/me", headers={"x-api-key": small_key}).get_json())


@pytest.mark.parametrize("body", [
    {"data": [], "links": {"self": RECONCILIATIONS}},  # next left out
    {"data": [], "links": {"self": RECONCILIATIONS, "next": "http://evil.example/api/v1/analytics/reconciliations"}},
])
def test_the_document_requires_links_next_as_a_path_or_null(document, body):
    with pytest.raises(jsonschema.ValidationError):
        validate(document, "/analytics/reconciliations", "200", body)


def test_the_document_refuses_numeric_ids(client, small_key, document):
    body = client.get(RECONCILIATIONS, query_string={"page[size]": "1"}, headers={"x-api-key": small_key}).get_json()
    validate(document, "/analytics/reconciliations", "200", body)
    for change in ({"id": int(body["data"][0]["id"])}, {"entity": {**body["data"][0]["entity"], "id": 1}}):
        numeric = {**body, "data": [{**body["data"][0], **change}]}
        with pytest.raises(jsonschema.ValidationError):
            validate(document, "/analytics/reconciliations", "200", numeric)


def test_a_default_page_is_streamed_not_built_whole(client, big_key):
    # Up to 30,000 records a page: written out batch by batch from the cursor, never held as one body.
    response = client.get(RECONCILIATIONS, headers={"x-api-key": big_key}, buffered=False)
    chunks = list(response.response)
    assert response.is_streamed and len(chunks) > 1
    assert len(json.loads(b"".join(chunks))["data"]) == 2200


MARCH_WITH_REDIRECT = "filter[month]=March&filter[year]=2025&allowRedirect=true"


def march_records(body: bytes, accept: str) -> list[tuple[str, str]]:
    """(period year, period month) of each record in a JSON page or a CSV file."""
    if accept == "text/csv":
        rows = csv.DictReader(io.StringIO(body.decode()))
        return [(row["period.year"], row["period.month"]) for row in rows]
    return [(str(record["period"]["year"]), str(record["period"]["month"])) for record in json.loads(body)["data"]]


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_requests_follows_allow_redirect_and_gets_every_record_of_the_month(server, big_key, accept):
    # requests.get(url, params={..., "allowRedirect": "true"}, headers={"x-api-key": key}): it follows the 303
    # with a GET, sending the key header again.
    response = requests.get(f"{server}{RECONCILIATIONS}?{MARCH_WITH_REDIRECT}", timeout=60,
                            headers={"x-api-key": big_key, "Accept": accept})
    [redirect] = response.history
    assert redirect.status_code == 303 and redirect.headers["Location"] == redirect.json()["data"]["url"]
    assert response.status_code == 200 and response.url.startswith(f"{server}/api/v1/downloads/")
    assert march_records(response.content, accept) == [("2025", "3")] * march_count() != []


def test_a_script_that_fetches_data_url_itself_needs_no_key_for_it(server, big_key):
    link = requests.get(f"{server}{RECONCILIATIONS}?{MARCH_WITH_REDIRECT}", headers={"x-api-key": big_key},
                        allow_redirects=False, timeout=60).json()["data"]["url"]
    records = requests.get(server + link, timeout=60).json()["data"]
    assert len(records) == march_count() == 1100


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (apt-get install curl)")
@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_curl_follows_allow_redirect_and_gets_every_record_of_the_month(server, big_key, accept, tmp_path):
    # The README's and the docs page's command: curl -g -L -H "x-api-key: $FLOQAST_API_KEY" "...&allowRedirect=true"
    output = tmp_path / "march"
    curl = subprocess.run(
        ["curl", "-s", "-g", "-L", "-H", f"x-api-key: {big_key}", "-H", f"Accept: {accept}", "-o", str(output),
         "-w", "%{http_code} %{num_redirects}", f"{server}{RECONCILIATIONS}?{MARCH_WITH_REDIRECT}"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert curl.stdout == "200 1"
    assert march_records(output.read_bytes(), accept) == [("2025", "3")] * march_count() != []


def test_a_script_that_reads_the_audit_trail_for_its_key_finds_its_own_requests(client, team, small_key):
    # A security platform's shape: pull with a key from its address, then ask the trail what that key did.
    headers, address = {"x-api-key": small_key}, {"REMOTE_ADDR": "198.51.100.23"}
    me = client.get(f"{BASE_URL}/api/v1/me", headers=headers, environ_base=address).get_json()["data"]
    client.get(f"{BASE_URL}{RECONCILIATIONS}?filter[month]=March&filter[year]=2025", headers=headers,
               environ_base=address)
    client.get(f"{BASE_URL}{RECONCILIATIONS}?filter[month]=Smarch&filter[year]=2025", headers=headers,
               environ_base=address)
    body = client.get(f"{BASE_URL}{AUDIT_TRAIL}", query_string={"filter[userApiKey._id]": me["apiKeyId"],
                                                               "filter[startDate]": team.today().isoformat()},
                      headers=headers).get_json()
    seen = [(entry["uri"], entry["meta"]["status"], entry["sourceIp"], entry["apiKeyId"]) for entry in body["data"]]
    assert seen == [
        ("/api/v1/me", "200", "198.51.100.23", me["apiKeyId"]),
        (f"{RECONCILIATIONS}?filter[month]=March&filter[year]=2025", "200", "198.51.100.23", me["apiKeyId"]),
        (f"{RECONCILIATIONS}?filter[month]=Smarch&filter[year]=2025", "400", "198.51.100.23", me["apiKeyId"]),
    ]
    assert body["data"][1]["meta"]["queryParameters"] == {"filter[month]": "March", "filter[year]": "2025"}
    assert body["links"]["next"] is None

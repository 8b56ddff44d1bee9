"""GET /api/v1/audit-trail: the team's logged API requests in FloQast's shape, its filters, pages and errors."""

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, update

from floqast.accounts.models import Role
from floqast.api import audit_trail
from floqast.extensions import db
from floqast.keys.actions import roll_key
from floqast.keys.models import Service
from floqast.usage.models import ApiRequest
from helpers import AUDIT_TRAIL, CLIENT_IP, ME, RECONCILIATIONS, assert_api_error, log_rows, validate

JANUARY = datetime(2026, 1, 10, tzinfo=timezone.utc)


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").get_json()


def trail(api_get, key: str, **query) -> list[dict]:
    response = api_get(AUDIT_TRAIL, key, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]


def test_a_key_reads_its_teams_requests_oldest_first_in_floqasts_shape(api_get, team, admin, make_key, document):
    key, plaintext = make_key(admin)
    api_get(f"{RECONCILIATIONS}?filter[month]=March&filter[year]=2025&filter[entityIds]=1&filter[entityIds]=2",
            plaintext)
    api_get(ME, plaintext)
    body = api_get(AUDIT_TRAIL, plaintext).get_json()
    validate(document, "/audit-trail", "200", body)
    pull, me = body["data"]
    assert list(pull) == ["id", "uri", "method", "sourceIp", "meta", "createdAt", "apiKeyId"]
    assert pull["uri"] == (f"{RECONCILIATIONS}?filter[month]=March&filter[year]=2025&filter[entityIds]=1"
                           "&filter[entityIds]=2")
    assert (pull["method"], pull["sourceIp"], pull["apiKeyId"]) == ("GET", CLIENT_IP, str(key.id))
    assert pull["meta"] == {"status": "400", "service": "Reconciliation Analytics", "queryParameters": {
        "filter[month]": "March", "filter[year]": "2025", "filter[entityIds]": ["1", "2"]}}
    assert (me["uri"], me["meta"]) == (ME, {"status": "200", "service": None, "queryParameters": {}})
    assert int(pull["id"]) < int(me["id"])
    assert pull["createdAt"].endswith("Z")
    assert body["links"] == {"self": AUDIT_TRAIL, "next": None}


def test_any_working_key_of_the_team_reads_it_whatever_its_services(api_get, admin, make_key):
    _, full = make_key(admin, name="Both")
    _, checklists_only = make_key(admin, name="Checklists", services=[Service.CHECKLISTS])
    api_get(ME, full)
    assert [entry["uri"] for entry in trail(api_get, checklists_only)] == [ME]


def test_the_trail_lists_its_own_reads_from_the_next_one_on(api_get, admin, make_key):
    _, plaintext = make_key(admin)
    assert trail(api_get, plaintext) == []
    [first_read] = trail(api_get, plaintext)
    assert first_read["uri"] == AUDIT_TRAIL and first_read["meta"]["service"] is None


def test_another_team_never_sees_the_requests(api_get, team, admin, make_team, make_user, make_key):
    _, ours = make_key(admin)
    other_key, theirs = make_key(make_user(make_team("Globex"), Role.ADMIN))
    api_get(ME, theirs)
    api_get(f"{ME}?x=1", theirs)
    assert trail(api_get, ours) == []
    assert trail(api_get, ours, **{"filter[userApiKey._id]": str(other_key.id)}) == []
    assert [entry["uri"] for entry in trail(api_get, theirs)] == [ME, f"{ME}?x=1"]


def test_a_refused_key_shows_in_its_teams_trail(api_get, team, admin, make_key):
    gone, deleted = make_key(admin, name="Gone", deleted_at=JANUARY, deleted_by_id=admin.id)
    _, reader = make_key(admin, name="Reader")
    assert api_get(ME, deleted).status_code == 401
    [entry] = trail(api_get, reader, **{"filter[userApiKey._id]": str(gone.id)})
    assert (entry["apiKeyId"], entry["meta"]["status"]) == (str(gone.id), "401")


def test_filter_by_key(api_get, admin, make_key):
    first, first_plaintext = make_key(admin, name="First")
    second, second_plaintext = make_key(admin, name="Second")
    api_get(ME, first_plaintext)
    api_get(ME, second_plaintext)
    api_get(ME, first_plaintext)
    entries = trail(api_get, second_plaintext, **{"filter[userApiKey._id]": f" {first.id} "})
    assert [entry["apiKeyId"] for entry in entries] == [str(first.id)] * 2


def test_dates_are_whole_days_in_the_teams_time_zone_both_inclusive(api_get, team, admin, make_key):
    team.timezone = "America/Los_Angeles"  # UTC-8 in January
    db.session.commit()
    key, plaintext = make_key(admin)
    moments = ["2026-01-10T07:59:59Z", "2026-01-10T08:00:00Z", "2026-01-11T07:59:59Z", "2026-01-11T08:00:00Z"]
    log_rows(team.id, key.id, *(datetime.fromisoformat(moment) for moment in moments))

    def created(**query):
        return [entry["createdAt"] for entry in trail(api_get, plaintext, **query)]

    assert created(**{"filter[startDate]": "2026-01-10", "filter[endDate]": "2026-01-10"}) == moments[1:3]
    assert created(**{"filter[startDate]": "2026-01-11"})[:1] == moments[3:]
    assert created(**{"filter[endDate]": "2026-01-09"}) == moments[:1]


def test_a_day_finds_a_request_written_after_later_days(api_get, team, admin, make_key):
    """A worker may write a request after others' later ones (its batch waits up to a second, or holds it while
    idle): its day still finds it, though its id comes after every row of the days since."""
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, JANUARY, JANUARY + timedelta(days=2))
    log_rows(team.id, key.id, JANUARY + timedelta(hours=1))  # written last, with the highest id

    def created(day: str) -> list[str]:
        return [entry["createdAt"] for entry in trail(api_get, plaintext, **{"filter[startDate]": day,
                                                                             "filter[endDate]": day})]

    assert created("2026-01-10") == ["2026-01-10T00:00:00Z", "2026-01-10T01:00:00Z"]
    assert created("2026-01-12") == ["2026-01-12T00:00:00Z"]
    assert created("2026-01-11") == []


def test_requests_logged_before_entries_were_stored_read_the_same(api_get, team, admin, make_key):
    key, plaintext = make_key(admin)
    api_get(f"{RECONCILIATIONS}?filter[month]=Smarch&filter[entityIds]=1&filter[entityIds]=2", plaintext)
    stored = trail(api_get, plaintext)[0]
    db.session.execute(update(ApiRequest).values(trail_entry=None))
    db.session.commit()

    made = trail(api_get, plaintext)[0]
    assert made == stored and list(made) == list(stored)
    assert made["meta"]["queryParameters"] == {"filter[month]": "Smarch", "filter[entityIds]": ["1", "2"]}


def test_a_walk_through_requests_logged_before_and_after_entries_were_stored_reads_the_same(api_get, team, admin,
                                                                                            make_key):
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, *(JANUARY + timedelta(hours=hour) for hour in range(7)))
    january = f"{AUDIT_TRAIL}?filter[endDate]=2026-01-31"  # not the trail's own requests
    stored = api_get(january, plaintext).get_data()
    ids = [entry["id"] for entry in json.loads(stored)["data"]]
    db.session.execute(update(ApiRequest).where(ApiRequest.id.in_([int(ids[1]), *map(int, ids[3:6])]))
                       .values(trail_entry=None))
    db.session.commit()

    assert api_get(january, plaintext).get_data() == stored  # the same bytes
    path, walked = f"{january}&page[size]=2", []
    while path:
        body = api_get(path, plaintext).get_json()
        walked += body["data"]
        path = body["links"]["next"]
    assert walked == json.loads(stored)["data"]


def test_a_request_pruned_while_its_page_is_read_is_left_out(api_get, team, admin, make_key, monkeypatch):
    """A request logged before entries were stored is read twice (its id, then its columns): pruned in between,
    it is left out rather than breaking the page."""
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, JANUARY, JANUARY + timedelta(hours=1))
    db.session.execute(update(ApiRequest).values(trail_entry=None))
    db.session.commit()
    made_entries = audit_trail.made_entries

    def pruned_meanwhile(engine, unstored, first_id, last_id):
        db.session.execute(delete(ApiRequest).where(ApiRequest.id == first_id))
        db.session.commit()
        return made_entries(engine, unstored, first_id, last_id)

    monkeypatch.setattr(audit_trail, "made_entries", pruned_meanwhile)
    assert [entry["createdAt"] for entry in trail(api_get, plaintext)] == ["2026-01-10T01:00:00Z"]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])  # UTC+14 and UTC-12
@pytest.mark.parametrize("days", [
    {"filter[startDate]": "0001-01-01"},
    {"filter[endDate]": "9999-12-31"},
    {"filter[startDate]": "0001-01-01", "filter[endDate]": "9999-12-31"},
    {"filter[startDate]": "0001-01-02", "filter[endDate]": "9999-12-30"},
])
def test_the_first_and_last_days_a_date_can_name_bound_nothing(api_get, client, team, admin, make_key, zone, days):
    team.timezone = zone
    db.session.commit()
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, JANUARY)
    assert [entry["createdAt"] for entry in trail(api_get, plaintext, **days)] == ["2026-01-10T00:00:00Z"]
    redirect = api_get(AUDIT_TRAIL, plaintext, query_string={**days, "allowRedirect": "true"})
    download = client.get(redirect.headers["Location"])
    assert download.status_code == 200, download.get_data(as_text=True)
    assert download.get_json()["data"][0]["createdAt"] == "2026-01-10T00:00:00Z"


def test_every_created_at_is_whole_seconds_in_utc(api_get, team, admin, make_key, document):
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, JANUARY, JANUARY.replace(microsecond=654321))
    api_get(ME, plaintext)  # logged at the moment of its request, microseconds and all
    body = api_get(AUDIT_TRAIL, plaintext).get_json()
    validate(document, "/audit-trail", "200", body)
    created = [entry["createdAt"] for entry in body["data"]]
    assert created[:2] == ["2026-01-10T00:00:00Z"] * 2
    assert len(created) == 3 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", moment) for moment in created)


def test_pages_follow_relative_links_to_a_null_next_and_cursors_stay_with_their_query(api_get, team, admin, make_key):
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, *([JANUARY] * 5))
    # January only: the trail's own reads, logged as the walk goes, are not part of it.
    january = {"filter[endDate]": "2026-01-31", "page[size]": "2"}
    first = api_get(AUDIT_TRAIL, plaintext, query_string=january).get_json()
    pages, ids, body = 1, [entry["id"] for entry in first["data"]], first
    while body["links"]["next"]:
        assert body["links"]["next"].startswith(f"{AUDIT_TRAIL}?filter[endDate]=2026-01-31&page[size]=2&page[cursor]=")
        body = api_get(body["links"]["next"], plaintext).get_json()
        ids += [entry["id"] for entry in body["data"]]
        pages += 1
    assert pages == 3 and len(ids) == len(set(ids)) == 5 and ids == sorted(ids, key=int)
    cursor = first["links"]["next"].split("page[cursor]=")[1]
    response = api_get(AUDIT_TRAIL, plaintext, query_string={"page[size]": "2", "page[cursor]": cursor})
    assert "issued for a different query" in assert_api_error(response, 400)["detail"]


def test_a_saved_next_link_resumes_with_the_replacement_of_a_rolled_key_and_no_other_teams(
        api_get, team, admin, make_team, make_user, make_key):
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, *([JANUARY] * 3))
    january = {"filter[endDate]": "2026-01-31", "page[size]": "2"}
    first = api_get(AUDIT_TRAIL, plaintext, query_string=january).get_json()
    saved = first["links"]["next"]
    _, replacement = roll_key(key, admin, timedelta(0), key.expires_on)  # the old key stops at once
    db.session.commit()
    assert_api_error(api_get(saved, plaintext), 401)
    resumed = api_get(saved, replacement)
    assert resumed.status_code == 200, resumed.get_data(as_text=True)
    ids = [entry["id"] for entry in first["data"] + resumed.get_json()["data"]]
    assert len(ids) == len(set(ids)) == 3 and resumed.get_json()["links"]["next"] is None
    _, theirs = make_key(make_user(make_team("Globex"), Role.ADMIN))
    assert "issued for a different query" in assert_api_error(api_get(saved, theirs), 400)["detail"]


@pytest.mark.parametrize(("query", "named"), [
    ({"filter[month]": "May"}, "filter[month]"),
    ({"filter[startDate]": "2026-13-01"}, "filter[startDate]"),
    ({"filter[startDate]": "2026-01-10", "filter[endDate]": "2026-01-09"}, "filter[endDate]"),
    ({"filter[userApiKey._id]": "abc"}, "filter[userApiKey._id]"),
    ({"filter[userApiKey._id]": "0"}, "filter[userApiKey._id]"),
    ({"page[size]": "30001"}, "page[size]"),
    ({"page[cursor]": "made-up"}, "page[cursor]"),
    ({"allowRedirect": "maybe"}, "allowRedirect"),
])
def test_a_bad_parameter_is_a_400_naming_it(api_get, admin, make_key, query, named):
    _, plaintext = make_key(admin)
    error = assert_api_error(api_get(AUDIT_TRAIL, plaintext, query_string=query), 400)
    assert error["detail"].startswith(f"{named}: ")


@pytest.mark.parametrize("value", ["true", "false"])
def test_allow_redirect_is_accepted(api_get, admin, make_key, value):
    _, plaintext = make_key(admin)
    assert api_get(AUDIT_TRAIL, plaintext, query_string={"allowRedirect": value}).status_code in (200, 303)


def test_the_default_page_is_the_maximum_of_30000(document):
    [size] = [parameter for parameter in document["paths"]["/audit-trail"]["get"]["parameters"]
              if parameter["name"] == "page[size]"]
    assert size["schema"]["default"] == size["schema"]["maximum"] == 30000


def test_a_page_is_streamed_not_built_whole(api_get, admin, make_key, team):
    key, plaintext = make_key(admin)
    log_rows(team.id, key.id, *([JANUARY] * 1200))
    response = api_get(AUDIT_TRAIL, plaintext, buffered=False)
    chunks = list(response.response)
    assert response.is_streamed and len(chunks) > 1
    assert len(json.loads(b"".join(chunks))["data"]) == 1200


def test_without_a_working_key_it_is_refused(api_get):
    assert_api_error(api_get(AUDIT_TRAIL), 401)


def test_allow_redirect_gives_a_download_link_to_the_same_page(api_get, client, admin, make_key, document):
    key, plaintext = make_key(admin)
    api_get(ME, plaintext)
    redirect = api_get(f"{AUDIT_TRAIL}?filter[userApiKey._id]={key.id}&allowRedirect=true", plaintext)
    assert redirect.status_code == 303
    validate(document, "/audit-trail", "303", redirect.get_json())
    link = redirect.headers["Location"]
    assert link == redirect.get_json()["data"]["url"] and plaintext not in link

    download = client.get(link)  # the link is the credential: no key header
    assert download.status_code == 200
    body = download.get_json()
    assert [entry["uri"] for entry in body["data"]][:2] == [ME, f"{AUDIT_TRAIL}?filter[userApiKey._id]={key.id}"
                                                            "&allowRedirect=true"]
    assert body["links"] == {"self": f"{AUDIT_TRAIL}?filter[userApiKey._id]={key.id}", "next": None}


def test_a_bad_filter_is_refused_before_a_link_is_given(api_get, admin, make_key):
    _, plaintext = make_key(admin)
    response = api_get(f"{AUDIT_TRAIL}?filter[startDate]=yesterday&allowRedirect=true", plaintext)
    assert_api_error(response, 400)
    assert response.get_json()["errors"][0]["detail"].startswith("filter[startDate]: 'yesterday' is not a date")

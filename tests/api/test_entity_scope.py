"""Keys limited to chosen entities: their pulls (JSON, CSV, allowRedirect downloads) and their audit trail read only
what the key may, a filter naming anything else is a refused 403, and the check reads nothing but the key's row."""

import csv
import io

import pytest
from sqlalchemy import select

from floqast.analytics.generate import Profile, generate
from floqast.analytics.models import Entity
from floqast.audit.events import AuditEvent, AuditKind
from floqast.extensions import db
from floqast.keys import actions
from helpers import (
    AUDIT_TRAIL,
    CHECKLISTS,
    ME,
    RECONCILIATIONS,
    assert_api_error,
    logged_requests,
    statements_sent,
    validate,
)

BOOKS = Profile(entities=(("North", "USD"), ("South", "EUR"), ("West", "GBP")), accounts=4, months=2,
                through=(2025, 3), seed=5, people=("Ann", "Ben"))


@pytest.fixture
def entities(team):
    """The team's books, and its entities by name."""
    generate(team, BOOKS)
    return {entity.name: entity.id for entity in db.session.scalars(select(Entity).where(Entity.team_id == team.id))}


@pytest.fixture
def north_key(admin, make_key, entities):
    """A key that reads North only, and its plaintext."""
    return make_key(admin, name="North auditor", entity_ids=[entities["North"]])


def pull(client, path, plaintext, accept="application/json", **params):
    return client.get(path, query_string=params, headers={"x-api-key": plaintext, "Accept": accept})


def entity_ids_of(response) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    if response.mimetype == "text/csv":
        return {row["entity.id"] for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    return {record["entity"]["id"] for record in response.get_json()["data"]}


@pytest.mark.parametrize("path", [RECONCILIATIONS, CHECKLISTS])
@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_a_limited_key_pulls_only_its_entities_records(client, admin, make_key, entities, north_key, path, accept):
    _, everything = make_key(admin, name="Everything")
    assert entity_ids_of(pull(client, path, everything, accept)) == {str(entity_id) for entity_id in entities.values()}
    assert entity_ids_of(pull(client, path, north_key[1], accept)) == {str(entities["North"])}
    assert entity_ids_of(pull(client, path, north_key[1], accept, **{"filter[entityIds]": str(entities["North"])})) \
        == {str(entities["North"])}


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_naming_an_entity_outside_the_key_is_a_logged_403_never_a_trimmed_answer(client, team, entities, north_key,
                                                                                  accept):
    key, plaintext = north_key
    south = entities["South"]
    response = pull(client, RECONCILIATIONS, plaintext, accept,
                    **{"filter[entityIds]": f"{entities['North']},{south}"})

    assert_api_error(response, 403, f"This API key cannot read entity {south}.")
    row = logged_requests()[-1]
    assert (row.api_key_id, row.status, row.refusal) == (key.id, 403, "entity")
    assert row.refusal_reason == "Entity not allowed"
    refusal = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == AuditKind.API_REFUSED)).one()
    assert (refusal.api_key_id, refusal.detail) == (key.id, f"This API key cannot read entity {south}.")


def test_an_entity_of_another_team_is_refused_the_same_way(client, make_team, entities, north_key):
    globex = make_team("Globex")
    generate(globex, Profile(**{**BOOKS.__dict__, "entities": (("Globex UK", "GBP"),), "seed": 6}))
    theirs = db.session.scalar(select(Entity.id).where(Entity.team_id == globex.id))
    assert_api_error(pull(client, CHECKLISTS, north_key[1], **{"filter[entityIds]": str(theirs)}), 403,
                     f"This API key cannot read entity {theirs}.")


def test_entities_added_later_are_not_read_by_a_limited_key(client, team, admin, make_key, entities, north_key):
    _, everything = make_key(admin, name="Everything")
    generate(team, Profile(**{**BOOKS.__dict__, "entities": (("East", "JPY"),), "seed": 9}))
    east = db.session.scalar(select(Entity.id).where(Entity.name == "East"))

    assert str(east) in entity_ids_of(pull(client, RECONCILIATIONS, everything))
    assert entity_ids_of(pull(client, RECONCILIATIONS, north_key[1])) == {str(entities["North"])}


def redirected(client, path, plaintext, accept="application/json", **params):
    response = pull(client, path, plaintext, accept, allowRedirect="true", **params)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_a_download_link_streams_only_the_keys_entities(client, entities, north_key, accept):
    url = redirected(client, RECONCILIATIONS, north_key[1], accept)
    assert entity_ids_of(client.get(url, headers={"Accept": accept})) == {str(entities["North"])}


def test_no_link_is_given_for_an_entity_outside_the_key(client, entities, north_key):
    response = pull(client, RECONCILIATIONS, north_key[1], allowRedirect="true",
                    **{"filter[entityIds]": str(entities["West"])})
    assert_api_error(response, 403, f"This API key cannot read entity {entities['West']}.")
    assert "Location" not in response.headers


def test_a_link_follows_the_keys_entities_as_they_are_when_it_is_used(client, admin, entities, north_key):
    key, plaintext = north_key
    narrowed = redirected(client, RECONCILIATIONS, plaintext, **{"filter[entityIds]": str(entities["North"])})
    whole = redirected(client, RECONCILIATIONS, plaintext)
    actions.change_entities(key, [entities["South"]], by=admin)
    db.session.commit()

    assert_api_error(client.get(narrowed), 403, f"This API key cannot read entity {entities['North']}.")
    assert entity_ids_of(client.get(whole)) == {str(entities["South"])}


def test_me_says_which_entities_the_key_reads_and_its_rate_limit(client, admin, make_key, entities, north_key):
    document = client.get("/api/v1/openapi.json").get_json()
    _, everything = make_key(admin, name="Everything", rate_limit_per_minute=120)

    limited = pull(client, ME, north_key[1]).get_json()
    unlimited = pull(client, ME, everything).get_json()

    assert (limited["data"]["entityIds"], limited["data"]["rateLimitPerMinute"]) == ([str(entities["North"])], None)
    assert (unlimited["data"]["entityIds"], unlimited["data"]["rateLimitPerMinute"]) == (None, 120)
    for body in (limited, unlimited):
        validate(document, "/me", "200", body)


def test_a_limited_key_reads_only_its_own_requests_from_the_audit_trail(client, admin, make_key, entities, north_key):
    key, plaintext = north_key
    other, everything = make_key(admin, name="Everything")
    pull(client, ME, everything)
    pull(client, ME, plaintext)

    mine = pull(client, AUDIT_TRAIL, plaintext).get_json()["data"]
    assert {entry["apiKeyId"] for entry in mine} == {str(key.id)}
    assert {entry["apiKeyId"] for entry in pull(client, AUDIT_TRAIL, everything).get_json()["data"]} == {
        str(key.id), str(other.id)}
    assert pull(client, AUDIT_TRAIL, plaintext, **{"filter[userApiKey._id]": str(key.id)}).status_code == 200

    refused = pull(client, AUDIT_TRAIL, plaintext, **{"filter[userApiKey._id]": str(other.id)})
    assert_api_error(refused, 403, f"This API key is limited to chosen entities, so it reads only its own requests "
                                   f"(apiKeyId {key.id}).")
    assert logged_requests()[-1].refusal == "other_keys"
    link = pull(client, AUDIT_TRAIL, plaintext, allowRedirect="true").headers["Location"]
    assert {entry["apiKeyId"] for entry in client.get(link).get_json()["data"]} == {str(key.id)}


def test_the_check_reads_nothing_but_the_keys_row(client, admin, make_key, entities, key_read_every_pull):
    """Limited or not, a pull sends the same statements: the key's SELECT (which carries its entities) and the
    records' SELECT."""
    sent = {}
    for name, entity_ids in (("all", None), ("some", list(entities.values())[:2])):
        _, plaintext = make_key(admin, name=name, entity_ids=entity_ids)
        pull(client, ME, plaintext)  # Last used written
        with statements_sent() as sent[name]:
            assert pull(client, RECONCILIATIONS, plaintext).status_code == 200

    assert [statement.split()[:2] for statement in sent["some"]] == [statement.split()[:2] for statement in sent["all"]]
    assert "api_keys.entity_ids" in sent["some"][0]

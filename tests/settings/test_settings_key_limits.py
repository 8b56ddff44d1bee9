"""A key's Entities (in Create New Key and on its page) and its own Requests per minute: saved, audited with before and
after, shown as "1 of 3 entities", kept by a roll and a regenerate, and bad input answered next to its field."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from floqast.analytics.models import Entity
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.models import ApiKey
from helpers import (
    HTMX,
    add_entities,
    assert_error_next_to,
    cells,
    csrf_token,
    parse_html,
    reload,
    text_of,
    with_next,
)


@pytest.fixture
def entities(team):
    """Three entities of the team, by name."""
    return add_entities(team, "North", "South", "West")


@pytest.fixture
def key(admin, make_key, entities):
    return make_key(admin, name="Power BI")[0]


def create(client, htmx=True, **fields):
    data = {"name": "Auditor", "expiration": "90", "services": ["reconciliations"],
            "csrf_token": csrf_token(client, "/settings/api-keys"), **fields}
    return client.post("/settings/api-keys", data=data, headers=HTMX if htmx else {})


def save_limits(client, key, htmx=True, **fields):
    data = {"entities": "all", "rate_limit_per_minute": "", "csrf_token": csrf_token(client, "/settings/api-keys"),
            **fields}
    return client.post(f"/settings/api-keys/{key.id}/limits", data=data, headers=HTMX if htmx else {})


def events(kind: AuditKind) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)))


def test_the_create_dialog_offers_all_entities_by_default_and_a_checkbox_per_entity(admin_client, entities):
    form = parse_html(admin_client.get("/settings/api-keys/new")).find("form", id="create-key-form")
    group = form.find("fieldset", class_="entities")

    assert text_of(group.find("legend")) == "Entities"
    assert group.find("input", type="radio", value="all").has_attr("checked")
    assert [text_of(box.parent) for box in group.find_all("input", type="checkbox")] == ["North", "South", "West"]
    assert group.find("input", attrs={"data-entity-filter": True}) is None  # a filter box only when there are many


def test_a_key_created_for_some_entities_reads_only_those_and_says_so(admin_client, entities):
    response = create(admin_client, entities="only", entity_ids=[str(entities["West"]), str(entities["North"])])

    assert response.status_code == 201
    key = db.session.scalars(select(ApiKey).where(ApiKey.name == "Auditor")).one()
    assert key.entity_ids == sorted([entities["North"], entities["West"]])
    assert events(AuditKind.KEY_CREATED)[-1].detail == "Entities: North, West."
    row = parse_html(admin_client.get("/settings/api-keys")).find("tr", id=f"key-{key.id}")
    assert "2 of 3 entities" in text_of(row)


def test_a_key_created_for_all_entities_reads_every_one_later_ones_too(admin_client, entities):
    assert create(admin_client, entity_ids=[str(entities["West"])]).status_code == 201  # checked, then All chosen
    assert db.session.scalars(select(ApiKey)).one().entity_ids is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_only_these_with_none_checked_is_refused_next_to_the_group_keeping_what_was_typed(admin_client, entities,
                                                                                          htmx):
    response = create(admin_client, htmx, name="Keep me", entities="only")

    assert response.status_code == 422
    page = parse_html(response)
    error = page.find("p", id="entity_ids-error")
    assert text_of(error) == "Choose at least one entity, or All entities."
    assert "entity_ids-error" in page.find("fieldset", class_="entities").get("aria-describedby")
    assert page.find("input", value="only").has_attr("checked")
    assert page.find("input", id="name").get("value") == "Keep me"
    assert db.session.scalars(select(ApiKey)).first() is None


def test_an_entity_of_another_team_cannot_be_chosen(admin_client, make_team, entities):
    globex = make_team("Globex")
    theirs = Entity(team_id=globex.id, name="Globex UK")
    db.session.add(theirs)
    db.session.commit()

    assert create(admin_client, entities="only", entity_ids=[str(theirs.id)]).status_code == 422
    assert db.session.scalars(select(ApiKey)).first() is None


def test_the_key_page_shows_its_entities_and_rate_limit_with_their_form(admin_client, key, entities):
    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))

    assert text_of(page.find(class_="limits-summary")) == (
        "Reads every entity, those added later too, at most the team default (100000 per minute).")
    form = page.find("div", id="key-limits").find("form")
    assert form.get("hx-post") == f"/settings/api-keys/{key.id}/limits"
    assert form.find("input", id="rate_limit_per_minute").get("value") in (None, "")


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_saving_entities_and_a_rate_limit_is_audited_with_before_and_after(admin_client, key, entities, htmx):
    response = save_limits(admin_client, key, htmx, entities="only", entity_ids=[str(entities["South"])],
                           rate_limit_per_minute="1,200")

    if htmx:
        assert response.status_code == 200 and response.headers["HX-Trigger"] == "keys-changed"
        assert "Saved" in text_of(parse_html(response).find("p", class_="notice"))
    else:
        assert response.status_code == 303
    key = reload(key)
    assert (key.entity_ids, key.rate_limit_per_minute) == ([entities["South"]], 1200)
    assert events(AuditKind.ENTITIES_CHANGED)[-1].detail == "Before: all entities. After: South."
    assert events(AuditKind.RATE_LIMIT_CHANGED)[-1].detail == ("Before: the team default. "
                                                               "After: 1,200 requests a minute.")
    page = parse_html(admin_client.get(f"/settings/api-keys/{key.id}"))
    assert text_of(page.find(class_="limits-summary")) == "Reads 1 of 3 entities, at most 1,200 requests a minute."

    assert save_limits(admin_client, key, entities="all").status_code == 200
    assert reload(key).entity_ids is None and reload(key).rate_limit_per_minute is None
    assert events(AuditKind.ENTITIES_CHANGED)[-1].detail == "Before: South. After: all entities."
    assert len(events(AuditKind.RATE_LIMIT_CHANGED)) == 2


def test_saving_the_same_limits_changes_nothing_and_audits_nothing(admin_client, key):
    response = save_limits(admin_client, key)
    assert "Nothing changed." in text_of(parse_html(response))
    assert events(AuditKind.ENTITIES_CHANGED) == [] and events(AuditKind.RATE_LIMIT_CHANGED) == []


@pytest.mark.parametrize("typed", ["0", "6001", "ten", "-5", "1.5"])
def test_a_rate_limit_outside_1_to_the_ceiling_is_refused_as_typed(admin_client, key, typed):
    response = save_limits(admin_client, key, rate_limit_per_minute=typed)

    assert response.status_code == 422
    assert_error_next_to(parse_html(response), "rate_limit_per_minute",
                         "Enter a whole number from 1 to 6,000, or leave it empty for the team default.")
    assert parse_html(response).find("input", id="rate_limit_per_minute").get("value") == typed
    assert reload(key).rate_limit_per_minute is None


def test_the_ceiling_is_the_operators(admin_client, app, key):
    app.config["API_RATE_LIMIT_MAX"] = 100000
    assert save_limits(admin_client, key, rate_limit_per_minute="50000").status_code == 200
    assert reload(key).rate_limit_per_minute == 50000


def test_a_key_that_no_longer_works_shows_its_limits_without_a_form(admin_client, admin, make_key, entities):
    gone, _ = make_key(admin, name="Gone", deleted_at=utcnow() - timedelta(days=1), entity_ids=[entities["North"]])
    page = parse_html(admin_client.get(f"/settings/api-keys/{gone.id}"))
    assert page.find("div", id="key-limits").find("form") is None
    assert "1 of 3 entities" in text_of(page.find("div", id="key-limits"))
    assert save_limits(admin_client, gone, entities="all").status_code == 409
    assert reload(gone).entity_ids == [entities["North"]]


def test_a_filter_box_comes_with_many_entities(admin_client, team, key):
    db.session.add_all(Entity(team_id=team.id, name=f"Subsidiary {number:02d}") for number in range(12))
    db.session.commit()
    box = parse_html(admin_client.get(f"/settings/api-keys/{key.id}")).find("input", attrs={"data-entity-filter": True})
    assert box.has_attr("hidden") and box.get("aria-label") == "Filter entities by name"  # app.js shows it


def test_a_roll_and_a_regenerate_keep_the_entities_and_the_rate_limit(admin_client, team, admin, make_key, entities):
    rolled, _ = make_key(admin, name="Warehouse", entity_ids=[entities["North"]], rate_limit_per_minute=60)
    dialog = parse_html(admin_client.get(f"/settings/api-keys/{rolled.id}/roll"))
    carried = text_of(dialog.find("div", class_="carries-over"))
    assert "Entities: 1 of 3 entities" in carried and "Rate limit: 60 requests a minute" in carried
    answer = admin_client.post(with_next(f"/settings/api-keys/{rolled.id}/roll", "/settings/api-keys"),
                               data={"roll-overlap": "0", "roll-expiration": "30",
                                     "csrf_token": csrf_token(admin_client, "/settings/api-keys")})
    assert answer.status_code == 201
    replacement = reload(rolled).replaced_by
    assert (replacement.entity_ids, replacement.rate_limit_per_minute) == ([entities["North"]], 60)

    created = utcnow() - timedelta(days=40)
    lapsed, _ = make_key(admin, name="Lapsed", expires_on=team.today(created) + timedelta(days=30),
                         created_at=created, entity_ids=[entities["West"]], rate_limit_per_minute=30)
    answer = admin_client.post(with_next(f"/settings/api-keys/{lapsed.id}/regenerate", "/settings/api-keys"),
                               data={"regenerate-expiration": "30",
                                     "csrf_token": csrf_token(admin_client, "/settings/api-keys")})
    assert answer.status_code == 201
    regenerated = reload(lapsed).replaced_by
    assert (regenerated.entity_ids, regenerated.rate_limit_per_minute) == ([entities["West"]], 30)


def test_the_list_says_nothing_of_entities_for_keys_that_read_them_all(admin_client, key):
    row = parse_html(admin_client.get("/settings/api-keys")).find("tr", id=f"key-{key.id}")
    assert "entities" not in " ".join(cells(parse_html(admin_client.get("/settings/api-keys")), key))
    assert row.find(class_="entities-read") is None

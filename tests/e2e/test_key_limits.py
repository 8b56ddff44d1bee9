"""A key's Entities and Requests per minute in the browser: chosen in Create New Key and on the key's page (with a
filter box when there are many entities), felt by curl at once; at 375 px and without JavaScript; checked by axe."""

import pytest

from e2e.conftest import fill_create_form, pull
from floqast.analytics.models import Entity
from floqast.extensions import db

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


def add_entities(seeded, *names) -> dict[str, int]:
    with seeded.app.app_context():
        made = [Entity(team_id=seeded.team_id, name=name) for name in names]
        db.session.add_all(made)
        db.session.commit()
        return {entity.name: entity.id for entity in made}


def test_create_a_key_for_one_entity(admin_page, seeded, base_url, axe, shot):
    ids = add_entities(seeded, "Acme US", "Acme Canada", "Acme UK")
    page = admin_page
    page.reload()
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(dialog, "Canada auditor")
    group = dialog.get_by_role("group", name="Entities", exact=True)
    expect(group.get_by_label("All entities")).to_be_checked()
    expect(group.get_by_label("Acme Canada")).to_be_hidden()  # until Only these entities is chosen

    group.get_by_label("Only these entities").check()
    expect(group.get_by_label("Acme Canada")).to_be_visible()
    group.get_by_label("Acme Canada").check()
    axe(page)
    shot(page, "dialog", full_page=False)
    dialog.get_by_role("button", name="Create API Key").click()
    key = page.get_by_role("status").filter(has_text="This is the only time").get_by_label("New API key").input_value()

    assert seeded.key("Canada auditor").entity_ids == [ids["Acme Canada"]]
    status, body = pull(base_url, key)
    assert (status, body["data"]["entityIds"]) == (200, [str(ids["Acme Canada"])])
    expect(page.locator("tr", has_text="Canada auditor")).to_contain_text("1 of 3 entities")
    axe(page)


def test_only_these_without_an_entity_is_refused_in_the_dialog(admin_page, seeded, axe):
    add_entities(seeded, "Acme US", "Acme UK")
    page = admin_page
    page.reload()
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(dialog, "Nobody's")
    dialog.get_by_label("Only these entities").check()
    dialog.get_by_role("button", name="Create API Key").click()

    group = dialog.get_by_role("group", name="Entities", exact=True)
    expect(group).to_contain_text("Choose at least one entity, or All entities.")
    expect(dialog.get_by_label("Only these entities")).to_be_checked()
    expect(dialog.get_by_label("New API Key Name")).to_have_value("Nobody's")
    axe(page)
    assert seeded.key("Nobody's") is None


def test_the_key_page_filters_many_entities_and_sets_a_rate_limit(admin_page, seeded, base_url, axe, shot):
    ids = add_entities(seeded, *(f"Subsidiary {number:02d}" for number in range(1, 16)))
    key = seeded.add_key("Nightly load")
    page = admin_page
    page.goto(f"/settings/api-keys/{seeded.key('Nightly load').id}")
    page.get_by_label("Only these entities").check()
    box = page.get_by_label("Filter entities by name")
    box.fill("1")
    expect(page.get_by_label("Subsidiary 12")).to_be_visible()
    expect(page.get_by_label("Subsidiary 02")).to_be_hidden()
    box.press("Enter")  # filters; does not send the form
    page.get_by_label("Subsidiary 12").check()
    page.get_by_label("Subsidiary 14").check()
    page.get_by_label("Requests per minute").fill("120")
    axe(page)
    page.get_by_role("button", name="Save entities and rate limit").click()

    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(page.get_by_label("Requests per minute")).to_have_value("120")
    expect(page.locator(".limits-summary")).to_have_text("Reads 2 of 15 entities, at most 120 requests a minute.")
    shot(page, "saved")
    axe(page)
    status, body = pull(base_url, key)
    assert status == 200
    assert body["data"]["entityIds"] == [str(ids["Subsidiary 12"]), str(ids["Subsidiary 14"])]
    assert body["data"]["rateLimitPerMinute"] == 120


@pytest.mark.parametrize("how", ["without JavaScript", "at 375 px"])
def test_the_limits_work_without_javascript_and_on_a_phone(make_page, seeded, log_in, base_url, axe, how):
    options = {"java_script_enabled": False} if how == "without JavaScript" else {
        "viewport": {"width": 375, "height": 812}}
    page = make_page(**options)
    ids = add_entities(seeded, "Acme US", "Acme Canada Ltd with a rather long legal name", "Acme UK")
    key = seeded.add_key("Phone key")
    log_in(page, seeded.admin_email)
    page.goto(f"/settings/api-keys/{seeded.key('Phone key').id}")
    page.get_by_label("Only these entities").check()
    page.get_by_label("Acme UK").check()
    page.get_by_label("Requests per minute").fill("9000")
    page.get_by_role("button", name="Save entities and rate limit").click()

    field = page.get_by_label("Requests per minute")
    expect(field).to_have_value("9000")
    expect(field).to_have_accessible_description(
        "Enter a whole number from 1 to 6,000, or leave it empty for the team default.")
    expect(page.get_by_label("Acme UK")).to_be_checked()
    axe(page)
    field.fill("30")
    page.get_by_role("button", name="Save entities and rate limit").click()

    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    if how == "at 375 px":
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    axe(page)
    status, body = pull(base_url, key)
    assert (body["data"]["entityIds"], body["data"]["rateLimitPerMinute"]) == ([str(ids["Acme UK"])], 30)

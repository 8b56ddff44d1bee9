"""Key requests in Chromium: a Manager asks for a key from the navigation, an Admin finds the count in Admin
Settings and approves it narrowed (or denies it with a reason), and the Manager reveals the key once; axe-core on
every step, at 375 px and 1280 px, and without JavaScript."""

from pathlib import Path

import pytest

from e2e.conftest import log_in, pull
from floqast.analytics.models import Entity
from floqast.extensions import db

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

# Screenshots for people to look at, beside the ones every e2e test leaves in test-artifacts/.
SHOTS = Path("/tmp/shots/requests")
JUSTIFICATION = "The Power BI refresh for the controller's close dashboard."


def add_entities(seeded, *names) -> None:
    with seeded.app.app_context():
        db.session.add_all(Entity(team_id=seeded.team_id, name=name) for name in names)
        db.session.commit()


def save(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def ask_for_a_key(page, axe, width: int) -> None:
    """As the Manager: from the navigation to the form, its errors, then a request sent."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Request an API key").click()
    expect(page.get_by_role("heading", name="Request an API key", level=1)).to_be_visible()
    axe(page)
    page.get_by_label("Key name").fill("Power BI refresh")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#justification-error")).to_contain_text("Say what the key is for")
    expect(page.locator("#services-error")).to_be_visible()
    expect(page.get_by_label("Key name")).to_have_value("Power BI refresh")  # kept
    axe(page)
    save(page, f"request-errors-{width}")
    page.get_by_role("group", name="API services").get_by_label("Reconciliation Analytics").check()
    page.get_by_role("group", name="API services").get_by_label("Checklist Analytics").check()
    page.get_by_role("group", name="Entities").get_by_label("Acme US").check()
    page.get_by_role("group", name="Entities").get_by_label("Acme UK").check()
    page.get_by_label("Justification").fill(JUSTIFICATION)
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#flash")).to_contain_text("Request sent.")
    expect(page.locator("article.key-request").first).to_contain_text("Pending")
    axe(page)
    save(page, f"request-sent-{width}")


@pytest.mark.parametrize("width", [375, 1280])
def test_a_manager_asks_an_admin_approves_narrowed_and_the_manager_reveals_once(make_page, seeded, axe, base_url,
                                                                                 width):
    add_entities(seeded, "Acme US", "Acme UK")
    viewport = {"width": width, "height": 900}
    manager = make_page(viewport=viewport)
    log_in(manager, seeded.manager_email)
    ask_for_a_key(manager, axe, width)

    admin = make_page(viewport=viewport)
    log_in(admin, seeded.admin_email)
    requests_link = admin.get_by_role("navigation", name="Admin Settings").get_by_role("link", name="Requests")
    expect(requests_link).to_have_text("Requests 1 pending")
    requests_link.click()
    card = admin.locator("article.key-request")
    expect(card).to_contain_text("Max Manager")
    expect(card).to_contain_text(JUSTIFICATION)
    axe(admin)
    save(admin, f"admin-requests-{width}")
    approve = card.locator("form.approve-form")
    approve.get_by_label("Reconciliation Analytics").uncheck()
    approve.get_by_label("Acme US").uncheck()
    approve.get_by_role("button", name="Approve").click()
    expect(admin.locator("#flash")).to_contain_text("Approved “Power BI refresh”")
    expect(admin.locator("article.key-request")).to_contain_text("Approved: ready to reveal")
    expect(admin.get_by_role("navigation", name="Admin Settings").get_by_role("link", name="Requests")).to_have_text(
        "Requests")
    axe(admin)

    manager.reload()
    mine = manager.locator("article.key-request")
    expect(mine).to_contain_text("Approved: ready to reveal")
    expect(mine).to_contain_text("Checklist Analytics; Acme UK")
    mine.get_by_role("button", name="Reveal key").click()
    plaintext = manager.get_by_role("textbox", name="New API key").input_value()
    expect(manager.get_by_text("This is the only time this key will be displayed.")).to_be_visible()
    axe(manager)
    save(manager, f"revealed-{width}")
    status, body = pull(base_url, plaintext)
    assert status == 200 and body["data"]["services"] == ["checklists"]

    manager.goto("/key-requests")
    expect(manager.locator("article.key-request")).to_contain_text("Key revealed")
    expect(manager.get_by_role("button", name="Reveal key")).to_have_count(0)
    assert plaintext not in manager.content()

    admin.goto("/settings/key-requests")
    admin.get_by_role("link", name="Open the key's page").click()
    expect(admin.locator(".key-facts")).to_contain_text("Max Manager")
    expect(admin.locator(".key-facts .justification")).to_have_text(JUSTIFICATION)
    axe(admin)
    save(admin, f"key-page-{width}")


def test_a_denial_without_javascript_at_375_px(make_page, seeded, axe):
    add_entities(seeded, "Acme US")
    viewport = {"width": 375, "height": 800}
    manager = make_page(viewport=viewport, java_script_enabled=False)
    log_in(manager, seeded.manager_email)
    manager.goto("/key-requests")
    manager.get_by_label("Key name").fill("Tableau pilot")
    manager.get_by_label("Checklist Analytics").check()
    manager.get_by_label("All entities").check()
    manager.get_by_label("Justification").fill("A pilot for the audit committee.")
    manager.get_by_role("button", name="Send request").click()
    expect(manager.locator("#flash")).to_contain_text("Request sent.")

    admin = make_page(viewport=viewport, java_script_enabled=False)
    log_in(admin, seeded.admin_email)
    admin.goto("/settings/key-requests")
    deny = admin.locator("form.deny-form")
    deny.get_by_role("button", name="Deny").click()
    expect(admin.locator("form.deny-form .field-error")).to_contain_text("Give the reason for denying")
    axe(admin)
    admin.locator("form.deny-form").get_by_label("Reason").fill("Use the shared Tableau key.")
    admin.locator("form.deny-form").get_by_role("button", name="Deny").click()
    expect(admin.locator("#flash")).to_contain_text("Denied “Tableau pilot”")
    axe(admin)
    save(admin, "admin-denied-375-nojs")

    manager.goto("/key-requests")
    card = manager.locator("article.key-request")
    expect(card).to_contain_text("Denied")
    expect(card.locator(".denial-reason")).to_have_text("Use the shared Tableau key.")
    axe(manager)
    save(manager, "denied-375-nojs")

"""Scripts may roll this key, in Chromium: ticked in Create New Key at 375 px, turned off on the key's page with htmx,
and a script's roll seen on the key's page; axe-core on each."""

import re
import urllib.request

import pytest

from e2e.conftest import fill_create_form

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


def roll_itself(base_url, key) -> int:
    request = urllib.request.Request(f"{base_url}/api/v1/me/roll", method="POST",
                                     headers={"x-api-key": key, "Idempotency-Key": "e2e-roll"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def fact(page, term: str):
    return page.locator(".key-facts div").filter(has=page.locator("dt", has_text=re.compile(f"^{term}$"))).locator("dd")


def test_a_key_created_at_375_px_with_the_option_may_roll_itself(make_page, seeded, base_url, log_in, axe, shot):
    page = make_page(viewport={"width": 375, "height": 800})
    log_in(page, seeded.admin_email)
    page.wait_for_url("**/settings/api-keys")
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(dialog, "Rotating loader")
    option = dialog.get_by_label("Scripts may roll this key")
    expect(option).not_to_be_checked()
    option.check()
    shot(page, "dialog")
    axe(page)
    dialog.get_by_role("button", name="Create API Key").click()
    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    key = seeded.key("Rotating loader")
    assert key.self_roll_allowed is True

    plaintext = re.search(r"fq_[0-9A-Za-z]{38}", panel.inner_text()).group()
    assert roll_itself(base_url, plaintext) == 201

    page.goto(f"/settings/api-keys/{key.id}")
    expect(fact(page, "Scripts may roll it")).to_have_text("Yes")
    expect(fact(page, "Replaced by")).to_be_visible()
    expect(page.get_by_text("Key rolled by itself").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "rolled")
    axe(page)


def test_the_key_page_turns_the_option_off_in_place(admin_page, seeded, axe):
    page = admin_page
    seeded.add_key("Nightly load", self_roll_allowed=True)
    page.goto(f"/settings/api-keys/{seeded.key('Nightly load').id}")
    page.evaluate("window.stillTheSamePage = true")
    option = page.get_by_label("Scripts may roll this key")
    expect(option).to_be_checked()

    option.uncheck()
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    expect(fact(page, "Scripts may roll it")).to_have_text("No")
    assert page.evaluate("window.stillTheSamePage") is True  # htmx swapped the page's top, no reload
    assert seeded.key("Nightly load").self_roll_allowed is False
    axe(page)

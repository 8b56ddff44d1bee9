"""Rolling a key in Chromium: the dialog, the reveal, both keys working through the overlap, the old one refused
after it (the clock moved by patching the app's), with and without JavaScript, at 375px, checked by axe-core."""

import re
from datetime import timedelta

import pytest

from e2e.conftest import pull
from floqast.columns import utcnow
from floqast.settings.formatting import day
from helpers import freeze

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


def open_roll_dialog(page, name):
    page.get_by_role("button", name=f"Roll key {name}").click()
    dialog = page.get_by_role("dialog", name="Roll API key")
    expect(dialog).to_be_visible()
    return dialog


def rolled_by(replacement):
    """The Status cell of a key whose roll is over."""
    return re.compile(rf"Deactivated\s+on .+\s+Replaced by {replacement.hint}…")


def status_cell(page, key_id):
    return page.locator(f"#key-{key_id} td").nth(6)


def test_roll_both_keys_work_through_the_overlap_then_the_old_one_is_refused(admin_page, seeded, base_url,
                                                                              monkeypatch, shot):
    page = admin_page
    old_plaintext = seeded.add_key("Warehouse load", created_days_ago=30)
    old = seeded.key("Warehouse load")
    page.reload()

    # Cancel closes the dialog and gives focus back to the row's Roll key button; so does Escape.
    dialog = open_roll_dialog(page, "Warehouse load")
    expect(dialog.get_by_label("Old key keeps working")).to_be_focused()
    expect(dialog.get_by_label("Old key keeps working")).to_have_value("24")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Roll key Warehouse load")).to_be_focused()
    dialog = open_roll_dialog(page, "Warehouse load")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_role("button", name="Roll key Warehouse load")).to_be_focused()

    # The dialog says what carries over, and the day the new key works through as the expiration is picked.
    dialog = open_roll_dialog(page, "Warehouse load")
    expect(dialog.locator(".carries-over")).to_contain_text("Name: Warehouse load")
    works_through = dialog.locator(".works-through")
    expect(works_through).to_have_text(f"Works through {day(seeded.today() + timedelta(days=120))} (America/New_York)")
    dialog.get_by_label("Expiration", exact=True).select_option(label="30 days")
    expect(works_through).to_have_text(f"Works through {day(seeded.today() + timedelta(days=30))} (America/New_York)")
    dialog.get_by_label("Expiration", exact=True).select_option(label="Custom date")
    dialog.get_by_label("Expiration date").fill((seeded.today() + timedelta(days=120)).isoformat())
    expect(works_through).to_have_text(f"Works through {day(seeded.today() + timedelta(days=120))} (America/New_York)")
    dialog.get_by_label("Old key keeps working").select_option(label="1 hour")
    shot(page, "dialog", full_page=False)
    dialog.get_by_role("button", name="Roll key").click()

    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    expect(panel).to_contain_text("Your new API key “Warehouse load”")
    new_plaintext = panel.get_by_label("New API key").input_value()
    expect(panel.get_by_role("button", name="Copy", exact=True)).to_be_focused()
    expect(page.get_by_role("dialog")).to_have_count(0)
    new = seeded.key("Warehouse load")
    # Made 30 days ago to expire in 90: a lifetime of 120 days, counted again from today.
    assert new.id != old.id and new.expires_on == seeded.today() + timedelta(days=120)
    expect(status_cell(page, old.id)).to_contain_text(
        re.compile(rf"Active\s+Rolling\s+→\s+replaced by\s+{new.hint}…,\s+stops at \w{{3}} \d{{1,2}}, \d{{4}}"))
    expect(status_cell(page, new.id)).to_have_text(re.compile(rf"Active\s+Replaces {old.hint}…"))
    expect(page.locator(f"#key-{old.id}").get_by_role("button", name="Roll key Warehouse load")).to_have_count(0)
    shot(page, "rolling")

    # During the overlap both keys work.
    assert pull(base_url, old_plaintext)[0] == 200
    assert pull(base_url, new_plaintext)[0] == 200

    # An hour later (the app's clock moved, not waited for), the old key is refused, naming its replacement.
    freeze(monkeypatch, utcnow() + timedelta(hours=1, minutes=1))
    status, body = pull(base_url, old_plaintext)
    assert status == 401
    assert re.fullmatch(rf"This API key was rolled on \d{{4}}-\d{{2}}-\d{{2}} and replaced by {new.hint}…",
                        body["errors"][0]["detail"])
    assert pull(base_url, new_plaintext)[0] == 200

    page.goto("/settings/api-keys?status=deactivated")
    expect(status_cell(page, old.id)).to_have_text(rolled_by(new))
    expect(page.locator(f"#key-{old.id}").get_by_role("button")).to_have_count(0)
    shot(page, "rolled")


def test_roll_dialog_and_rows_pass_axe_at_375px(make_page, seeded, log_in, axe, shot):
    page = make_page(viewport={"width": 375, "height": 812})
    seeded.add_key("Warehouse load")
    log_in(page, seeded.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))

    dialog = open_roll_dialog(page, "Warehouse load")
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375
    axe(page)
    shot(page, "dialog", full_page=False)
    dialog.get_by_role("button", name="Roll key").click()
    expect(page.get_by_role("status").filter(has_text="This is the only time")).to_be_visible()
    old = page.locator("#key-list tbody tr").filter(has_text="Rolling")
    expect(old).to_contain_text("stops at")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    axe(page)


def test_roll_without_javascript(make_page, seeded, log_in, base_url, axe, shot):
    page = make_page(java_script_enabled=False)
    old_plaintext = seeded.add_key("Warehouse load")
    old = seeded.key("Warehouse load")
    log_in(page, seeded.admin_email)
    page.wait_for_url(re.compile(r"/settings/api-keys$"))

    # Roll key is a link to a page of its own; Cancel goes back and keeps the key as it was.
    page.get_by_role("link", name="Roll key Warehouse load").click()
    page.wait_for_url(re.compile(rf"/settings/api-keys/{old.id}/roll\?next=/settings/api-keys\?status%3Dactive$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Roll API key")
    axe(page)
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(re.compile(r"/settings/api-keys\?status=active$"))
    assert seeded.key("Warehouse load").id == old.id

    page.get_by_role("link", name="Roll key Warehouse load").click()
    page.get_by_label("Old key keeps working").select_option(label="Stop now")
    shot(page, "form")
    page.get_by_role("button", name="Roll key").click()
    panel = page.get_by_role("status").filter(has_text="This is the only time this key will be displayed")
    new_plaintext = panel.get_by_label("New API key").input_value()
    new = seeded.key("Warehouse load")
    shot(page, "reveal")

    # Stop now: the old key is refused at once, and the new one works.
    assert pull(base_url, old_plaintext)[0] == 401
    assert pull(base_url, new_plaintext)[0] == 200
    page.goto("/settings/api-keys?status=all")
    expect(status_cell(page, old.id)).to_have_text(rolled_by(new))
    expect(status_cell(page, new.id)).to_have_text("Active")
    assert new_plaintext not in page.content()

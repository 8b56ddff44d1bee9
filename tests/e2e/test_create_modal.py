"""The Create New Key dialog: focus, Escape and Cancel, and each validation error in place."""

from datetime import timedelta

import pytest

from e2e.conftest import fill_create_form
from floqast.settings.forms import years_later

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

IN_DIALOG = "document.querySelector('#create-key-dialog').contains(document.activeElement)"


def open_dialog(page):
    opener = page.get_by_role("button", name="Create New Key")
    opener.click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    expect(dialog).to_be_visible()
    return opener, dialog


def test_focus_moves_in_stays_in_and_returns(admin_page, shot):
    page = admin_page
    opener, dialog = open_dialog(page)
    expect(dialog.get_by_label("New API Key Name")).to_be_focused()
    assert page.evaluate("document.querySelector('#create-key-dialog').matches(':modal')")
    shot(page, "open", full_page=False)

    # Forwards: name, description, expiration, three services, allowed IP addresses, Scripts may roll this key,
    # Cancel, Create API Key, then back to the name.
    order = []
    for _ in range(10):
        page.keyboard.press("Tab")
        assert page.evaluate(IN_DIALOG), "Tab left the dialog"
        order.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    assert order[-2:] == ["Create API Key", "name"], order
    assert order[:2] == ["description", "expiration"], order
    assert "Cancel" in order and "allowed_ips" in order and "self_roll" in order
    # Backwards from the first field wraps to the last button.
    page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Create API Key")).to_be_focused()

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()


def test_cancel_closes_and_keeps_the_page(admin_page):
    page = admin_page
    opener, dialog = open_dialog(page)
    dialog.get_by_label("New API Key Name").fill("Never created")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    assert page.url.endswith("/settings/api-keys")
    expect(page.get_by_role("tab", name="Active 0")).to_be_visible()

    # The opener works again after a close, with Space as with a click.
    page.keyboard.press(" ")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


ERRORS = {
    "empty name": (dict(name="   "), "name", "Enter a name for the key."),
    "name in use": (dict(name="power bi"), "name", "A key that still works already has this name."),
    "no service": (dict(services=()), "services", "Select at least one API service."),
    "no custom date": (dict(expiration="Custom date", custom_date=""), "custom_date",
                       "Choose the date the key expires."),
    "custom date today": (dict(expiration="Custom date", custom_date="today"), "custom_date",
                          "Choose a date after today."),
    "custom date too late": (dict(expiration="Custom date", custom_date="too late"), "custom_date",
                             "Choose a date no later than"),
}


@pytest.mark.parametrize("case", ERRORS, ids=lambda case: case.replace(" ", "-"))
def test_validation_error_is_shown_in_the_dialog_next_to_its_field(admin_page, seeded, shot, case):
    seeded.add_key("Power BI")
    page = admin_page
    page.reload()
    fields, field_id, message = dict(ERRORS[case][0]), ERRORS[case][1], ERRORS[case][2]
    today = seeded.today()
    if fields.get("custom_date") == "today":
        fields["custom_date"] = today.isoformat()
    elif fields.get("custom_date") == "too late":
        fields["custom_date"] = (years_later(today, 5) + timedelta(days=1)).isoformat()
    _, dialog = open_dialog(page)
    fill_create_form(dialog, **fields)
    dialog.get_by_role("button", name="Create API Key").click()

    error = dialog.locator(f"#{field_id}-error")
    expect(error).to_contain_text(message)
    expect(dialog).to_be_visible()
    if field_id == "services":
        described = dialog.get_by_role("group", name="Select API Services")
    else:
        described = page.locator(f"#{field_id}")
    expect(described).to_have_attribute("aria-describedby", f"{field_id}-error")
    if field_id != "services":
        expect(described).to_have_attribute("aria-invalid", "true")
    # What was typed is kept, and the first field in error has the focus.
    if field_id != "name":
        expect(dialog.get_by_label("New API Key Name")).to_have_value(fields.get("name", "Looker"))
    expect(dialog.locator(f"#{field_id}-error")).to_have_count(1)
    focused = page.evaluate("document.activeElement.id")
    assert focused.startswith(field_id), focused
    expect(page.get_by_role("tab", name="Active 1")).to_be_visible()
    shot(page, "error", full_page=False)

    # Escape still closes it, and focus goes back to Create New Key.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Create New Key")).to_be_focused()


def test_no_expiration_warning_and_custom_date_follow_the_choice(admin_page):
    _, dialog = open_dialog(admin_page)
    warning = dialog.get_by_text("An expiration date is strongly recommended for security")
    date_field = dialog.get_by_label("Expiration date")
    expect(warning).to_be_hidden()
    expect(date_field).to_be_hidden()

    dialog.get_by_label("Expiration", exact=True).select_option(label="No expiration")
    expect(warning).to_be_visible()
    expect(date_field).to_be_hidden()

    dialog.get_by_label("Expiration", exact=True).select_option(label="Custom date")
    expect(warning).to_be_hidden()
    expect(date_field).to_be_visible()

    dialog.get_by_label("Expiration", exact=True).select_option(label="30 days")
    expect(warning).to_be_hidden()
    expect(date_field).to_be_hidden()

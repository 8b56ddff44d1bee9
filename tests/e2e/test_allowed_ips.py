"""Allowed IP addresses in the browser: set in Create New Key, changed on the key's page, felt by curl at once."""

import re

import pytest

from e2e.conftest import fill_create_form, pull

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


def test_create_a_key_for_this_machine_only_then_move_it_elsewhere(admin_page, seeded, base_url, axe, shot):
    page = admin_page
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(dialog, "Office warehouse load")
    field = dialog.get_by_label("Allowed IP addresses")
    expect(field).to_have_accessible_description(re.compile(r"^Optional\. .*up to 20"))
    field.fill("127.0.0.1\n2001:DB8::/32, 198.51.100.0/24")
    axe(page)
    shot(page, "dialog", full_page=False)
    dialog.get_by_role("button", name="Create API Key").click()
    key = page.get_by_role("status").filter(has_text="This is the only time").get_by_label("New API key").input_value()

    stored = seeded.key("Office warehouse load")
    assert stored.allowed_ip_list == ["127.0.0.1", "198.51.100.0/24", "2001:db8::/32"]
    assert pull(base_url, key)[0] == 200

    # On the key's page: the list one a line, normalised; saved in place by htmx.
    page.goto(f"/settings/api-keys/{stored.id}")
    form_field = page.get_by_label("Allowed IP addresses")
    expect(form_field).to_have_value("127.0.0.1\n198.51.100.0/24\n2001:db8::/32")
    axe(page)
    form_field.fill("203.0.113.7")
    page.get_by_role("button", name="Save allowed addresses").click()
    expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text("refused from now on")
    expect(page.get_by_label("Allowed IP addresses")).to_have_value("203.0.113.7")
    axe(page)

    status, body = pull(base_url, key)
    assert status == 403
    assert body["errors"][0]["detail"] == "This API key cannot be used from 127.0.0.1."


def test_a_bad_entry_is_named_next_to_the_field_and_nothing_is_created(admin_page, seeded, axe):
    page = admin_page
    page.get_by_role("button", name="Create New Key").click()
    dialog = page.get_by_role("dialog", name="Create New Key")
    fill_create_form(dialog, "Typo")
    dialog.get_by_label("Allowed IP addresses").fill("127.0.0.1, 10.0.0.300")
    dialog.get_by_role("button", name="Create API Key").click()

    field = dialog.get_by_label("Allowed IP addresses")
    expect(field).to_have_accessible_description("Not an IP address or CIDR range: “10.0.0.300”.")
    expect(field).to_be_focused()
    expect(field).to_have_value("127.0.0.1, 10.0.0.300")
    axe(page)
    assert seeded.key("Typo") is None


@pytest.mark.parametrize("how", ["without JavaScript", "at 375 px"])
def test_the_form_works_without_javascript_and_on_a_phone(make_page, seeded, log_in, axe, how):
    options = {"java_script_enabled": False} if how == "without JavaScript" else {
        "viewport": {"width": 375, "height": 812}}
    page = make_page(**options)
    seeded.add_key("Phone key")
    key_id = seeded.key("Phone key").id
    log_in(page, seeded.admin_email)
    page.goto(f"/settings/api-keys/{key_id}")
    page.get_by_label("Allowed IP addresses").fill("192.0.2.0/24 2001:db8::1")
    page.get_by_role("button", name="Save allowed addresses").click()

    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(page.get_by_label("Allowed IP addresses")).to_have_value("192.0.2.0/24\n2001:db8::1")
    if how == "at 375 px":
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    axe(page)
    assert seeded.key("Phone key").allowed_ips == "192.0.2.0/24,2001:db8::1/128"

"""Logging in, and who sees the API Keys tab."""

import re

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect


def test_wrong_password_is_refused_with_a_message(page, seeded, log_in):
    log_in(page, seeded.admin_email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password.")
    assert page.url.endswith("/login")


def test_admin_logs_in_to_the_api_keys_tab(page, seeded, log_in):
    log_in(page, seeded.admin_email)

    page.wait_for_url("**/settings/api-keys")
    expect(page.get_by_role("heading", level=1)).to_have_text("API Keys")
    header = page.get_by_role("banner")
    expect(header).to_contain_text(seeded.team_name)
    expect(header).to_contain_text(seeded.admin_name)
    expect(header.get_by_role("link", name="Admin Settings")).to_have_attribute("aria-current", "page")
    settings_nav = page.get_by_role("navigation", name="Admin Settings")
    expect(settings_nav.get_by_role("link", name="API Keys")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("button", name="Create New Key")).to_be_visible()


def test_manager_sees_no_api_keys_tab_and_gets_403(page, seeded, log_in):
    log_in(page, seeded.manager_email)

    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    expect(page.get_by_role("banner")).to_contain_text("Max Manager")
    expect(page.get_by_role("link", name="Admin Settings")).to_have_count(0)
    expect(page.get_by_role("link", name="API Keys")).to_have_count(0)

    response = page.goto("/settings/api-keys")
    assert response.status == 403
    # In the app's layout, naming who to ask rather than Werkzeug's stock text.
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys are managed by your team's Admins")
    expect(page.get_by_role("main")).to_contain_text(f"{seeded.admin_name} (Admin)")
    expect(page.get_by_role("link", name=seeded.admin_email)).to_have_attribute("href", f"mailto:{seeded.admin_email}")
    expect(page.get_by_role("banner")).to_contain_text("Max Manager")
    expect(page.get_by_role("main")).not_to_contain_text("You don't have the permission")


def test_anonymous_visitor_is_sent_to_login_and_back(page, seeded, log_in):
    page.goto("/settings/api-keys?status=all")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("Email").fill(seeded.admin_email)
    page.get_by_label("Password").fill("e2e password for everyone")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/settings/api-keys\?status=all$"))
    expect(page.get_by_role("tab", name="All")).to_have_attribute("aria-selected", "true")

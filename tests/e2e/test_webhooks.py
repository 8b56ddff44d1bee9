"""The Webhooks page in Chromium: reached from the Admin Settings navigation on a 375 px phone, an endpoint added
(its secret shown once), a test event delivered to a receiver on 127.0.0.1 and verified with `standardwebhooks`,
the endpoint deleted through the one dialog; without JavaScript at 1280 px, a refused URL said next to it with what
was typed kept. axe-core checks each state."""

import re

import pytest
from standardwebhooks.webhooks import Webhook

from e2e.conftest import assert_fits, log_in
from helpers import WebhookReceiver

expect = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need the playwright package").expect

PHONE = {"width": 375, "height": 812}


def test_an_endpoint_added_tested_and_deleted_on_a_phone(make_page, seeded, app, axe, shot, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", True)
    page = make_page(viewport=PHONE)
    log_in(page, seeded.admin_email)
    page.get_by_role("navigation", name="Admin Settings").get_by_role("link", name="Webhooks").click()
    page.wait_for_url(re.compile(r"/settings/webhooks$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
    expect(page.get_by_text("No endpoints yet")).to_be_visible()
    axe(page)
    assert_fits(page)
    shot(page, "empty")

    with WebhookReceiver() as receiver:
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_label("Description (optional)").fill("Slack relay for key events")
        page.get_by_role("button", name="Add endpoint").click()
        secret_box = page.get_by_role("textbox", name="Signing secret")
        expect(secret_box).to_be_visible()
        secret = secret_box.input_value()
        assert secret.startswith("whsec_")
        axe(page)
        assert_fits(page)
        shot(page, "secret")

        page.get_by_role("button", name=f"Send test event for {receiver.url}").click()
        expect(page.get_by_role("status").filter(has_text="Test event delivered")).to_be_visible()
        [(_, headers, body)] = receiver.requests
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"
    deliveries = page.locator(".webhook tbody tr")
    expect(deliveries).to_have_count(1)
    expect(deliveries.first).to_contain_text("webhook.test")
    expect(deliveries.first).to_contain_text("200")
    assert secret not in page.content()
    axe(page)
    assert_fits(page)
    shot(page, "delivered")

    page.get_by_role("button", name=f"Delete {receiver.url}").click()  # a link that app.js makes a button
    dialog = page.get_by_role("dialog", name="Delete webhook endpoint")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(receiver.url)
    axe(page)
    shot(page, "confirm-delete", full_page=False)
    dialog.get_by_role("button", name="Delete endpoint").click()
    expect(page.get_by_role("status").filter(has_text="was deleted")).to_be_visible()
    expect(page.get_by_text("No endpoints yet")).to_be_visible()


def test_without_javascript_a_refused_url_keeps_what_was_typed_then_one_is_added(make_page, seeded, axe, shot):
    page = make_page(java_script_enabled=False)
    log_in(page, seeded.admin_email)
    page.goto("/settings/webhooks")
    page.get_by_label("Endpoint URL").fill("https://169.254.169.254/latest/meta-data")
    page.get_by_label("Description (optional)").fill("Cloud metadata, by mistake")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#url-error")).to_contain_text("169.254.169.254 is not a public address")
    expect(page.get_by_label("Endpoint URL")).to_have_value("https://169.254.169.254/latest/meta-data")
    expect(page.get_by_label("Description (optional)")).to_have_value("Cloud metadata, by mistake")
    axe(page)
    assert_fits(page)
    shot(page, "refused")

    page.get_by_label("Endpoint URL").fill("https://hooks.example.com/floqast")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_value(re.compile(r"^whsec_"))
    axe(page)
    shot(page, "secret")
    page.get_by_role("button", name="Disable for https://hooks.example.com/floqast").click()
    expect(page.get_by_role("status").filter(has_text="was disabled")).to_be_visible()
    expect(page.locator(".webhook .badge")).to_have_text("Disabled")
    expect(page.get_by_role("textbox", name="Signing secret")).to_have_count(0)
    axe(page)
    assert_fits(page)
    shot(page, "disabled")

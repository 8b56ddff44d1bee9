"""The reveal panel: the whole key in a field that wraps, and a ready-to-run Test this key command with its own Copy
button, shown in the answer that made the key and never again."""

import shlex
from urllib.parse import urlsplit

import pytest

from helpers import HTMX, csrf_token, parse_html, revealed_key, text_of


def create(client, htmx: bool):
    data = {"name": "Looker", "expiration": "30", "services": ["checklists"],
            "csrf_token": csrf_token(client, "/settings/api-keys")}
    return client.post("/settings/api-keys", data=data, headers=HTMX if htmx else {})


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_the_test_command_runs_as_printed_against_this_site(admin_client, htmx):
    created = create(admin_client, htmx)
    plaintext = revealed_key(created.get_data(as_text=True))
    command = shlex.split(text_of(parse_html(created).find("pre", id="test-key-command")))

    assert command[:3] == ["curl", "-H", f"x-api-key: {plaintext}"]
    url = urlsplit(command[3])
    assert (url.scheme, url.netloc, url.path) == ("http", "localhost", "/api/v1/me")
    name, value = command[2].split(": ")
    answer = admin_client.application.test_client().get(url.path, headers={name: value})
    assert answer.status_code == 200
    assert answer.get_json()["data"]["name"] == "Looker"


def test_the_key_and_the_command_each_have_their_own_copy_button(admin_client):
    reveal = parse_html(create(admin_client, htmx=True)).find("section", class_="reveal")
    field = reveal.find("textarea", id="new-key-value")
    assert field.has_attr("readonly") and field.get("aria-label") == "New API key"
    buttons = {button.get("data-copy"): text_of(button) for button in reveal.find_all("button")}
    assert buttons == {"#new-key-value": "Copy", "#test-key-command": "Copy command"}
    assert text_of(reveal.find("h3")) == "Test this key"
    # Each says how its copy went in its own box.
    assert len(reveal.find_all(attrs={"data-copy-feedback": True})) == 2


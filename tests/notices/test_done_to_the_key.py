"""Notices of what was done to a key: its creator is emailed when another admin deletes or rolls it, and its admins
when it rolls itself; never with a key in the message."""

import re
from datetime import timedelta

import pytest

from floqast.accounts.models import Role
from floqast.extensions import db
from floqast.keys.actions import deactivate_key, roll_key
from helpers import CLIENT_IP, csrf_token, log_in

KEY_PATTERN = re.compile(r"fq_[0-9A-Za-z]{38}")


def notify(runner):
    result = runner.invoke(args=["keys", "notify"])
    assert result.exit_code == 0, result.output
    return result


def received(server) -> list[tuple[list[str], str, str]]:
    """(recipients, subject, plain text with runs of whitespace made one space) of each message."""
    return [(recipients, message["Subject"], " ".join(message.get_body(("plain",)).get_content().split()))
            for recipients, message in server.received]


@pytest.fixture
def other_admin(team, make_user):
    return make_user(team, Role.SYSADMIN, email="sam@acme.test", name="Sam Sysadmin")


def test_the_creator_is_emailed_when_another_admin_deletes_the_key(app, runner, mail_server, admin, other_admin,
                                                                   make_key):
    key, plaintext = make_key(admin, name="Power BI connector")
    client = app.test_client()
    log_in(client, other_admin)
    response = client.delete(f"/settings/api-keys/{key.id}",
                             headers={"HX-Request": "true", "X-CSRFToken": csrf_token(client, "/settings/api-keys")})
    assert response.status_code == 200

    notify(runner)

    [(recipients, subject, text)] = received(mail_server)
    assert recipients == ["admin@acme.test"]
    assert subject == 'API key "Power BI connector" was deleted'
    assert "which you created, was deleted by Sam Sysadmin on" in text
    assert plaintext not in text and not KEY_PATTERN.search(text)


def test_the_creator_is_not_emailed_about_their_own_delete(runner, mail_server, admin, other_admin, make_key):
    key, _ = make_key(admin, name="Mine")
    deactivate_key(key, admin)
    db.session.commit()

    assert notify(runner).output == "Sent 0 notices.\n"


def test_the_creator_is_emailed_when_another_admin_rolls_the_key(runner, mail_server, admin, other_admin, make_key):
    key, plaintext = make_key(admin, name="Warehouse load")
    replacement, new_plaintext = roll_key(key, other_admin, timedelta(hours=1), None)
    db.session.commit()

    notify(runner)

    [(recipients, subject, text)] = received(mail_server)
    assert recipients == ["admin@acme.test"]
    assert subject == 'API key "Warehouse load" was rolled'
    assert "was rolled by Sam Sysadmin on" in text and f"its replacement is {replacement.hint}…" in text
    assert plaintext not in text and new_plaintext not in text and not KEY_PATTERN.search(text)


def test_a_key_that_rolls_itself_emails_its_admins_without_the_new_key(client, runner, mail_server, admin,
                                                                       other_admin, make_key):
    _, plaintext = make_key(admin, name="Script", self_roll_allowed=True)
    answer = client.post("/api/v1/me/roll", headers={"x-api-key": plaintext, "Idempotency-Key": "one"},
                         environ_base={"REMOTE_ADDR": CLIENT_IP})
    new_plaintext = answer.get_json()["data"]["apiKey"]

    notify(runner)

    messages = received(mail_server)
    assert sorted(recipients[0] for recipients, _, _ in messages) == ["admin@acme.test", "sam@acme.test"]
    for _, subject, text in messages:
        assert subject == 'API key "Script" was rolled'
        assert "by itself, from a script that holds it" in text and "first used" in text
        assert plaintext not in text and new_plaintext not in text and not KEY_PATTERN.search(text)

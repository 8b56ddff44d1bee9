"""The plaintext key is in the response that created it and nowhere else: pages, database, logs."""

import logging

import pytest
from sqlalchemy import select

from floqast.extensions import db
from floqast.keys import tokens
from floqast.keys.models import ApiKey
from helpers import HTMX, KEY_PATTERN, csrf_token, revealed_key


def create(client, name, htmx):
    data = {"name": name, "expiration": "30", "services": ["reconciliations"],
            "csrf_token": csrf_token(client, "/settings/api-keys")}
    return client.post("/settings/api-keys", data=data, headers=HTMX if htmx else {})


def everywhere_else(client, key_id):
    """Every page and fragment an admin can reach after the create response."""
    token = csrf_token(client, "/settings/api-keys")
    requests = [("GET", f"/settings/api-keys?status={status}", headers)
                for status in ("active", "expired", "deactivated", "all", "bogus")
                for headers in ({}, HTMX, {**HTMX, "HX-History-Restore-Request": "true"})]
    requests += [
        ("GET", "/settings/api-keys", {}),
        ("GET", "/settings/api-keys/new", {}),
        ("GET", f"/settings/api-keys/{key_id}/delete", {}),
        ("GET", "/", {}),
        ("GET", "/login", {}),
        ("GET", "/settings/api-keys/999999/delete", {}),
    ]
    for method, url, headers in requests:
        yield f"{method} {url} {headers}", client.open(url, method=method, headers=headers)
    yield "failed create", client.post(
        "/settings/api-keys", data={"name": "", "csrf_token": token}, headers=HTMX
    )
    yield "delete", client.delete(f"/settings/api-keys/{key_id}", headers={**HTMX, "X-CSRFToken": token})
    yield "delete again", client.post(
        f"/settings/api-keys/{key_id}/delete", data={"csrf_token": token}, follow_redirects=True
    )
    yield "list after delete", client.get("/settings/api-keys?status=deactivated")


def database_as_text() -> str:
    """Every row of every table, as text."""
    lines = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "form"])
def test_plaintext_is_shown_once_and_stored_nowhere(app, admin_client, caplog, htmx):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # every statement and its parameters

    created = create(admin_client, "Secret keeper", htmx)

    assert created.status_code == 201
    body = created.get_data(as_text=True)
    plaintext = revealed_key(body)  # in the key field and the test command of this answer only
    secret_part = plaintext[len(tokens.PREFIX):]
    key = db.session.scalars(select(ApiKey)).one()

    for what, response in everywhere_else(admin_client, key.id):
        later = response.get_data(as_text=True)
        assert secret_part not in later, what
        assert KEY_PATTERN.search(later) is None, what
        assert secret_part not in str(response.headers), what
    # A second key's reveal does not carry the first one either.
    second = create(admin_client, "Second", htmx).get_data(as_text=True)
    assert secret_part not in second

    stored = database_as_text()
    assert "Secret keeper" in stored  # the scan does see the api_keys rows
    assert secret_part not in stored
    assert plaintext[: len(tokens.PREFIX) + tokens.HINT_LENGTH + 1] not in stored  # no more than the hint
    assert key.hint == plaintext[: len(tokens.PREFIX) + tokens.HINT_LENGTH]
    assert key.digest == tokens.digest(plaintext, app.config["API_KEY_PEPPER"].encode())

    assert key.digest in caplog.text  # the capture does see the INSERT's parameters
    logged = caplog.text + "\n".join(str(record.args) for record in caplog.records)
    assert secret_part not in logged

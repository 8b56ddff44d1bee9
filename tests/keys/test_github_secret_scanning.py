"""GitHub's secret scanning partner endpoint: a report is believed only with GitHub's ECDSA signature over its raw
body; each working key of ours in it is revoked, and every token is labelled ours or not. And the command that
downloads GitHub's public keys."""

import base64
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from floqast.accounts.models import Role
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import tokens as keys
from floqast.keys.models import KeyStatus
from floqast.notices.outbox import KeyNotice, NoticeKind
from helpers import (
    ME,
    assert_api_error,
    issue_key,
    log_in,
    mistyped,
    parse_html,
    reload,
    revocations,
    statements_sent,
    text_of,
    validate,
)

GITHUB = "/api/v1/secret-scanning/github"
GITHUB_IP = "192.30.252.10"
LEAK_URL = "https://github.com/octocat/Hello-World/blob/1234567/config/settings.py"
TOKEN_TYPE = "floqast_api_key"


class Signer:
    """An ECDSA P-256 key pair standing in for one of GitHub's secret scanning keys."""

    def __init__(self, identifier: str):
        self.identifier = identifier
        self.private_key = ec.generate_private_key(ec.SECP256R1())

    def public_entry(self, is_current=True) -> dict:
        """The key as GitHub's /meta/public_keys/secret_scanning lists it."""
        pem = self.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        return {"key_identifier": self.identifier, "key": pem.decode(), "is_current": is_current}

    def signature(self, body: bytes) -> str:
        return base64.b64encode(self.private_key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()

    def headers(self, body: bytes) -> dict:
        return {"Github-Public-Key-Identifier": self.identifier, "Github-Public-Key-Signature": self.signature(body)}


def public_keys_document(*entries) -> bytes:
    return json.dumps({"public_keys": list(entries)}).encode()


@pytest.fixture
def github(app, tmp_path):
    """GitHub's current and previous signing keys, in the public keys file the app reads."""
    current, previous = Signer("github-current"), Signer("github-previous")
    path = tmp_path / "github-keys.json"
    path.write_bytes(public_keys_document(current.public_entry(), previous.public_entry(is_current=False)))
    app.config["GITHUB_SECRET_SCANNING_KEYS"] = str(path)
    return SimpleNamespace(current=current, previous=previous, path=path)


def matches(*tokens, url=LEAK_URL) -> bytes:
    """A report body as GitHub sends it: compact JSON, one match per token."""
    return json.dumps([{"token": token, "type": TOKEN_TYPE, "url": url, "source": "content"} for token in tokens],
                      separators=(",", ":")).encode()


def post(client, body: bytes, headers: dict):
    return client.post(GITHUB, data=body, content_type="application/json", headers=headers,
                       environ_base={"REMOTE_ADDR": GITHUB_IP})


def labels(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [entry["label"] for entry in response.get_json()]


# ---------------------------------------------------------------- a report GitHub signed


def test_a_signed_report_revokes_our_working_keys_and_labels_every_token(client, api_get, team, admin, make_key,
                                                                        github):
    working, working_plaintext = make_key(admin, name="Working")
    deleted, deleted_plaintext = make_key(admin, name="Deleted", deleted_at=utcnow(), deleted_by_id=admin.id)
    _, other_pepper = issue_key(admin, name="Other pepper", pepper=b"another pepper")
    db.session.commit()
    tokens = [working_plaintext, deleted_plaintext, keys.generate(), mistyped(working_plaintext), other_pepper]
    body = matches(*tokens)

    response = post(client, body, github.current.headers(body))

    assert response.get_json() == [
        {"token_raw": token, "token_type": TOKEN_TYPE, "label": label}
        for token, label in zip(tokens, ["true_positive", "true_positive", "false_positive", "false_positive",
                                         "false_positive"], strict=True)
    ]
    reason = f"found by GitHub secret scanning at {LEAK_URL}"
    assert reload(working).deactivated_reason == reason
    assert_api_error(api_get(ME, working_plaintext), 401,
                     f"This API key was revoked on {team.today().isoformat()} because it was {reason}.")
    assert reload(deleted).deactivated_reason is None  # already deactivated by its admin: left as it was
    [event] = revocations()
    assert (event.api_key_id, event.ip, event.detail) == (working.id, GITHUB_IP, reason)


def test_a_key_of_another_team_found_by_github_is_revoked(client, make_team, make_user, make_key, github):
    key, plaintext = make_key(make_user(make_team(name="Globex")))
    body = matches(plaintext, url="")
    assert labels(post(client, body, github.current.headers(body))) == ["true_positive"]
    assert reload(key).deactivated_reason == "found by GitHub secret scanning"


def test_a_report_signed_with_githubs_previous_key_is_still_believed(client, admin, make_key, github):
    key, plaintext = make_key(admin)
    body = matches(plaintext)
    assert labels(post(client, body, github.previous.headers(body))) == ["true_positive"]
    assert reload(key).deleted_at is not None


def test_the_same_signed_report_sent_again_changes_nothing_more(client, admin, make_key, github):
    key, plaintext = make_key(admin)
    body = matches(plaintext)
    headers = github.current.headers(body)
    assert labels(post(client, body, headers)) == ["true_positive"]
    deleted_at = reload(key).deleted_at
    assert labels(post(client, body, headers)) == ["true_positive"]
    assert reload(key).deleted_at == deleted_at and len(revocations()) == 1


def test_a_mistyped_token_is_a_false_positive_without_a_lookup(client, admin, make_key, github):
    _, plaintext = make_key(admin)
    body = matches(mistyped(plaintext), "not-a-key")
    with statements_sent() as statements:
        assert labels(post(client, body, github.current.headers(body))) == ["false_positive", "false_positive"]
    assert statements == []


def long_url(length: int = 2000) -> str:
    """A blob URL of GitHub's `length` characters long, as a file deep in a repository has."""
    start = "https://github.com/octocat/Hello-World/blob/7fd1a60b01f91b314f59955a4e4d4e80d8edf11d/"
    path = "/".join(f"directory-{number:04d}" for number in range(length))
    return (start + path)[:length - len("/settings.py")] + "/settings.py"


def test_a_report_with_a_2000_character_url_revokes_every_key_in_it_and_keeps_the_url_whole(
        client, api_get, runner, mail_server, team, admin, make_user, make_key, github):
    """On PostgreSQL the reason went into a VARCHAR(200) of each notice: the INSERT failed, the whole report rolled
    back with a 500, and every key in it stayed active (GitHub's retries failed the same way)."""
    make_user(team, Role.SYSADMIN, email="sam@acme.test")
    first, first_plaintext = make_key(admin, name="Nightly load")
    second, second_plaintext = make_key(admin, name="Power BI")
    url = long_url()
    assert len(url) == 2000
    body = matches(first_plaintext, second_plaintext, url=url)

    assert labels(post(client, body, github.current.headers(body))) == ["true_positive", "true_positive"]

    reason = f"found by GitHub secret scanning at {url}"
    for key, plaintext in ((first, first_plaintext), (second, second_plaintext)):
        assert reload(key).deactivated_reason == reason
        assert reload(key).status(team.today()) is KeyStatus.DEACTIVATED
        assert assert_api_error(api_get(ME, plaintext), 401)["detail"].endswith(f"because it was {reason}.")
    assert [event.detail for event in revocations()] == [reason, reason]
    notices = db.session.scalars(select(KeyNotice).order_by(KeyNotice.id)).all()
    assert [(notice.kind, notice.reason) for notice in notices] == [(NoticeKind.REVOKED, reason)] * 4

    # The admins' mail, the key list, the key's page and Activity give the URL whole (a link on the pages).
    assert runner.invoke(args=["keys", "notify"]).output == "Sent 4 notices.\n"
    for message in mail_server.messages:
        plain = message.get_body(("plain",)).get_content()
        assert url in "".join(plain.split())
    log_in(client, admin)
    for page in ("/settings/api-keys?status=all", f"/settings/api-keys/{first.id}", "/settings/api-keys/activity"):
        links = [link for link in parse_html(client.get(page)).find_all("a") if link.get("href") == url]
        assert links, page
        assert len(text_of(links[0])) <= 161  # shown shortened, whole in the link


def test_a_reports_url_holding_nul_still_revokes_the_key(client, admin, make_key, github):
    """PostgreSQL text cannot hold NUL: it is stored as U+FFFD, and the key is revoked all the same."""
    key, plaintext = make_key(admin)
    body = matches(plaintext, url=f"{LEAK_URL}\x00#L1")
    assert labels(post(client, body, github.current.headers(body))) == ["true_positive"]
    assert reload(key).deactivated_reason == f"found by GitHub secret scanning at {LEAK_URL}\ufffd#L1"


# ---------------------------------------------------------------- reports GitHub did not sign


def unsigned_headers(github, body: bytes) -> dict:
    """Every way a report can fail to carry GitHub's signature over this body, by name."""
    attacker = Signer("github-current")  # GitHub's identifier, someone else's key
    other_body = matches(keys.generate())
    return {
        "no headers": {},
        "no signature": {"Github-Public-Key-Identifier": "github-current"},
        "no identifier": {"Github-Public-Key-Signature": github.current.signature(body)},
        "signed by another key under GitHub's identifier": attacker.headers(body),
        "GitHub's signature of another body": github.current.headers(other_body),
        "signed by the other GitHub key than named": {
            "Github-Public-Key-Identifier": "github-current",
            "Github-Public-Key-Signature": github.previous.signature(body)},
        "unknown identifier": {"Github-Public-Key-Identifier": "github-retired",
                               "Github-Public-Key-Signature": github.current.signature(body)},
        "not base64": {"Github-Public-Key-Identifier": "github-current", "Github-Public-Key-Signature": "%%%"},
        "base64 of no signature": {"Github-Public-Key-Identifier": "github-current",
                                   "Github-Public-Key-Signature": base64.b64encode(b"junk").decode()},
        "not ASCII": {"Github-Public-Key-Identifier": "github-current",
                      "Github-Public-Key-Signature": "é€".encode().decode("latin-1")},
    }


def test_a_report_without_githubs_signature_over_its_body_is_a_401_that_revokes_nothing(client, admin, make_key,
                                                                                          github):
    key, plaintext = make_key(admin)
    body = matches(plaintext)
    for name, headers in unsigned_headers(github, body).items():
        with statements_sent() as statements:
            response = post(client, body, headers)
        assert_api_error(response, 401, "The body is not signed by one of GitHub's secret scanning public keys.")
        assert statements == [], name  # refused before the body is read: no lookup of its tokens
    assert reload(key).deleted_at is None


def test_the_signature_is_checked_before_the_body_is_read(client, github):
    malformed = b'{"token": "not the array GitHub sends"}'
    assert_api_error(post(client, malformed, {}), 401)
    assert "JSON array" in assert_api_error(post(client, malformed, github.current.headers(malformed)), 400)["detail"]


@pytest.mark.parametrize("body", [b"not json", b"[" * 30000, b"{}", b'[{"token": 1, "type": "t"}]',
                                  b'[{"type": "t"}]', b'[{"token": "t", "type": "t", "extra": "x"}]'])
def test_a_signed_body_that_is_not_githubs_array_is_a_400(client, github, body):
    assert_api_error(post(client, body, github.current.headers(body)), 400)


def test_a_body_past_the_cap_is_a_413(app, client, admin, make_key, github):
    key, plaintext = make_key(admin)
    body = matches(plaintext, *(keys.generate() for _ in range(app.config["MAX_CONTENT_LENGTH"] // 100)))
    assert "larger than" in assert_api_error(post(client, body, github.current.headers(body)), 413)["detail"]
    assert reload(key).deleted_at is None


def test_without_the_public_keys_file_every_report_is_refused_and_the_cause_logged(client, github, caplog):
    github.path.unlink()
    body = matches(keys.generate())
    with caplog.at_level(logging.ERROR):
        assert_api_error(post(client, body, github.current.headers(body)), 401)
    assert str(github.path) in caplog.text


def test_a_replaced_public_keys_file_is_read_again(client, github):
    rotated = Signer("github-next")
    body = matches(keys.generate())
    assert_api_error(post(client, body, rotated.headers(body)), 401)
    github.path.write_bytes(public_keys_document(rotated.public_entry()))
    os.utime(github.path, ns=(0, 10**18))  # a new modification time, however fast the file was rewritten
    assert labels(post(client, body, rotated.headers(body))) == ["false_positive"]
    assert_api_error(post(client, body, github.current.headers(body)), 401)


def test_the_openapi_document_describes_the_endpoint_as_it_is_answered(client, admin, make_key, github):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/secret-scanning/github"]["post"]
    assert operation["security"] == []
    assert {parameter["name"] for parameter in operation["parameters"]} == {
        "Github-Public-Key-Identifier", "Github-Public-Key-Signature"}
    body = matches(make_key(admin)[1], keys.generate())
    validate(document, "/secret-scanning/github", "200", post(client, body, github.current.headers(body)).get_json(),
             method="post")
    validate(document, "/secret-scanning/github", "401", post(client, body, {}).get_json(), method="post")


# ---------------------------------------------------------------- flask keys github-public-keys


@pytest.fixture
def key_server():
    """A local HTTP server standing in for api.github.com: it answers GET with `.status` and `.body`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(server.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(server.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.status, server.body = 200, b""
    server.url = f"http://127.0.0.1:{server.server_address[1]}/meta/public_keys/secret_scanning"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_command_downloads_githubs_public_keys_and_reports_are_checked_against_them(app, client, runner,
                                                                                        tmp_path, key_server):
    signer = Signer("github-downloaded")
    key_server.body = public_keys_document(signer.public_entry())
    path = tmp_path / "keys" / "github.json"
    app.config.update(GITHUB_SECRET_SCANNING_KEYS=str(path), GITHUB_SECRET_SCANNING_KEYS_URL=key_server.url)

    result = runner.invoke(args=["keys", "github-public-keys"])

    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 1 public key of GitHub's secret scanning to {path}.\n"
    assert path.read_bytes() == key_server.body
    body = matches(keys.generate())
    assert labels(post(client, body, signer.headers(body))) == ["false_positive"]


@pytest.mark.parametrize(("status", "body"), [(200, b"<html>rate limited</html>"), (200, b'{"public_keys": []}'),
                                              (403, b'{"message": "API rate limit exceeded"}')])
def test_a_failed_download_exits_non_zero_and_keeps_the_file(app, runner, github, key_server, status, body):
    kept = github.path.read_bytes()
    key_server.status, key_server.body = status, body
    app.config["GITHUB_SECRET_SCANNING_KEYS_URL"] = key_server.url

    result = runner.invoke(args=["keys", "github-public-keys"])

    assert result.exit_code != 0
    assert "Could not download GitHub's public keys" in result.output and "left as it was" in result.output
    assert github.path.read_bytes() == kept
    assert [path.name for path in github.path.parent.iterdir()] == [github.path.name]  # no temporary file left

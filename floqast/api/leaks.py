"""Leaked keys, reported without a key: anyone may send keys to revoke (POST /credentials/revoke), and GitHub's
secret scanning sends the keys it finds in public code (POST /secret-scanning/github), signed by GitHub.

Each working key of ours reported is revoked at once. A report of a key that is not ours, or no longer works, is
answered the same as one that revoked a key: the answer tells nobody which keys exist. (Revoking takes a write the
others do not; that tells the sender only that a key it held, and which no longer works, was ours.)
"""

import json

from flask import request

from floqast.api import bp
from floqast.extensions import db
from floqast.keys import secret_scanning
from floqast.keys.leaks import revoke_reported
from floqast.ratelimit.limits import count_api_refusal, count_revocation_report, read_body
from floqast.web.json_errors import ApiError

MAX_CREDENTIALS = 100
REPORTED = "reported as leaked"
FOUND_BY_GITHUB = "found by GitHub secret scanning"
REVOKE_BODY = f'Send {{"credentials": ["fq_..."]}}: 1 to {MAX_CREDENTIALS} keys, each a string.'
GITHUB_KEY_IDENTIFIER = "Github-Public-Key-Identifier"
GITHUB_SIGNATURE = "Github-Public-Key-Signature"
GITHUB_BODY = 'GitHub sends a JSON array of {"token", "type", "url", "source"}, each a string.'
NOT_SIGNED = "The body is not signed by one of GitHub's secret scanning public keys."


def bad_body(detail: str) -> ApiError:
    return ApiError(400, "Bad Request", detail)


def json_body(raw: bytes, expected: str):
    """The JSON value of a raw body, or a 400 saying what is expected."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past what the parser follows
        raise bad_body(f"The body is not JSON. {expected}") from None


def reported_credentials(body) -> list[str]:
    """The list of a revocation report's body, or a 400 naming what is wrong with it."""
    if not isinstance(body, dict) or set(body) != {"credentials"}:
        raise bad_body(f'The body must be a JSON object with "credentials" alone. {REVOKE_BODY}')
    credentials = body["credentials"]
    if not isinstance(credentials, list) or not all(isinstance(text, str) for text in credentials):
        raise bad_body(f"credentials: must be a list of strings. {REVOKE_BODY}")
    if not 1 <= len(credentials) <= MAX_CREDENTIALS:
        raise bad_body(f"credentials: send 1 to {MAX_CREDENTIALS} keys at a time; this list has {len(credentials)}.")
    return credentials


@bp.post("/credentials/revoke")
def revoke_credentials():
    """Revoke each working key of ours in the list, whoever sends it; the same answer whatever the keys were."""
    count_revocation_report()
    credentials = reported_credentials(json_body(read_body(), REVOKE_BODY))
    revoke_reported([(plaintext, REPORTED) for plaintext in dict.fromkeys(credentials)], request.remote_addr)
    db.session.commit()
    return {"data": {"received": len(credentials)}}, 202


def github_matches(body) -> list[dict]:
    """The matches of GitHub's report, or a 400."""
    fields = {"token", "type", "url", "source"}
    if not isinstance(body, list) or not all(
        isinstance(match, dict) and {"token", "type"} <= set(match) <= fields
        and all(isinstance(value, str) for value in match.values())
        for match in body
    ):
        raise bad_body(GITHUB_BODY)
    return body


def found_by_github(match: dict) -> str:
    """Why a key GitHub found is revoked: where GitHub found it, when it says."""
    url = match.get("url", "").strip()
    return f"{FOUND_BY_GITHUB} at {url}" if url else FOUND_BY_GITHUB


@bp.post("/secret-scanning/github")
def github_secret_scanning():
    """GitHub's report of keys found in public code: its signature is checked over the raw body before the body
    is read; each working key of ours is revoked; the answer labels each token ours or not, as GitHub asks."""
    raw = read_body()
    identifier = request.headers.get(GITHUB_KEY_IDENTIFIER, "")
    signature = request.headers.get(GITHUB_SIGNATURE, "")
    if not secret_scanning.signed_by_github(raw, identifier, signature):
        count_api_refusal()  # past the client's limit: a 429 instead
        raise ApiError(401, "Unauthorized", NOT_SIGNED)
    matches = github_matches(json_body(raw, GITHUB_BODY))
    ours = revoke_reported([(match["token"], found_by_github(match)) for match in matches], request.remote_addr)
    db.session.commit()
    return [{"token_raw": match["token"], "token_type": match["type"],
             "label": "true_positive" if of_ours else "false_positive"}
            for match, of_ours in zip(matches, ours, strict=True)]

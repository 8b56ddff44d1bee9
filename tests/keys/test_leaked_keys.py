"""Leaked keys: anyone may report keys to POST /api/v1/credentials/revoke, and each working key of ours in the report
is revoked at once, whoever's it is; the answer is the same whatever was sent."""

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floqast.accounts.models import Role
from floqast.api.leaks import MAX_CREDENTIALS
from floqast.audit.events import AuditEvent, AuditKind
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import tokens
from floqast.keys.models import KeyStatus
from floqast.notices.outbox import KeyNotice, NoticeKind
from helpers import (
    HTMX,
    ME,
    assert_api_error,
    freeze,
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

REVOKE = "/api/v1/credentials/revoke"
REPORTER_IP = "198.51.100.23"


def report(client, body, ip=REPORTER_IP, **kwargs):
    """POST a report as curl would: a list of credentials, or a raw body as it is."""
    data = body if isinstance(body, bytes) else json.dumps({"credentials": body})
    return client.post(REVOKE, data=data, content_type="application/json", environ_base={"REMOTE_ADDR": ip},
                       **kwargs)


def assert_received(response, count: int) -> None:
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json() == {"data": {"received": count}}
    assert response.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- a working key reported


def test_a_reported_key_is_revoked_at_once_and_its_pulls_say_why_in_the_teams_zone(client, api_get, monkeypatch,
                                                                                    make_team, make_user, make_key):
    team = make_team(name="Kiwi Books", timezone="Pacific/Auckland")
    key, plaintext = make_key(make_user(team), name="Nightly load")
    assert api_get(ME, plaintext).status_code == 200
    # 20:00 UTC on March 3 is already March 4 in Auckland (UTC+13).
    freeze(monkeypatch, datetime(2030, 3, 3, 20, 0, tzinfo=timezone.utc))

    assert_received(report(client, [plaintext]), 1)

    revoked = reload(key)
    assert revoked.status(team.today()) is KeyStatus.DEACTIVATED
    assert revoked.deactivated_reason == "reported as leaked" and revoked.deleted_by_id is None
    assert_api_error(api_get(ME, plaintext), 401,
                     "This API key was revoked on 2030-03-04 because it was reported as leaked.")


def test_the_teams_admins_get_a_notice_for_the_next_keys_notify_to_mail(client, team, admin, make_user, make_key):
    """The report only records the notices (no mail server in a request); `keys notify` sends them."""
    sysadmin, manager = make_user(team, Role.SYSADMIN), make_user(team, Role.MANAGER)
    key, plaintext = make_key(admin, name="Nightly load")
    assert_received(report(client, [plaintext]), 1)

    notices = KeyNotice.for_key(key)
    assert {(notice.kind, notice.user_id, notice.sent_at) for notice in notices} == {
        (NoticeKind.REVOKED, admin.id, None), (NoticeKind.REVOKED, sysadmin.id, None)}
    assert manager.id not in {notice.user_id for notice in notices}
    assert {notice.reason for notice in notices} == {"reported as leaked"}


def test_the_revocation_is_in_the_teams_trail_with_the_reporters_ip_and_never_the_key(client, team, admin, make_key):
    key, plaintext = make_key(admin, name="Nightly load")
    assert_received(report(client, [f"  {plaintext}\n"]), 1)  # pasted with the spaces around it

    [event] = revocations()
    assert (event.team_id, event.api_key_id, event.key_hint, event.key_name, event.ip, event.user_id) == (
        team.id, key.id, key.hint, "Nightly load", REPORTER_IP, None)
    assert event.detail == "reported as leaked"
    assert AuditKind.KEY_REVOKED_AS_LEAKED.label == "Key revoked as leaked"
    assert plaintext not in " ".join(str(getattr(event, column.key)) for column in AuditEvent.__table__.columns)


def test_the_key_list_shows_why_it_was_revoked_and_activity_who_reported_it(client, team, admin, make_key):
    key, plaintext = make_key(admin, name="Leaky script")
    assert_received(report(client, [plaintext]), 1)
    log_in(client, admin)

    page = parse_html(client.get("/settings/api-keys?status=deactivated"))
    status = page.find(id=f"key-{key.id}").find("td", attrs={"data-label": "Status"})
    today = team.today()
    assert text_of(status) == f"Deactivated on {today:%b} {today.day}, {today.year} Revoked: reported as leaked"
    activity = parse_html(client.get("/settings/api-keys/activity", headers=HTMX)).find(id="activity")
    [row] = activity.find("tbody").find_all("tr")
    assert "Key revoked as leaked" in text_of(row) and REPORTER_IP in text_of(row) and key.hint in text_of(row)


def test_any_finder_may_report_any_teams_key(client, api_get, admin, make_team, make_user, make_key):
    """The reporter needs no account: a key of another team (of every team) is revoked like any other."""
    ours, our_plaintext = make_key(admin)
    theirs, their_plaintext = make_key(make_user(make_team(name="Globex"), Role.ADMIN), name="Globex BI")
    assert_received(report(client, [their_plaintext]), 1)
    assert reload(theirs).deactivated_reason == "reported as leaked"
    assert "reported as leaked" in assert_api_error(api_get(ME, their_plaintext), 401)["detail"]
    assert reload(ours).deleted_at is None and api_get(ME, our_plaintext).status_code == 200


def test_a_report_through_a_proxy_that_forwards_any_text_as_the_address_still_revokes(make_app, make_team, make_user,
                                                                                        make_key):
    """The reporter's address is outside text too: behind a trusted proxy it is what X-Forwarded-For says. Too long
    for the trail's column, it failed the revocation on PostgreSQL; it is clipped where every such column is."""
    proxied = make_app(TRUSTED_PROXY_COUNT=1)
    with proxied.app_context():
        key, plaintext = make_key(make_user(make_team("Proxied Co")))
        response = proxied.test_client().post(REVOKE, json={"credentials": [plaintext]},
                                              headers={"X-Forwarded-For": "unknown, " + "x" * 300})
        assert_received(response, 1)
        assert reload(key).deleted_at is not None
        [event] = revocations()
        assert event.ip == "x" * 45


def test_a_key_of_a_team_with_open_api_off_is_revoked_too(client, make_team, make_user, make_key):
    key, plaintext = make_key(make_user(make_team(name="Closed Co", open_api=False)))
    assert_received(report(client, [plaintext]), 1)
    assert reload(key).deleted_at is not None


# ---------------------------------------------------------------- keys that do not work, or are not keys


def test_a_key_already_deleted_or_expired_stays_as_it_was(client, team, admin, make_key):
    deleted_at = utcnow() - timedelta(days=3)
    deleted, deleted_plaintext = make_key(admin, name="Deleted", deleted_at=deleted_at, deleted_by_id=admin.id)
    expired, expired_plaintext = make_key(admin, name="Lapsed", expires_on=team.today() - timedelta(days=1))

    assert_received(report(client, [deleted_plaintext, expired_plaintext]), 2)

    deleted, expired = reload(deleted), reload(expired)
    assert (deleted.deleted_at, deleted.deleted_by_id, deleted.deactivated_reason) == (deleted_at, admin.id, None)
    assert expired.deleted_at is None and expired.status(team.today()) is KeyStatus.EXPIRED
    assert revocations() == []


def test_a_mistyped_key_is_answered_the_same_without_a_lookup(client, admin, make_key):
    key, plaintext = make_key(admin)
    with statements_sent() as statements:
        assert_received(report(client, [mistyped(plaintext)]), 1)
    assert not [statement for statement in statements if "api_keys" in statement]
    assert reload(key).deleted_at is None


def test_the_answer_is_the_same_whatever_was_sent(client, team, admin, make_key):
    _, working = make_key(admin, name="Working")
    _, deleted = make_key(admin, name="Deleted", deleted_at=utcnow(), deleted_by_id=admin.id)
    _, other_pepper = issue_key(admin, name="Other pepper", pepper=b"another pepper")
    db.session.commit()
    answers = [report(client, [sent]) for sent in
               (working, working, deleted, other_pepper, tokens.generate(), mistyped(working), "not a key", "")]
    assert {(answer.status_code, answer.get_data()) for answer in answers} == {(202, b'{"data":{"received":1}}\n')}
    assert len({tuple(sorted(set(answer.headers.keys()) - {"X-RateLimit-Remaining"})) for answer in answers}) == 1


def test_one_and_a_hundred_credentials(client, admin, make_key):
    made = [make_key(admin, name=f"Key {number}") for number in range(3)]
    [(first, first_plaintext)], rest = made[:1], made[1:]
    assert_received(report(client, [first_plaintext]), 1)
    assert reload(first).deleted_at is not None

    filler = [tokens.generate() for _ in range(MAX_CREDENTIALS - 4)] + ["not a key", first_plaintext]
    hundred = [rest[0][1], *filler, rest[1][1]]
    assert len(hundred) == MAX_CREDENTIALS
    assert_received(report(client, hundred), MAX_CREDENTIALS)
    assert all(reload(key).deactivated_reason == "reported as leaked" for key, _ in rest)
    assert len(revocations()) == 3


@pytest.mark.parametrize("count", [0, MAX_CREDENTIALS + 1])
def test_none_or_more_than_a_hundred_credentials_are_refused_and_revoke_nothing(client, admin, make_key, count):
    key, plaintext = make_key(admin)
    credentials = ([plaintext] + [tokens.generate() for _ in range(count - 1)])[:count]
    error = assert_api_error(report(client, credentials), 400)
    assert error["detail"] == f"credentials: send 1 to {MAX_CREDENTIALS} keys at a time; this list has {count}."
    assert reload(key).deleted_at is None


@pytest.mark.parametrize("body", [
    b"", b"fq_not json", b"\xff\xfe{}", b"null", b"[]", b'["fq_x"]', b'{"keys": ["fq_x"]}', b'{"credentials": "fq_x"}',
    b'{"credentials": ["fq_x", 1]}', b'{"credentials": [null]}', b'{"credentials": [["fq_x"]]}',
    b'{"credentials": ["fq_x"], "note": "found it"}', b"[" * 30000, b'{"credentials": [' + b"[" * 30000,
], ids=["empty", "text", "not-utf8", "null", "array", "bare-list", "other-name", "a-string", "a-number", "null-item",
        "nested-list", "extra-field", "deeply-nested", "deeply-nested-inside"])
def test_a_malformed_body_is_a_400_in_the_apis_shape(client, admin, make_key, body):
    key, plaintext = make_key(admin)
    error = assert_api_error(report(client, body.replace(b"fq_x", plaintext.encode())), 400)
    assert "credentials" in error["detail"]
    assert reload(key).deleted_at is None


def test_no_key_and_no_csrf_token_are_needed_but_only_post_is_answered(client, admin, make_key):
    _, plaintext = make_key(admin)
    log_in(client, admin)  # a browser session's cookie changes nothing: the API reads none, and wants no CSRF token
    assert_received(report(client, [plaintext]), 1)
    assert_api_error(client.get(REVOKE), 405)


# ---------------------------------------------------------------- limits


def test_reports_are_rate_limited_per_client_ip(app, client, admin, make_key):
    app.config["REVOKE_RATE_LIMIT"] = "2 per minute"
    key, plaintext = make_key(admin)
    for _ in range(2):
        assert_received(report(client, [tokens.generate()]), 1)
    refused = report(client, [plaintext])
    assert "Too many reports of leaked keys" in assert_api_error(refused, 429)["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert reload(key).deleted_at is None
    assert_received(report(client, [plaintext], ip="192.0.2.44"), 1)  # another address is not held back
    assert reload(key).deleted_at is not None


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_past_the_cap_is_a_413_and_revokes_nothing(app, client, admin, make_key, chunked):
    key, plaintext = make_key(admin)
    body = json.dumps({"credentials": [plaintext, "x" * app.config["MAX_CONTENT_LENGTH"]]}).encode()
    if chunked:  # no Content-Length: the cap applies as the body is read
        response = client.post(REVOKE, input_stream=io.BytesIO(body), content_type="application/json",
                               headers={"Transfer-Encoding": "chunked"},
                               environ_overrides={"wsgi.input_terminated": True})
    else:
        response = report(client, body)
    assert "larger than" in assert_api_error(response, 413)["detail"]
    assert reload(key).deleted_at is None


# ---------------------------------------------------------------- any body at all


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@given(data=st.data())
def test_any_body_gets_a_202_or_a_400_and_only_keys_sent_are_revoked(client, team, admin, make_key, data):
    if not hasattr(client, "made"):  # hypothesis reuses the test's fixtures: the keys are made once
        client.made = [make_key(admin, name=f"Key {number}") for number in range(4)]
        client.sent = set()
    plaintexts = [plaintext for _, plaintext in client.made]
    item = st.one_of(st.sampled_from(plaintexts), st.sampled_from(plaintexts).map(mistyped),
                     st.sampled_from(plaintexts).map(lambda text: f" {text}\t"), st.text(max_size=50), json_values)
    credentials = st.lists(item, max_size=MAX_CREDENTIALS + 2)
    body = data.draw(st.one_of(
        st.builds(lambda listed: {"credentials": listed}, credentials),
        st.dictionaries(st.sampled_from(["credentials", "keys", ""]), credentials | json_values, max_size=2),
        json_values,
    ))
    raw = data.draw(st.one_of(st.just(json.dumps(body).encode()), st.binary(max_size=200)))

    response = report(client, raw)

    assert response.status_code in (202, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert_api_error(response, 400)
    else:
        listed = json.loads(raw)["credentials"]
        assert_received(response, len(listed))
        client.sent |= {text.strip() for text in listed}
        assert all(reload(key).deleted_at is not None for key, plaintext in client.made if plaintext in client.sent)
    revoked = {plaintext for key, plaintext in client.made if reload(key).deleted_at is not None}
    assert revoked <= client.sent


# ---------------------------------------------------------------- where it is documented


def test_the_openapi_document_describes_the_report_as_it_is_answered(app, client, admin, make_key):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/credentials/revoke"]["post"]
    assert operation["security"] == []  # no key
    _, plaintext = make_key(admin)
    app.config["REVOKE_RATE_LIMIT"] = "2 per minute"
    validate(document, "/credentials/revoke", "202", report(client, [plaintext]).get_json(), method="post")
    validate(document, "/credentials/revoke", "400", report(client, b"[]").get_json(), method="post")
    limited = report(client, ["x"])
    assert limited.status_code == 429
    validate(document, "/credentials/revoke", "429", limited.get_json(), method="post")


def test_the_api_documentation_page_says_how_to_report_a_leaked_key(client, admin):
    log_in(client, admin)
    page = parse_html(client.get("/settings/api-docs"))
    section = page.find(id="leaked-keys")
    assert text_of(section.find("pre")) == (
        'curl -X POST -H "Content-Type: application/json" \\ -d \'{"credentials": ["fq_PASTE_THE_KEY_YOU_FOUND"]}\' '
        '\\ "http://localhost/api/v1/credentials/revoke"')
    assert f"Send 1 to {MAX_CREDENTIALS} keys a request, at most 100,000 per minute requests" in text_of(section)

"""Rate limits (failed logins per IP, per account and IP, and per account; API pulls per key; refused API keys per
IP) and caps on what one request may carry."""

import io
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from floqast.accounts.models import Role, Team, User
from floqast.api.params import MAX_ENTITY_IDS, MAX_PAGE_SIZE
from floqast.audit.events import AuditEvent
from floqast.columns import utcnow
from floqast.extensions import db, limiter
from floqast.keys import tokens
from floqast.keys.models import ApiKey
from floqast.ratelimit import limits as ratelimits
from floqast.ratelimit.limits import LOGIN_LIMIT_MESSAGE, MAX_HEADER_BYTES, MAX_URL_LENGTH, InProcessStorage
from helpers import (
    ME,
    PASSWORD,
    RECONCILIATIONS,
    REDIS_URL,
    assert_api_error,
    csrf_token,
    issue_key,
    on_redis,
    parse_html,
    text_of,
)

# ---------------------------------------------------------------- login


def attempt(client, email, password="wrong password", ip="198.51.100.1"):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def assert_login_limited(response):
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    page = parse_html(response)
    assert [text_of(p) for p in page.find_all("p", class_="form-error")] == [LOGIN_LIMIT_MESSAGE]
    assert page.find("form") is not None  # the form again, not a bare error page
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["Retry-After"]) <= 60


def set_login_limits(app, per_ip=100, per_account_and_ip=100, per_account=100):
    app.config["LOGIN_FAILURES_PER_IP"] = f"{per_ip} per minute"
    app.config["LOGIN_FAILURES_PER_ACCOUNT_AND_IP"] = f"{per_account_and_ip} per minute"
    app.config["LOGIN_FAILURES_PER_ACCOUNT"] = f"{per_account} per minute"


def test_successful_logins_are_not_counted_so_an_office_behind_one_ip_logs_in(app, admin):
    set_login_limits(app, per_ip=3, per_account_and_ip=3, per_account=3)
    for _ in range(10):
        assert attempt(app.test_client(), admin.email, PASSWORD).status_code == 302


def test_failed_logins_are_limited_per_ip_across_accounts(app, client, admin):
    set_login_limits(app, per_ip=3)
    for number in range(3):
        assert attempt(client, f"someone{number}@acme.test").status_code == 422

    assert_login_limited(attempt(client, "someone-else@acme.test"))
    # An address that has been guessing waits, even with the right password.
    assert_login_limited(attempt(client, admin.email, PASSWORD))
    # Another address is not held back by this one.
    assert attempt(client, admin.email, PASSWORD, ip="198.51.100.2").status_code == 302


def test_failures_from_one_address_do_not_lock_the_account_owner_out(app, client, admin):
    set_login_limits(app, per_account_and_ip=3)
    for _ in range(3):
        assert attempt(client, admin.email, ip="203.0.113.66").status_code == 422
    # However its email is typed, the account is closed to that address, which may try other accounts.
    assert_login_limited(attempt(client, "  ADMIN@acme.test ", ip="203.0.113.66"))
    assert_login_limited(attempt(client, admin.email, PASSWORD, ip="203.0.113.66"))
    assert attempt(client, "other@acme.test", ip="203.0.113.66").status_code == 422

    # The owner, at another address, logs in.
    assert attempt(client, admin.email, PASSWORD, ip="198.51.100.7").status_code == 302


def test_the_per_account_backstop_stops_guessing_from_many_addresses(app, client, admin):
    set_login_limits(app, per_account_and_ip=2, per_account=4)
    for number in range(4):
        assert attempt(client, admin.email, ip=f"198.51.100.{10 + number}").status_code == 422

    assert_login_limited(attempt(client, "  ADMIN@acme.test ", PASSWORD, ip="198.51.100.99"))
    assert attempt(client, "other@acme.test", ip="198.51.100.99").status_code == 422


def test_a_refused_login_is_not_counted_again(app, client, admin):
    set_login_limits(app, per_ip=2, per_account_and_ip=2)
    for _ in range(2):
        assert attempt(client, admin.email).status_code == 422
    for _ in range(3):
        assert_login_limited(attempt(client, "other@acme.test"))
    # The per-account count stopped at two: another address, one failure from its own limit, is not refused.
    assert attempt(client, admin.email, ip="198.51.100.8").status_code == 422
    assert attempt(client, admin.email, PASSWORD, ip="198.51.100.9").status_code == 302


def test_login_headers_describe_the_tightest_limit(app, client, admin):
    set_login_limits(app, per_ip=3, per_account_and_ip=5, per_account=10)
    failed = attempt(client, "someone@acme.test")
    assert (failed.headers["X-RateLimit-Limit"], failed.headers["X-RateLimit-Remaining"]) == ("3", "2")
    assert "Retry-After" not in failed.headers
    assert attempt(client, "someone-else@acme.test").status_code == 422

    # A success is not counted, and reports the per-IP limit that is nearest its end, not the account's.
    response = attempt(client, admin.email, PASSWORD)
    assert response.status_code == 302
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "1"
    assert int(response.headers["X-RateLimit-Reset"]) > 0

    last = attempt(app.test_client(), "someone@acme.test")
    assert (last.status_code, last.headers["X-RateLimit-Remaining"]) == (422, "0")
    assert_login_limited(attempt(app.test_client(), admin.email, PASSWORD))


def test_a_429_at_the_end_of_its_window_says_retry_after_1_not_0(app, client, admin, monkeypatch):
    set_login_limits(app, per_account_and_ip=1)
    started = time.time()
    assert attempt(client, admin.email).status_code == 422
    # The last hundredth of a second of the window the failure opened (clock of the counts and headers).
    monkeypatch.setattr(ratelimits, "time", SimpleNamespace(time=lambda: started + 59.99))

    refused = attempt(client, admin.email, PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"


def test_a_json_login_is_refused_and_does_not_slip_past_a_locked_account(app, client, admin):
    set_login_limits(app, per_account_and_ip=2)
    for _ in range(2):
        assert attempt(client, admin.email).status_code == 422
    token = csrf_token(client, "/login")

    response = client.post("/login", json={"email": admin.email, "password": PASSWORD},
                           headers={"X-CSRFToken": token}, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert response.status_code == 415
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_login_page_itself_is_not_limited(app, client):
    set_login_limits(app, per_ip=1, per_account_and_ip=1, per_account=1)
    for _ in range(5):
        assert client.get("/login").status_code == 200


# ---------------------------------------------------------------- API pulls


@pytest.fixture
def pull(client):
    def call(plaintext, path=ME, ip="203.0.113.7", **kwargs):
        return client.get(path, headers={"x-api-key": plaintext}, environ_base={"REMOTE_ADDR": ip}, **kwargs)

    return call


def test_api_pulls_are_limited_per_key_with_headers_and_a_json_429(app, admin, make_key, pull):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    _, plaintext = make_key(admin)

    for remaining in (2, 1, 0):
        response = pull(plaintext)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert int(response.headers["X-RateLimit-Reset"]) > 0
        assert "Retry-After" not in response.headers

    refused = pull(plaintext)
    detail = assert_api_error(refused, 429)["detail"]
    assert "Too many requests with this API key" in detail
    assert "Retry-After" in detail
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert plaintext not in refused.get_data(as_text=True)


def test_one_count_per_key_across_routes_and_ips(app, admin, make_key, pull):
    app.config["API_RATE_LIMIT"] = "2 per minute"
    _, plaintext = make_key(admin)
    _, other = make_key(admin, name="Tableau")

    assert pull(plaintext, ME, ip="203.0.113.1").status_code == 200
    assert pull(plaintext, RECONCILIATIONS, ip="203.0.113.2").status_code == 200
    assert_api_error(pull(plaintext, ME, ip="203.0.113.3"), 429)
    # Another key of the same team, from the same address, has its own count.
    assert pull(other, ME, ip="203.0.113.1").status_code == 200


def test_a_limited_pull_does_not_count_as_use(app, admin, make_key, pull):
    app.config["API_RATE_LIMIT"] = "1 per minute"
    app.config["LAST_USED_INTERVAL_SECONDS"] = 0
    key, plaintext = make_key(admin)
    assert pull(plaintext, ip="203.0.113.1").status_code == 200
    assert pull(plaintext, ip="203.0.113.2").status_code == 429
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_ip == "203.0.113.1"


def test_the_count_is_keyed_on_the_key_id_never_the_plaintext(app, admin, make_key, pull):
    key, plaintext = make_key(admin)
    assert pull(plaintext).status_code == 200

    counters = list(limiter.storage.counts)  # the in-memory storage's keys
    assert any(f"/api-pulls/key:{key.id}/" in counter for counter in counters), counters
    assert not any(plaintext in counter or key.digest in counter for counter in counters)


def test_counts_in_memory_start_no_thread_per_pull(app, admin, make_key, pull):
    _, plaintext = make_key(admin)
    assert isinstance(limiter.storage, InProcessStorage)
    before = threading.active_count()
    for _ in range(5):
        assert pull(plaintext).status_code == 200
        assert threading.active_count() == before


def test_expired_counts_start_again_and_are_dropped(app, admin, make_key, pull, monkeypatch):
    app.config["API_RATE_LIMIT"] = "1 per minute"
    _, plaintext = make_key(admin)
    assert pull(plaintext).status_code == 200
    assert pull(plaintext).status_code == 429

    later = time.time() + 61
    monkeypatch.setattr(ratelimits, "time", SimpleNamespace(time=lambda: later))
    assert pull(plaintext).status_code == 200  # a new window
    _, other = make_key(admin, name="Tableau")
    later += 120
    assert pull(other).status_code == 200
    assert len(limiter.storage.counts) == 1, "the first key's expired count was dropped"


def test_a_storage_outage_lets_pulls_through(app, admin, make_key, pull, monkeypatch):
    _, plaintext = make_key(admin)

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(limiter.storage, "incr", down)
    response = pull(plaintext)
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers


def test_refused_keys_are_not_counted_against_a_working_key(app, admin, make_key, pull):
    app.config["API_RATE_LIMIT"] = "1 per minute"
    _, plaintext = make_key(admin)
    for _ in range(3):
        assert pull("fq_not-a-key").status_code == 401
    assert pull(plaintext).status_code == 200


def audit_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_refused_keys_are_limited_per_ip_and_stop_writing_audit_rows(app, admin, make_key, pull):
    app.config["API_REFUSAL_LIMIT"] = "3 per minute"
    _, plaintext = make_key(admin)
    _, dead = make_key(admin, name="Old script", deleted_at=utcnow(), deleted_by_id=admin.id)
    for presented in ("fq_not-a-key", tokens.generate(), dead):
        assert_api_error(pull(presented), 401)
    written = audit_rows()
    assert written == 3

    refused = pull(dead)
    detail = assert_api_error(refused, 429)["detail"]
    assert "Too many refused requests from this address" in detail
    assert "Check the API key" in detail
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert dead not in refused.get_data(as_text=True)
    for _ in range(5):
        assert_api_error(pull(tokens.generate()), 429)
    assert audit_rows() == written, "a flood of bad keys is not a flood of writes"

    # Working keys are never held back by refusals, from that address or any other, and other addresses
    # keep their own count.
    assert pull(plaintext).status_code == 200
    assert_api_error(pull(dead, ip="203.0.113.99"), 401)


# ---------------------------------------------------------------- caps on the request


@pytest.mark.parametrize("header", ["x-api-key", "Authorization"])
def test_an_overlong_key_header_is_400_naming_it(client, team, header):
    response = client.get(ME, headers={header: "fq_" + "a" * 300})
    detail = assert_api_error(response, 400)["detail"]
    assert header in detail
    assert "a" * 300 not in detail


@pytest.mark.parametrize("name", ["filter[month]", "filter[year]", "page[cursor]", "filter[modifiedSince]"])
def test_an_overlong_query_value_is_400_naming_it(client, admin, make_key, name):
    _, plaintext = make_key(admin)
    value = "9" * 2100
    response = client.get(RECONCILIATIONS, query_string={name: value}, headers={"x-api-key": plaintext})
    detail = assert_api_error(response, 400)["detail"]
    assert name in detail
    assert value not in detail


def test_an_overlong_parameter_name_is_400(client, admin, make_key):
    _, plaintext = make_key(admin)
    response = client.get(RECONCILIATIONS, query_string={"x" * 300: "1"}, headers={"x-api-key": plaintext})
    assert "name is longer" in assert_api_error(response, 400)["detail"]


def test_an_overlong_value_on_a_page_is_an_html_400(client):
    response = client.get("/login", query_string={"next": "/" + "a" * 300})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "next" in text_of(parse_html(response))


def test_entity_ids_are_capped(client, admin, make_key):
    _, plaintext = make_key(admin)
    ids = ",".join(str(number) for number in range(1, MAX_ENTITY_IDS + 1))
    assert client.get(RECONCILIATIONS, query_string={"filter[entityIds]": ids},
                      headers={"x-api-key": plaintext}).status_code == 200

    too_many = ids + f",{MAX_ENTITY_IDS + 1}"
    response = client.get(RECONCILIATIONS, query_string={"filter[entityIds]": too_many},
                          headers={"x-api-key": plaintext})
    assert "filter[entityIds]" in assert_api_error(response, 400)["detail"]
    assert MAX_ENTITY_IDS == 100


def test_page_size_is_capped(client, admin, make_key):
    _, plaintext = make_key(admin)
    headers = {"x-api-key": plaintext}
    assert client.get(RECONCILIATIONS, query_string={"page[size]": MAX_PAGE_SIZE}, headers=headers).status_code == 200
    response = client.get(RECONCILIATIONS, query_string={"page[size]": MAX_PAGE_SIZE + 1}, headers=headers)
    assert "page[size]" in assert_api_error(response, 400)["detail"]
    assert MAX_PAGE_SIZE == 30000


def test_too_many_header_bytes_is_431(client, admin, make_key):
    _, plaintext = make_key(admin)
    padding = {f"X-Padding-{number}": "p" * 200 for number in range(MAX_HEADER_BYTES // 200)}
    headers = {"x-api-key": plaintext, **padding}
    assert_api_error(client.get(ME, headers=headers), 431)
    page = client.get("/login", headers=headers)
    assert page.status_code == 431 and page.mimetype == "text/html"


def test_an_overlong_url_is_414(client, admin, make_key):
    _, plaintext = make_key(admin)
    query = "&".join(f"p{number}=1" for number in range(MAX_URL_LENGTH // 4))
    assert_api_error(client.get(f"{ME}?{query}", headers={"x-api-key": plaintext}), 414)


class UnreadBody(io.RawIOBase):
    """A request body of `size` bytes that fails the test if anything reads it."""

    def __init__(self, size: int):
        self.size, self.position = size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = offset if whence == io.SEEK_SET else self.size + offset
        return self.position

    def tell(self):
        return self.position

    def readinto(self, buffer):
        raise AssertionError("the body was read")


def test_a_body_over_64_kib_is_413_before_it_is_read(client, team):
    page = client.post("/login", content_type="application/x-www-form-urlencoded",
                       input_stream=UnreadBody(300 * 1024 * 1024))
    assert page.status_code == 413
    assert page.mimetype == "text/html"
    assert "64 KiB" in text_of(parse_html(page))

    api = client.post(ME, content_type="application/json", input_stream=UnreadBody(300 * 1024 * 1024))
    assert "64 KiB" in assert_api_error(api, 413)["detail"]


def test_a_form_just_under_the_cap_is_read(client, admin):
    token = csrf_token(client, "/login")
    padding = "p" * (64 * 1024 - 400)
    response = client.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token,
                                           "padding": padding})
    assert response.status_code == 302
    assert client.post("/login", data={"email": admin.email, "padding": padding + "p" * 500}).status_code == 413


# ---------------------------------------------------------------- Redis: one count for every worker


@pytest.fixture
def redis_namespace():
    """This test's own prefix for counts in Redis, whoever else uses the server; its counts deleted after."""
    import redis

    namespace = f"floqast-test-{uuid.uuid4().hex}"
    server = redis.Redis.from_url(REDIS_URL)
    yield namespace
    for name in server.scan_iter(f"*{namespace}*"):
        server.delete(name)


def redis_worker(make_app, namespace: str, rate: str):
    """An app counting in Redis under `namespace`, with a team and a key of its own: the app, the key's id and
    plaintext. (It logs no requests: on PostgreSQL its rows would land in the next test's database.)"""
    worker = make_app(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_NAMESPACE=namespace, API_RATE_LIMIT=rate,
                      REQUEST_LOG_ENABLED=False)
    with worker.app_context():
        team = Team(name="Acme", open_api_enabled=True)
        admin = User(team=team, role=Role.ADMIN, email="admin@acme.test", name="Alex", password_hash="x")
        key, plaintext = issue_key(admin)
        db.session.commit()
        return worker, key.id, plaintext


@on_redis
def test_a_pull_is_counted_in_one_redis_round_trip_with_the_windows_headers(make_app, redis_namespace, monkeypatch):
    worker, _, plaintext = redis_worker(make_app, redis_namespace, "3 per minute")
    client = worker.test_client()
    assert client.get(ME, headers={"x-api-key": plaintext}).status_code == 200  # (the script is loaded once)
    import redis

    commands = []
    send = redis.Redis.execute_command
    monkeypatch.setattr(redis.Redis, "execute_command", lambda self, *args, **options: commands.append(args[0]) or send(
        self, *args, **options))

    for remaining in (1, 0):
        started = time.time()
        response = client.get(ME, headers={"x-api-key": plaintext})
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert int(started) <= int(response.headers["X-RateLimit-Reset"]) <= started + 60
    assert commands == ["EVALSHA", "EVALSHA"]  # one command a pull, any client: its count, its window's end (and the
    # key change mark: floqast/keys/cache.py)

    refused = client.get(ME, headers={"x-api-key": plaintext})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(commands) == 3


@on_redis
def test_redis_holds_one_count_that_a_new_worker_sees(make_app, redis_namespace):
    import redis

    server = redis.Redis.from_url(REDIS_URL)
    first_worker, key_id, plaintext = redis_worker(make_app, redis_namespace, "3 per minute")
    headers = {"x-api-key": plaintext}

    client = first_worker.test_client()
    assert [client.get(ME, headers=headers).status_code for _ in range(3)] == [200, 200, 200]
    stored = [name.decode() for name in server.scan_iter(f"*{redis_namespace}*")]
    # The counts, beside the key change mark (floqast/keys/cache.py).
    counts = [name for name in stored if name != f"{redis_namespace}:key-changes"]
    assert counts and all(f"{redis_namespace}/api-pulls/key:{key_id}/" in name for name in counts)
    assert not any(plaintext in name for name in stored)

    # A worker starting now gets a new limiter storage with its own connection: the count it reads is
    # the one in Redis (an in-memory count would have started again from zero here).
    make_app(schema=False, RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_NAMESPACE=redis_namespace,
             API_RATE_LIMIT="3 per minute", REQUEST_LOG_ENABLED=False)
    response = client.get(ME, headers=headers)
    assert response.status_code == 429
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_a_key_with_its_own_rate_limit_is_counted_under_it_and_others_under_the_team_default(app, admin, make_key,
                                                                                               pull):
    app.config["API_RATE_LIMIT"] = "5 per minute"
    _, own = make_key(admin, name="Excel refresh", rate_limit_per_minute=2)
    _, default = make_key(admin, name="Warehouse load")

    for remaining in (1, 0):
        response = pull(own)
        assert response.status_code == 200
        assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == (
            "2", str(remaining))
    refused = pull(own)
    assert "at most 2 per minute" in assert_api_error(refused, 429)["detail"]
    assert refused.headers["X-RateLimit-Limit"] == "2" and 0 < int(refused.headers["Retry-After"]) <= 60

    for _ in range(5):
        assert pull(default).headers["X-RateLimit-Limit"] == "5"
    assert_api_error(pull(default), 429)


def test_a_key_may_be_given_more_than_the_team_default(app, admin, make_key, pull):
    app.config["API_RATE_LIMIT"] = "1 per minute"
    _, nightly = make_key(admin, name="Nightly load", rate_limit_per_minute=3)
    assert [pull(nightly).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_a_changed_rate_limit_applies_to_the_next_pull(app, admin, make_key, pull):
    app.config["API_RATE_LIMIT"] = "100 per minute"
    key, plaintext = make_key(admin)
    assert pull(plaintext).headers["X-RateLimit-Limit"] == "100"
    key.rate_limit_per_minute = 1
    db.session.commit()
    assert pull(plaintext).headers["X-RateLimit-Limit"] == "1"
    assert_api_error(pull(plaintext), 429)

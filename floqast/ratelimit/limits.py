"""Rate limits and caps on what one request may carry.

Limits: failed logins per client IP, per account from one IP and per account from anywhere (a backstop); API
pulls per key (counted on the key's id, never its plaintext); refused API authentications per client IP; reports
of leaked keys per client IP. Counts live in Flask-Limiter's storage: this worker's memory by default, or Redis
with RATELIMIT_STORAGE_URI so that every worker shares one count. Login answers, pulls and reports send
X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (epoch seconds) for the tightest limit that applies;
every 429 has Retry-After (seconds, at least 1). If the storage cannot be reached, requests are let through
uncounted and the failure logged.
"""

import hashlib
import math
import os
import threading
import time
from functools import cache, lru_cache

from flask import abort, current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, WindowStats, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from redis import Redis
from werkzeug.exceptions import TooManyRequests

from floqast.extensions import limiter

# Caps on the request itself, checked before any view runs.
MAX_URL_LENGTH = 4096
MAX_HEADER_BYTES = 8192
MAX_KEY_HEADER_LENGTH = 256
MAX_PARAMETER_LENGTH = 256
# Parameters whose values are longer by design: up to MAX_ENTITY_IDS ids, and cursors that carry them.
LONG_PARAMETERS = {"filter[entityIds]": 1200, "page[cursor]": 2048}
KEY_HEADERS = ("x-api-key", "Authorization")
# The bodies a page's form may send: htmx sends FormData (multipart), a plain form urlencoded.
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class InProcessStorage(Storage):
    """Fixed-window counts in this worker's memory, through limits' public Storage interface.

    limits' own `memory://` starts a threading.Timer on nearly every hit to expire counts: a new thread for
    most pulls, which costs a pull more than counting it (commit 2eb234f measured it). Here an expired count
    is started afresh when hit, and expired counts are dropped in the request, at most once every
    CLEANUP_SECONDS.
    """

    STORAGE_SCHEME = ["inprocess"]
    CLEANUP_SECONDS = 10.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.counts: dict[str, int] = {}
        self.expirations: dict[str, float] = {}
        self.lock = threading.Lock()
        self.next_cleanup = time.time() + self.CLEANUP_SECONDS

    @property
    def base_exceptions(self) -> type[Exception]:
        return ValueError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self.lock:
            if now >= self.next_cleanup:
                self.drop_expired(now)
            if self.expirations.get(key, 0) <= now:
                self.counts[key] = 0
                self.expirations[key] = now + expiry
            self.counts[key] += amount
            return self.counts[key]

    def get(self, key: str) -> int:
        with self.lock:
            return self.counts[key] if self.expirations.get(key, 0) > time.time() else 0

    def get_expiry(self, key: str) -> float:
        return self.expirations.get(key) or time.time()

    def check(self) -> bool:
        return True

    def reset(self) -> int:
        with self.lock:
            cleared = len(self.counts)
            self.counts.clear()
            self.expirations.clear()
            return cleared

    def clear(self, key: str) -> None:
        with self.lock:
            self.counts.pop(key, None)
            self.expirations.pop(key, None)

    def drop_expired(self, now: float) -> None:
        self.next_cleanup = now + self.CLEANUP_SECONDS
        for key in [key for key, expiry in self.expirations.items() if expiry <= now]:
            del self.counts[key], self.expirations[key]


def counted_per_worker(storage_uri: str) -> bool:
    """Whether counts at `storage_uri` are each worker's own, in its memory: every limit then holds once per worker."""
    return storage_uri.split(":", 1)[0] in (*InProcessStorage.STORAGE_SCHEME, *MemoryStorage.STORAGE_SCHEME)


def namespace() -> str:
    """Prefix of every count, so that apps (or test runs) sharing one Redis keep their own counts."""
    return current_app.config["RATELIMIT_NAMESPACE"]


# ---------------------------------------------------------------- logins

LOGIN_LIMIT_MESSAGE = "Too many failed login attempts. Wait a minute, then try again."


def login_limits(email: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    """The failed-login limits a login for `email` from this client falls under, each with its count's identity.

    Per IP: one address guessing across many accounts. Per account and IP: one address guessing one password,
    without locking the account's owner out from anywhere else. Per account: many addresses guessing one
    account's password (a high backstop, since it refuses the owner too).
    """
    config = current_app.config
    ip = f"ip:{get_remote_address()}"
    # The email as User.by_email matches it, as a digest: no email in Redis.
    account = "account:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [
        (parsed_limit(config["LOGIN_FAILURES_PER_IP"]), (namespace(), "login-failures", ip)),
        (parsed_limit(config["LOGIN_FAILURES_PER_ACCOUNT_AND_IP"]), (namespace(), "login-failures", account, ip)),
        (parsed_limit(config["LOGIN_FAILURES_PER_ACCOUNT"]), (namespace(), "login-failures", account)),
    ]


def login_allowed(email: str) -> bool:
    """Whether this client may try a password for `email`: none of its failed-login limits is used up."""
    tightest = describe_login_limits(email)
    if tightest is None or tightest.remaining > 0:
        return True
    request.context.rate_limit_headers["Retry-After"] = retry_after(tightest.reset_time)
    return False


def count_login_failure(email: str) -> None:
    """Count a wrong email or password against each failed-login limit (a correct one counts nowhere)."""
    try:
        for item, identity in login_limits(email):
            limiter.limiter.hit(item, *identity)
    except Exception:  # noqa: BLE001  (a storage outage must not turn a wrong password into a 500)
        current_app.logger.warning("rate-limit storage unreachable; failed login not counted", exc_info=True)
        return
    describe_login_limits(email)


def describe_login_limits(email: str) -> WindowStats | None:
    """Put the headers of the tightest failed-login limit on the response, and return its window.

    The tightest: the fewest attempts left, then the latest reset (which a refused client waits for). None
    if the storage cannot be reached.
    """
    try:
        windows = [(item, limiter.limiter.get_window_stats(item, *identity)) for item, identity in login_limits(email)]
    except Exception:  # noqa: BLE001  (as in count)
        current_app.logger.warning("rate-limit storage unreachable; login not limited", exc_info=True)
        return None
    item, window = min(windows, key=lambda counted: (counted[1].remaining, -counted[1].reset_time))
    request.context.rate_limit_headers = rate_limit_headers(item, window.remaining, window.reset_time)
    return window


# ---------------------------------------------------------------- API pulls and refusals


@lru_cache(maxsize=1024)
def per_minute(requests: int) -> str:
    return f"{requests} per minute"


def api_rate(key) -> str:
    """The key's own limit, or the team default (API_RATE_LIMIT) for a key without one."""
    own = key.rate_limit_per_minute
    return current_app.config["API_RATE_LIMIT"] if own is None else per_minute(own)


def count_api_pull(unless_changed: tuple[str, bytes] | None = None) -> bool:
    """Count one pull against the authenticated key (one count across every API route) under its own limit or the
    team default; past it, a 429. The rate-limit headers go on the response. Whether it was counted: not when
    `unless_changed`, a Redis key and the value it should hold (floqast/keys/cache.py's change mark, checked in the
    same round trip), holds another; nor when the storage cannot be reached."""
    key = request.context.key
    rate = api_rate(key)
    return count_within(rate, lambda: (f"Too many requests with this API key (at most {rate}). "
                                       "Wait for the number of seconds in the Retry-After header, then retry."),
                        "api-pulls", f"key:{key.id}", unless_changed=unless_changed)


def count_within(rate: str, message, *identity: str, unless_changed: tuple[str, bytes] | None = None) -> bool:
    """One more hit on a count whose rate-limit headers go on the response; past `rate`, a 429 saying `message()`
    (only then: a pull does not build it). Whether it was counted (see count())."""
    counted = count(rate, *identity, unless_changed=unless_changed)
    if counted is None:
        return False
    item, hits, reset_at = counted
    request.context.rate_limit_headers = headers = rate_limit_headers(item, item.amount - hits, reset_at)
    if hits > item.amount:
        headers["Retry-After"] = retry_after(reset_at)
        raise ApiRateLimited(message())
    return True


def count_api_refusal() -> None:
    """Count a refused API authentication against the client's IP; past API_REFUSAL_LIMIT, a 429 instead
    of the refusal, so that a script retrying a dead key, or a flood of made-up ones, is slowed down and
    does not write one audit row each."""
    rate = current_app.config["API_REFUSAL_LIMIT"]
    counted = count(rate, "api-refusals", f"ip:{get_remote_address()}")
    if counted is None:
        return
    item, hits, reset_at = counted
    if hits > item.amount:
        request.context.rate_limit_headers = {"Retry-After": retry_after(reset_at)}
        raise ApiRateLimited(f"Too many refused requests from this address (at most {rate}). Check the API key, "
                             "then wait for the number of seconds in the Retry-After header before retrying.")


def count_revocation_report() -> None:
    """Count one report of leaked keys against the client's IP (no key sent); past REVOKE_RATE_LIMIT, a 429."""
    rate = current_app.config["REVOKE_RATE_LIMIT"]
    count_within(rate, lambda: (f"Too many reports of leaked keys from this address (at most {rate}). Wait for the "
                                "number of seconds in the Retry-After header, then send the rest."),
                 "revocation-reports", f"ip:{get_remote_address()}")


def count(rate: str, *identity: str, unless_changed: tuple[str, bytes] | None = None
          ) -> tuple[RateLimitItem, int, float] | None:
    """One more hit on a fixed-window count: the limit, the hits so far in this window and the window's end; None
    when not counted: Redis key `unless_changed[0]` does not hold `unless_changed[1]`, or the storage cannot be
    reached (the request is let through and the failure logged).

    On the API's hot path, so it takes limits' fixed-window count itself (hit_and_expiry): one increment and one
    read of the window's end. (FixedWindowRateLimiter.hit() and get_window_stats() would read the count a second
    time.)
    """
    item = parsed_limit(rate)
    count_key = item.key_for(namespace(), *identity)
    try:
        counted = hit_and_expiry(limiter.storage, count_key, item.get_expiry(), unless_changed)
    except Exception:  # noqa: BLE001  (a storage outage must not refuse every pull)
        current_app.logger.warning("rate-limit storage unreachable; API request not counted", exc_info=True)
        return None
    return None if counted is None else (item, *counted)


# limits' incr_expire.lua (the fixed window's count: its expiry set by its first hit), answering the window's
# remaining milliseconds too; with a KEYS[2], only while it holds ARGV[3] (unset holds nothing: not counted).
INCR_EXPIRE_PTTL = """
if #KEYS > 1 and redis.call("get", KEYS[2]) ~= ARGV[3] then
    return false
end
local current = redis.call("incrby", KEYS[1], ARGV[2])
if current == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("pttl", KEYS[1])}
"""


def hit_and_expiry(storage: Storage, key: str, expiry: int, unless_changed: tuple[str, bytes] | None = None
                   ) -> tuple[int, float] | None:
    """One more hit on a fixed-window count in `storage`: the hits so far in its window and the window's end; None,
    uncounted, when Redis key `unless_changed[0]` does not hold `unless_changed[1]`.

    On Redis in one round trip, a script (limits' incr() and get_expiry() are two, a pull's largest cost there).
    """
    if isinstance(storage, RedisStorage):
        keys, arguments = [storage.prefixed_key(key)], [expiry, 1]
        if unless_changed:
            keys.append(unless_changed[0])
            arguments.append(unless_changed[1])
        counted = incr_expire_pttl(storage)(keys, arguments)
        if counted is None:
            return None
        hits, milliseconds_left = counted
        return hits, time.time() + max(milliseconds_left, 0) / 1000
    return storage.incr(key, expiry), storage.get_expiry(key)


def incr_expire_pttl(storage: RedisStorage):
    """INCR_EXPIRE_PTTL registered on a connection to `storage`'s Redis held by this process (sent by its digest,
    loaded again if Redis lost it)."""
    return _incr_expire_pttl(storage, os.getpid())  # a forked worker holds a connection of its own


@cache
def _incr_expire_pttl(storage: RedisStorage, pid: int):
    # A client of one connection, under its own lock and with redis-py's retries: through the pool, every command
    # also checked a connection out and in, 30 µs a pull more than the round trip's own 50 (bench/README).
    client = Redis(connection_pool=storage.get_connection().connection_pool, single_connection_client=True)
    return client.register_script(INCR_EXPIRE_PTTL)


# ---------------------------------------------------------------- headers


def rate_limit_headers(item: RateLimitItem, remaining: int, reset_at: float) -> dict[str, str]:
    """X-RateLimit-Limit, -Remaining and -Reset for one limit."""
    return {
        "X-RateLimit-Limit": str(item.amount),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(int(reset_at)),
    }


def retry_after(reset_at: float) -> str:
    """Seconds until the window ends, at least 1, for the Retry-After header."""
    return str(max(1, math.ceil(reset_at - time.time())))


class ApiRateLimited(TooManyRequests):
    """A key past its API_RATE_LIMIT: answered as the API's JSON error, with the rate-limit headers."""


@lru_cache(maxsize=32)
def parsed_limit(text: str) -> RateLimitItem:
    return parse(text)


@limiter.request_filter
def counted_here() -> bool:
    """Every count is taken in this module, where it applies: Flask-Limiter's own check has nothing to do."""
    return True


def add_rate_limit_headers(response):
    for name, value in (request.context.rate_limit_headers or {}).items():
        response.headers[name] = value
    return response


# ---------------------------------------------------------------- caps on the request


def body_too_large() -> None:
    abort(413, description=f"The request body is larger than {request.max_content_length // 1024} KiB.")


def check_request_size() -> None:
    """Refuse bodies, URLs, headers and parameters larger than any real client sends: 413, 414, 431 or 400
    naming it. A body is refused on its Content-Length, before any of it is read."""
    if (request.content_length or 0) > request.max_content_length:
        body_too_large()
    if len(request.full_path) > MAX_URL_LENGTH:
        abort(414, description=f"The URL is longer than {MAX_URL_LENGTH} characters.")
    size = sum(len(name) + len(value) for name, value in request.headers.items())
    if size > MAX_HEADER_BYTES:
        abort(431, description=f"The request headers are larger than {MAX_HEADER_BYTES} bytes in all.")
    for name in KEY_HEADERS:
        if len(request.headers.get(name, "")) > MAX_KEY_HEADER_LENGTH:
            abort(400, description=f"{name}: the header is longer than {MAX_KEY_HEADER_LENGTH} characters; "
                                   "an API key is 41.")
    for name, value in request.args.items(multi=True):
        if len(name) > MAX_PARAMETER_LENGTH:
            abort(400, description=f"A query parameter name is longer than {MAX_PARAMETER_LENGTH} characters.")
        cap = LONG_PARAMETERS.get(name, MAX_PARAMETER_LENGTH)
        if len(value) > cap:
            abort(400, description=f"{name}: the value is longer than {cap} characters.")


def read_body() -> bytes:
    """The request body, whole. A chunked one has no Content-Length to refuse it by: Werkzeug stops reading it at
    MAX_CONTENT_LENGTH without a word, so one that reaches the cap is a 413 too, never read cut short."""
    body = request.get_data()
    if request.content_length is None and len(body) >= request.max_content_length:
        body_too_large()
    return body


def check_form_body() -> None:
    """A page's POST, PUT, PATCH or DELETE carries a form, or nothing (htmx's DELETE): 415 otherwise.

    Flask-WTF would read a JSON body, or a file part, as the form's fields, values that are not text.
    The key-authenticated API has its own rules.
    """
    if request.is_api or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
    if request.mimetype in FORM_TYPES:
        if request.files:
            abort(415, description="Files are not accepted here: send the form's fields only.")
    elif has_body or request.mimetype:
        abort(415, description="Send the form as application/x-www-form-urlencoded or multipart/form-data.")


def init_app(app) -> None:
    limiter.init_app(app)
    app.before_request(check_request_size)
    app.before_request(check_form_body)
    app.after_request(add_rate_limit_headers)

"""Who is calling: the key from the header, checked before any view of the blueprint runs."""

from datetime import date, timedelta
from functools import lru_cache, wraps
from typing import NoReturn

from flask import current_app, request, url_for
from sqlalchemy import update
from werkzeug.http import http_date

from floqast.accounts.models import end_of_day
from floqast.analytics.records import iso_utc
from floqast.api import bp
from floqast.audit import events
from floqast.columns import utcnow
from floqast.config import key_pepper
from floqast.extensions import db
from floqast.keys import actions, queries, tokens
from floqast.keys import lookup as key_check
from floqast.keys.models import ApiKey, KeyStatus, Service
from floqast.ratelimit.limits import count_api_pull, count_api_refusal
from floqast.usage.capture import LoggedKey
from floqast.usage.models import Refusal
from floqast.web.json_errors import ApiError

HOW_TO_SEND = "Send the key in the x-api-key header (or Authorization: Bearer <key>)."
REPLACE_EXPOSED = ("The key in the URL is now in the logs of every proxy and server on the way: replace it with a "
                   "new key and delete it.")
# Keys looked up in one refused URL, at most: enough for any real mistake, and a bound on the lookups.
MAX_KEYS_LOOKED_UP = 3


class KeyInUrl(ApiError):
    """The refusal of a URL that carries a key, which is never read from there."""

    def __init__(self):
        super().__init__(400, "Bad Request", f"API keys are not accepted in the URL. {HOW_TO_SEND}",
                         refusal=Refusal.KEY_IN_URL)


def _unauthorized(detail: str, refusal: Refusal | None = None) -> ApiError:
    return ApiError(401, "Unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="FloQast Open API"'}, refusal)


def _key_in_query_string() -> bool:
    """Whether the URL carries something that looks like a key: a key parameter, or a name or value holding a
    key anywhere or starting with our prefix (`?fq_...`, `?filter[entityIds]=1,fq_...`, `?filter[fq_...]=1`)."""
    for name, value in request.args.items(multi=True):
        if name.lower() in tokens.QUERY_KEY_PARAMETERS or tokens.looks_like_key(name) or tokens.looks_like_key(value):
            return True
    return False


def _well_formed_keys_in_url() -> list[str]:
    """The well-formed keys (checksum and all) anywhere in the URL's parameter names and values, each once."""
    found = []
    for name, value in request.args.items(multi=True):
        found += tokens.keys_in(name) + tokens.keys_in(value)
    return list(dict.fromkeys(found))


def header_key() -> str:
    """The key in the x-api-key or the Authorization: Bearer header, or ''."""
    key = request.headers.get("x-api-key", "").strip()
    if not key:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        key = credentials.strip() if scheme.lower() == "bearer" else ""
    return key


def presented_key() -> str:
    """The key the client sent in a header; a key in the query string is refused."""
    if _key_in_query_string():
        raise KeyInUrl()
    key = header_key()
    if not key:
        raise _unauthorized(f"No API key was sent. {HOW_TO_SEND}")
    return key


def verify(presented: str, ip: str | None) -> ApiKey:
    """The working key for a plaintext presented from `ip`, as the database has it: checksum, digest, one indexed
    lookup, then its status, its allowed addresses (before anything else about its team or services is told to a
    client elsewhere)."""
    check_form(presented)
    return check_working(key_check.check(presented, key_pepper()), ip)


def check_form(presented: str) -> None:
    """Refuse a key that is not one of ours by its form (a checksum catches a miscopied one)."""
    if not tokens.is_well_formed(presented):
        raise _unauthorized("The API key is malformed. Check that it was copied whole.")


def check_working(key: ApiKey | None, ip: str | None) -> ApiKey:
    """`key`, unless it is unknown, deactivated, expired, not allowed from `ip` or its team has Open API off: then an
    ApiError saying so."""
    if key is None:
        raise _unauthorized("The API key is not valid.")
    status = key.status(key.team.today())
    if status is KeyStatus.DEACTIVATED:
        raise _deactivated(key)
    if status is KeyStatus.EXPIRED:
        raise _unauthorized(f"This API key expired on {key.expires_on.isoformat()}.", Refusal.EXPIRED)
    if not key.allows(ip):
        raise ApiError(403, "Forbidden", f"This API key cannot be used from {ip or 'an unknown address'}.",
                       refusal=Refusal.ADDRESS)
    if not key.team.open_api_enabled:
        raise ApiError(403, "Forbidden", "Open API is not enabled for this team.", refusal=Refusal.OPEN_API_OFF)
    return key


def _deactivated(key) -> ApiError:
    """The refusal of a deactivated key: revoked (with the reason), rolled (naming its replacement by hint, even
    when deleted in its overlap) or deleted, on a date in its team's zone."""
    if key.deleted_at is not None and key.deactivated_reason:
        revoked = key.deleted_at.astimezone(key.team.zone).date()
        return _unauthorized(f"This API key was revoked on {revoked.isoformat()} because it was "
                             f"{key.deactivated_reason}.", Refusal.REVOKED)
    if key.replaced_by_id is not None:
        replacement = db.session.get(ApiKey, key.replaced_by_id)  # one more lookup, for a rolled key's refusal only
        rolled = replacement.created_at.astimezone(key.team.zone).date()
        return _unauthorized(f"This API key was rolled on {rolled.isoformat()} and replaced by {replacement.hint}…",
                             Refusal.ROLLED)
    stopped = key.deleted_at.astimezone(key.team.zone).date()
    return _unauthorized(f"This API key was deactivated on {stopped.isoformat()}.", Refusal.DELETED)


def check_service(key: ApiKey, service: Service | None) -> None:
    """Refuse a key that does not hold `service` (None: any working key will do)."""
    if service is not None and not key.has_service(service):
        raise ApiError(403, "Forbidden", f"This API key does not have access to {service.label}.",
                       refusal=Refusal.SERVICE)


# Endpoints that need no key header: the API's own description, reports of leaked keys, and download links
# (floqast.api.lists), which are their own credential and check the key they were given for themselves.
PUBLIC_ENDPOINTS = frozenset({"api.openapi", "api.download", "api.revoke_credentials", "api.github_secret_scanning"})


@bp.before_request
def require_key():
    """Authenticate, check the route's service, and only then count the pull and write Last used: on this
    worker's kept copy of the key while it is current (floqast/keys/cache.py), else on the database's."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    cache = current_app.extensions["key_cache"]
    try:
        presented = presented_key()
        check_form(presented)
        digest = tokens.digest(presented, key_pepper())
        kept = cache.get(digest)
        if kept is not None and accepted_as_kept(cache, digest, kept):
            return
        key = authorized(cache.load(digest))
    except ApiError as refusal:
        refuse(refusal)
    accept(key)


def authorized(key: ApiKey | None) -> ApiKey:
    """`key`, if it works from this client and holds the route's service; else an ApiError saying why not."""
    check_working(key, request.remote_addr)
    check_service(key, required_service(request.endpoint))
    return key


def accepted_as_kept(cache, digest: str, kept) -> bool:
    """Whether the pull was accepted on the kept copy of its key: one that works here, counted while the change
    mark says it is current (checked in the count's round trip when the mark is in Redis). A copy that would
    refuse the pull may be out of date: the database says why."""
    try:
        key = authorized(kept.key)
    except ApiError:
        return False
    request.context.key = key
    if not count_api_pull(unless_changed=cache.unless_changed(kept)):
        cache.forget(digest)
        return False
    record_use(key)
    return True


def required_service(endpoint: str) -> Service | None:
    """The service an endpoint's view requires (requires_service), or None."""
    return getattr(current_app.view_functions.get(endpoint), "required_service", None)


def refuse(refusal: ApiError, key: ApiKey | None = None) -> NoReturn:
    """Count a refused authentication against the client's address, put it in the audit trail (under `key` when
    the refused key is known, else as the request presented it), and raise it."""
    request.context.key = None  # a kept copy's, which the database refused
    count_api_refusal()  # past the client's limit: a 429 instead, and no audit row
    if key is None:
        record_refusal(refusal)
    else:
        request.context.refused_key = LoggedKey(key.id, key.team_id)
        events.record_api_refusal(refusal.detail, key.hint, key)
    db.session.commit()
    raise refusal


def accept(key: ApiKey) -> None:
    """Let the request through as `key`'s: one more pull on its rate limit (a 429 past it), and Last used."""
    request.context.key = key
    count_api_pull()
    record_use(key)


def record_use(key: ApiKey) -> None:
    """Write the key's Last used, at most once every LAST_USED_INTERVAL_SECONDS."""
    interval = timedelta(seconds=current_app.config["LAST_USED_INTERVAL_SECONDS"])
    if actions.record_use(key, request.remote_addr, request.headers.get("User-Agent") or None, interval):
        db.session.commit()  # before the view: Last used holds even if the view fails, and no row stays locked


def refuse_key_in_url() -> None:
    """Refuse a URL that carries something that looks like a key, as every keyed route does."""
    if _key_in_query_string():
        refuse(KeyInUrl())


def record_refusal(refusal: ApiError) -> None:
    """Put a refused authentication in the audit trail: the key's hint when it parsed, its team when it
    is a real key (one more indexed lookup, on refusals only), the client IP and the reason."""
    if isinstance(refusal, KeyInUrl) and record_exposed_keys(refusal):
        return
    presented = "" if isinstance(refusal, KeyInUrl) else header_key()
    parsed = tokens.is_well_formed(presented)
    key = queries.by_plaintext(presented, key_pepper()) if parsed else None
    if key is not None:
        request.context.refused_key = LoggedKey(key.id, key.team_id)
    events.record_api_refusal(refusal.detail, tokens.hint(presented) if parsed else None, key)


def record_exposed_keys(refusal: KeyInUrl) -> bool:
    """Whether keys of ours are in the refused URL. Each one is marked as exposed (from its first time on),
    put in its team's trail, and the refusal says to replace it. It is not revoked: a mistyped curl must
    not stop a nightly load."""
    exposed = [key for text in _well_formed_keys_in_url()[:MAX_KEYS_LOOKED_UP]
               if (key := queries.by_plaintext(text, key_pepper())) is not None]
    if exposed:
        refusal.detail = f"{refusal.detail} {REPLACE_EXPOSED}"
        request.context.refused_key = LoggedKey(exposed[0].id, exposed[0].team_id)
    for key in exposed:
        db.session.execute(
            update(ApiKey).where(ApiKey.id == key.id, ApiKey.exposed_in_url_at.is_(None))
            .values(exposed_in_url_at=utcnow()).execution_options(synchronize_session=False, keeps_keys_as_checked=True)
        )
        events.record_key_in_url(key, REPLACE_EXPOSED)
    return bool(exposed)


def requires_service(service: Service):
    """Refuse the view to keys that do not hold `service` (checked before Last used is written)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            check_service(request.context.key, service)
            return view(*args, **kwargs)

        wrapper.required_service = service
        return wrapper

    return decorator


EXPIRES_AT_HEADER = "X-API-Key-Expires-At"


@lru_cache(maxsize=4096)
def expires_at_header(expires_on: date, timezone: str) -> str:
    """When a key expiring on `expires_on` in its team's zone stops working, as the header says it (formatted once
    per expiry and zone: the header must cost a pull next to nothing)."""
    return iso_utc(end_of_day(expires_on, timezone))


def sunset_link() -> str:
    """The Link to what a rolled key's Sunset means: the API documentation, on APP_BASE_URL when it is set (never a
    URL built from the client's Host header), else as a path of this site."""
    return f"<{(current_app.config['APP_BASE_URL'] or '').rstrip('/')}{url_for('settings.api_docs')}>; rel=\"sunset\""


@bp.after_request
def tell_about_the_key(response):
    """Every answer to a pull with a working key tells the script when its key expires (X-API-Key-Expires-At), and
    during a roll's overlap when the old key stops (Sunset, RFC 8594, with its Link), from the checked key alone."""
    key = request.context.key
    if key is None:
        return response
    if key.expires_on is not None:
        response.headers[EXPIRES_AT_HEADER] = expires_at_header(key.expires_on, key.team.timezone)
    if key.roll_ends_at is not None:  # a key past its overlap was refused: this one is in it
        response.headers["Sunset"] = http_date(key.roll_ends_at)
        response.headers["Link"] = sunset_link()
    return response

"""Who is calling: the key from the header, judged by the one verifier (floqast/keys/authenticate.py) before any view
of the blueprint runs. This module binds its answer to the request, counts the pull or the refusal, and puts
refusals in the audit trail."""

from datetime import date, timedelta
from functools import lru_cache, wraps
from typing import NoReturn

from flask import current_app, request, url_for
from werkzeug.http import http_date

from floqast.accounts.models import end_of_day
from floqast.analytics.records import iso_utc
from floqast.api import bp
from floqast.audit import events
from floqast.extensions import db
from floqast.keys import actions, tokens
from floqast.keys.authenticate import AuthenticatedKey, Refusal, authenticate, service_refusal
from floqast.keys.lookup import CheckedKey
from floqast.keys.models import Service
from floqast.ratelimit.limits import count_api_pull, count_api_refusal
from floqast.usage import models as usage
from floqast.web.json_errors import ApiError

HOW_TO_SEND = "Send the key in the x-api-key header (or Authorization: Bearer <key>)."
TITLES = {401: "Unauthorized", 403: "Forbidden"}
# Keys looked up in one refused URL, at most: enough for any real mistake, and a bound on the lookups.
MAX_KEYS_LOOKED_UP = 3


class KeyInUrl(ApiError):
    """The refusal of a URL that carries a key, which is never read from there."""

    def __init__(self):
        super().__init__(400, "Bad Request", f"API keys are not accepted in the URL. {HOW_TO_SEND}",
                         refusal=usage.Refusal.KEY_IN_URL)


def api_error(refusal: Refusal) -> ApiError:
    """The verifier's refusal as the API answers it."""
    headers = {"WWW-Authenticate": 'Bearer realm="FloQast Open API"'} if refusal.status == 401 else None
    return ApiError(refusal.status, TITLES[refusal.status], refusal.detail, headers, refusal.reason)


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
    """The key the client sent in a header; a key in the query string, or none at all, is refused."""
    refuse_key_in_url()
    key = header_key()
    if not key:
        refuse(api_error(Refusal(401, f"No API key was sent. {HOW_TO_SEND}")))
    return key


# Endpoints that need no key header: the API's own description, reports of leaked keys, and download links
# (floqast.api.lists), which are their own credential and have the key they were given judged for themselves.
PUBLIC_ENDPOINTS = frozenset({"api.openapi", "api.download", "api.revoke_credentials", "api.github_secret_scanning"})


@bp.before_request
def require_key():
    """Authenticate for the route's service, and only then count the pull and write Last used: on this worker's kept
    copy of the key while the change mark says it is current (floqast/keys/cache.py), else on the database's."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    presented = presented_key()
    ip, service = request.remote_addr, required_service(request.endpoint)
    judged = authenticate(presented, ip, service)
    if isinstance(judged, AuthenticatedKey) and judged.kept:
        request.context.key = judged.key
        if count_api_pull(unless_changed=judged.unless_changed):
            record_use(judged.key)
            return
        judged = authenticate(presented, ip, service, fresh=True)  # changed since it was kept: not counted on it
    if isinstance(judged, Refusal):
        refuse(api_error(judged), judged.key, presented)
    accept(judged.key)


def required_service(endpoint: str) -> Service | None:
    """The service an endpoint's view requires (requires_service), or None."""
    return getattr(current_app.view_functions.get(endpoint), "required_service", None)


def refuse(refusal: ApiError, key: CheckedKey | None = None, presented: str = "") -> NoReturn:
    """Count a refused authentication against the client's address (past API_REFUSAL_LIMIT a 429 instead, and no
    audit row), put it in the audit trail under `key` when it is one of ours, else as `presented` parsed (its hint),
    and raise it."""
    context = request.context
    context.key = None  # a kept copy's, which the database refused
    count_api_refusal()
    context.refused_key = key
    hint = key.hint if key is not None else tokens.hint(presented) if tokens.is_well_formed(presented) else None
    events.record_api_refusal(refusal.detail, hint, key)
    db.session.commit()
    raise refusal


def refuse_key_in_url() -> None:
    """Refuse a URL that carries something that looks like a key, as every keyed route does. Each key of ours in
    it is marked as exposed (actions.mark_exposed) and the refusal says to replace it."""
    if not _key_in_query_string():
        return
    refusal = KeyInUrl()
    count_api_refusal()  # past the client's limit: a 429 instead, and no lookup
    exposed = [key for text in _well_formed_keys_in_url()[:MAX_KEYS_LOOKED_UP]
               if (key := authenticate(text, request.remote_addr, None, fresh=True).key) is not None]
    if exposed:
        refusal.detail = f"{refusal.detail} {actions.REPLACE_EXPOSED}"
        request.context.refused_key = exposed[0]
        for key in exposed:
            actions.mark_exposed(key)
    else:
        events.record_api_refusal(refusal.detail, None, None)
    db.session.commit()
    raise refusal


def accept(key: CheckedKey) -> None:
    """Let the request through as `key`'s: one more pull on its rate limit (a 429 past it), and Last used."""
    request.context.key = key
    count_api_pull()
    record_use(key)


def record_use(key: CheckedKey) -> None:
    """Write the key's Last used, at most once every LAST_USED_INTERVAL_SECONDS."""
    interval = timedelta(seconds=current_app.config["LAST_USED_INTERVAL_SECONDS"])
    if actions.record_use(key, request.remote_addr, request.headers.get("User-Agent") or None, interval):
        db.session.commit()  # before the view: Last used holds even if the view fails, and no row stays locked


def requires_service(service: Service):
    """Refuse the view to keys that do not hold `service` (checked before Last used is written)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if refusal := service_refusal(request.context.key, service):
                raise api_error(refusal)
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

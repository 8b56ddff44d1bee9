"""What an API request leaves in the log: its raw values, taken as it is answered (on every request's path, so
as little as can be), and made a row, without any key in its URL, when its batch is written."""

import functools
import json
import time
from datetime import datetime, timezone
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote_plus

from flask import current_app, request

from floqast.analytics.records import iso_utc
from floqast.columns import IP_LENGTH, clip
from floqast.keys import tokens
from floqast.keys.models import USER_AGENT_LENGTH

REDACTED = "REDACTED"
MAX_URI_LENGTH = 4096
# What a batch writes of each row, in the order of rows_of's tuples (the id comes from the table's sequence).
COLUMNS = ("created_at", "team_id", "api_key_id", "method", "uri", "source_ip", "status", "service", "refusal",
           "user_agent", "trail_entry")


class Captured(NamedTuple):
    """A request as the buffer holds it: what only the live request knows, made a row at flush time.

    log_api_request appends plain tuples in this order: this class's constructor would add a fifth to the cost of
    the capture.
    """

    at: float  # time.time()
    team_id: int
    api_key_id: int
    method: str
    source_ip: str | None
    status: int
    uri: str | None  # the view's own, else made from path and query
    service: str | None  # the view's own label, else its endpoint's
    path: str = ""
    query: bytes = b""
    endpoint: str | None = None
    refusal: str | None = None  # a Refusal
    user_agent: str | None = None


def log_api_request(response):
    """Buffer an /api/ request whose key names a team (accepted, or refused with a key of ours): its raw values
    only, since a row's uri, service and clipping can wait for the batch."""
    # A read through one of Flask's proxies costs about a microsecond, more than the rest of this hook together:
    # each object is read through its proxy once.
    live = request._get_current_object()
    if not live.is_api:
        return response
    context = live.context
    key = context.key or context.refused_key
    if key is None:
        return response
    current_app._get_current_object().extensions["request_log"].add((
        time.time(), key.team_id, key.id, live.method, live.remote_addr, response.status_code,
        context.logged_uri, context.logged_service, live.path, live.query_string, live.endpoint, context.refusal,
        live.environ.get("HTTP_USER_AGENT"),
    ))
    return response


def _redact(part: str) -> bool:
    return tokens.looks_like_key(unquote_plus(part))


def redacted_query(query: str) -> str:
    """The query string as sent, but REDACTED for every name or value that looks like a key and every value of
    a key parameter (`?api_key=...`)."""
    parts = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if _redact(name):
            name = REDACTED
        if value and (unquote_plus(name).strip().lower() in tokens.QUERY_KEY_PARAMETERS or _redact(value)):
            value = REDACTED
        parts.append(name + equals + value)
    return "&".join(parts)


def request_uri(path: str, query: bytes) -> str:
    """A request's path and query, without any key in them."""
    path = "/".join(REDACTED if tokens.looks_like_key(part) else part for part in path.split("/"))
    uri = quote(path, safe="/:@!$&'()*+,;=-._~")
    if query:
        uri += "?" + redacted_query(query.decode())
    return uri


def route_service(view_functions: dict, endpoint: str | None) -> str | None:
    """The label of the service an endpoint's route needs, if any."""
    service = getattr(view_functions.get(endpoint), "required_service", None)
    return None if service is None else service.label


def rows_of(captured: list[tuple], view_functions: dict) -> list[tuple]:
    """The log's rows for captured requests, as tuples of COLUMNS: their uri without keys, their route's service,
    every value clipped to its column (one value too long would make PostgreSQL refuse the whole batch), and
    their audit trail entry."""
    # A batch mostly repeats a few uris, endpoints, answers and seconds (and forgets them with it): each is worked
    # out once, and an entry is its request's cached opening closed with its time and key.
    uri_of = functools.cache(request_uri)
    service_of = functools.cache(functools.partial(route_service, view_functions))
    opening_of = functools.cache(entry_opening)
    iso_of_second = functools.cache(lambda second: iso_utc(datetime.fromtimestamp(second, timezone.utc)))
    rows = []
    for (at, team_id, api_key_id, method, source_ip, status, uri, service, path, query, endpoint, refusal,
         user_agent) in captured:
        created_at = datetime.fromtimestamp(at, timezone.utc)
        method, uri = method[:16], (uri or uri_of(path, query))[:MAX_URI_LENGTH]
        source_ip = None if source_ip is None else source_ip[:IP_LENGTH]
        service = (service or service_of(endpoint) or "")[:32] or None
        rows.append((created_at, team_id, api_key_id, method, uri, source_ip, status, service, refusal,
                     clip(user_agent, USER_AGENT_LENGTH) or None,
                     closed_entry(opening_of(method, uri, source_ip, status, service),
                                  iso_of_second(int(created_at.timestamp())), api_key_id)))
    return rows


def trail_entry(created_at: datetime, api_key_id: int, method: str, uri: str, source_ip: str | None, status: int,
                service: str | None) -> str:
    """A request as GET /api/v1/audit-trail gives it (FloQast's shape, with our createdAt and apiKeyId), as JSON
    without its id (the table's sequence gives that as the row is written): made once, with the row, so that
    reading the trail costs a copy of it, not a JSON encoding per entry."""
    return closed_entry(entry_opening(method, uri, source_ip, status, service), iso_utc(created_at), api_key_id)


def entry_opening(method: str, uri: str, source_ip: str | None, status: int, service: str | None) -> str:
    """A trail entry's JSON object up to its time and key, left open: what was asked and the answer."""
    return json.dumps({
        "uri": uri,
        "method": method,
        "sourceIp": source_ip,
        "meta": {"status": str(status), "service": service, "queryParameters": query_parameters(uri)},
    })[:-1]


def closed_entry(opening: str, created_at: str, api_key_id: int) -> str:
    """An entry's opening closed with its createdAt (iso_utc's text, which JSON needs no escape for) and apiKeyId,
    as json.dumps writes them."""
    return f'{opening}, "createdAt": "{created_at}", "apiKeyId": "{api_key_id}"}}'


def query_parameters(uri: str) -> dict:
    """The parameters of a logged uri as an object: each name's value, a list of them when it repeats."""
    parameters: dict = {}
    for name, value in parse_qsl(uri.partition("?")[2], keep_blank_values=True):
        if name in parameters:
            held = parameters[name]
            parameters[name] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            parameters[name] = value
    return parameters

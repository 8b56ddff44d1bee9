"""GET /api/v1/openapi.json: the OpenAPI 3.1 description of every /api/v1 route."""

from flask import current_app, request

from floqast.analytics.records import DATASETS, ISO_UTC_PATTERN
from floqast.api import bp
from floqast.api.audit_trail import KEY_ID_PATTERN
from floqast.api.inventory import USAGE_DAYS
from floqast.api.leaks import GITHUB_KEY_IDENTIFIER, GITHUB_SIGNATURE, MAX_CREDENTIALS
from floqast.api.params import (
    ALLOW_REDIRECT,
    ALLOW_REDIRECT_PATTERN,
    DEFAULT_PAGE_SIZE,
    ENTITY_IDS_PATTERN,
    MAX_ENTITY_IDS,
    MAX_PAGE_SIZE,
    MONTH_PATTERN,
    YEAR_PATTERN,
)
from floqast.api.roll import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_LENGTH
from floqast.keys.inventory import CSV_COLUMNS
from floqast.keys.models import ANALYTICS_SERVICES, Service
from floqast.keys.self_roll import SEALED_MINUTES
from floqast.keys.state import KeyStatus

KIND_SCHEMAS = {
    "id": {"type": "string", "pattern": r"^[1-9][0-9]*$", "description": "An id, as a string of digits."},
    "integer": {"type": "integer"},
    "string": {"type": "string"},
    "money": {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "Exact decimal amount."},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time", "pattern": ISO_UTC_PATTERN},
    "tags": {"type": "array", "items": {"type": "string"}},
}
ERRORS = {
    "400": "A parameter is not allowed or not valid; the detail names it. Or the URL carries an API key: the "
           "detail then says to replace the key when it is one of ours (it is now in logs; it is not revoked).",
    "401": ("The key is missing, malformed, unknown, suspended by an admin (the detail gives the day and the reason), "
            "expired, deactivated, or rolled and past its overlap."),
    "403": "The key may not be used from the client's address (its allowed IP addresses), lacks this service, "
           "Open API is off for the team, or the key is limited to chosen entities and the request names another: "
           "an entity in filter[entityIds] (\"This API key cannot read entity 12.\"), or on the audit trail "
           "another key's requests.",
    "413": "The request carries a body larger than the API reads (GETs need none); the detail gives the limit.",
    "414": "The URL is longer than the API reads; the detail gives the limit.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "431": "The request headers are larger than the API reads in all; the detail gives the limit.",
    "503": "The database cannot be reached right now; retry after the Retry-After header's seconds.",
}
# A download link's key is checked when the link is used: refused with what a pull with that key would get.
DOWNLOAD_ERRORS = {
    "401": ("The key the link was given for has been suspended, has expired or been deactivated since; the detail "
            "says which."),
    "403": "The key the link was given for no longer has the list's service, Open API is now off for the team, or "
           "the key no longer reads an entity the link's filter[entityIds] names.",
    "404": "The download link has expired, was changed, or was never given by this API; the detail says which. "
           "Ask for the list again with allowRedirect=true for a new one.",
}
# Every request's size is checked before anything else (check_request_size), the document's too.
SIZE_ERRORS = ["400", "413", "414", "431"]
KEY_ERRORS = [*SIZE_ERRORS, "401", "403", "429", "503"]
DOWNLOAD_PATH = r"^/api/v1/downloads/[^/?]+$"

# What every answer to a pull with a working key says about the key (floqast/api/auth.py tell_about_the_key).
KEY_HEADERS = {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-API-Key-Expires-At", "Sunset", "Link")}
KEY_HEADER_DEFINITIONS = {
    "X-API-Key-Expires-At": {
        "description": "When the key stops working (the end of its expiration date in its team's time zone), as "
                       "YYYY-MM-DDTHH:MM:SSZ; absent for a key without an expiration.",
        "schema": {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"},
    },
    "Sunset": {
        "description": "Only while the key was rolled and still works beside its replacement: when it stops (the end "
                       "of the roll's overlap), as an HTTP-date (RFC 8594). Switch to the new key before then.",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": "With Sunset: <the API documentation>; rel=\"sunset\" (RFC 8594).",
        "schema": {"type": "string", "pattern": 'rel="sunset"'},
    },
}

CSV_FORMULAS = (
    "Text cells (names, descriptions, tags, account names and numbers, people, currency, autoRecType) that "
    "begin with =, +, -, @, a tab, a carriage return or ' start with one more ', and so does each part after a "
    "; or a line break inside one that begins with one of these or \" (each tag, for one: a spreadsheet that "
    "separates cells with ; starts a cell there), so that a spreadsheet shows them as text instead of running "
    "them as formulas; an import of the file takes each one off again. "
    "Amounts, numbers and dates are never changed: -1234.50 stays a number."
)


def field_schema(field) -> dict:
    schema = {**KIND_SCHEMAS[field.kind], "description": field.description}
    return {**schema, "type": [schema["type"], "null"]} if field.nullable else schema


def object_schema(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def record_schema(fields) -> dict:
    """A record's JSON schema from its flat field list: dotted names nest; sign-offs form an array."""
    properties, signature = {}, {"group": {"type": "string", "enum": ["preparer", "reviewer"]}}
    for field in fields:
        parts = field.name.split(".")
        if parts[0] == "signatures":
            signature[parts[2]] = field_schema(field)
            properties.setdefault("signatures", None)
            continue
        target = properties
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = field_schema(field)
    nested = {
        name: (object_schema(value) if isinstance(value, dict) and "type" not in value else value)
        for name, value in properties.items()
    }
    nested["signatures"] = {"type": "array", "items": object_schema(signature), "minItems": 2, "maxItems": 2}
    return object_schema(nested)


def parameter(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


PAGE_PARAMETERS = [
    parameter("page[size]", f"Records per page (JSON only), default {DEFAULT_PAGE_SIZE}, which is also the maximum.",
              {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}),
    parameter("page[cursor]", "Opaque; taken from links.next of the previous page.", {"type": "string"}),
]
ANALYTICS_PARAMETERS = [
    parameter("filter[month]", "January to December (any case), or 1 to 12; requires filter[year].",
              {"type": "string", "pattern": MONTH_PATTERN}),
    parameter("filter[year]", "Four-digit year; requires filter[month].", {"type": "string", "pattern": YEAR_PATTERN}),
    parameter("filter[modifiedSince]", "Records updated on or after this UTC day.",
              {"type": "string", "format": "date"}),
    parameter("filter[modifiedBefore]", "Records updated before this UTC day; later than filter[modifiedSince].",
              {"type": "string", "format": "date"}),
    parameter("filter[entityIds]", f"Up to {MAX_ENTITY_IDS} comma-separated entity ids (entity.id), such as 12,15. "
              "A key limited to chosen entities (entityIds in /me) reads only theirs, with or without this filter, "
              "and is refused (403) any other named here, never given fewer records silently.",
              {"type": "string", "pattern": ENTITY_IDS_PATTERN}),
    *PAGE_PARAMETERS,
]
AUDIT_TRAIL_PARAMETERS = [
    parameter("filter[startDate]", "Requests made on or after this day (YYYY-MM-DD) in the team's time zone.",
              {"type": "string", "format": "date"}),
    parameter("filter[endDate]", "Requests made on or before this day in the team's time zone; not before "
              "filter[startDate].", {"type": "string", "format": "date"}),
    parameter("filter[userApiKey._id]", "Requests made with this key of the team (its apiKeyId, such as 7); "
              "an id that is not the team's gives none. A key limited to chosen entities reads only its own "
              "requests: another key's id is a 403.", {"type": "string", "pattern": KEY_ID_PATTERN}),
    *PAGE_PARAMETERS,
]


def allow_redirect_parameter(seconds: int) -> dict:
    return parameter(ALLOW_REDIRECT, (
        "true (in any case): always answer 303 instead of the records, with a download link in Location and in "
        f"data.url that streams the same answer (the JSON page, or the whole CSV, as Accept asked) for {seconds} "
        "seconds, with no key header needed; the link is refused once the key stops working. The other "
        "parameters are checked first. false, or absent: the records."
    ), {"type": "string", "pattern": ALLOW_REDIRECT_PATTERN})


def error_responses(statuses, descriptions: dict | None = None) -> dict:
    """The error answers of a path, each described by ERRORS unless `descriptions` says what it means there."""
    descriptions = {**ERRORS, **(descriptions or {})}
    return {
        status: {"description": descriptions[status],
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
        for status in sorted(statuses)
    }


def json_content(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def revoke_path() -> dict:
    credentials = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_CREDENTIALS,
                   "description": "API keys found where they should not be, such as fq_ and 38 more characters."}
    received = {"type": "integer", "minimum": 1, "maximum": MAX_CREDENTIALS,
                "description": "How many strings the list held, whatever they were."}
    return {"post": {
        "summary": "Report leaked keys (no key needed)",
        "description": ("Anyone who finds a key may send it here. Each key of ours that still works is revoked at "
                        "once: its pulls get 401 saying it was reported as leaked, and its team is told. The "
                        "answer is the same whatever the strings were, keys of ours or not."),
        "security": [],
        "requestBody": {"required": True, **json_content(object_schema({"credentials": credentials}))},
        "responses": {
            "202": {"description": "Received; each working key in it is revoked.",
                    **json_content(object_schema({"data": object_schema({"received": received})}))},
            **error_responses([*SIZE_ERRORS, "429", "503"], {
                "400": "The body is not JSON, or not {\"credentials\": [...]} with 1 to "
                       f"{MAX_CREDENTIALS} strings; the detail says which.",
                "429": "Too many reports from this address; retry after the Retry-After header's seconds.",
            }),
        },
    }}


def github_secret_scanning_path() -> dict:
    match = {"type": "object", "properties": {name: {"type": "string"} for name in ("token", "type", "url", "source")},
             "required": ["token", "type"], "additionalProperties": False}
    label = object_schema({"token_raw": {"type": "string"}, "token_type": {"type": "string"},
                           "label": {"type": "string", "enum": ["true_positive", "false_positive"]}})
    signature_headers = [
        {"name": GITHUB_KEY_IDENTIFIER, "in": "header", "required": True, "schema": {"type": "string"},
         "description": "Which of GitHub's secret scanning public keys signed the body."},
        {"name": GITHUB_SIGNATURE, "in": "header", "required": True, "schema": {"type": "string"},
         "description": "Base64 DER ECDSA P-256 SHA-256 signature over the raw body."},
    ]
    return {"post": {
        "summary": "GitHub secret scanning partner endpoint (GitHub's signature, no key)",
        "description": ("GitHub sends the keys its secret scanning finds in public code. The signature is checked "
                        "over the raw body first; each working key of ours in it is then revoked. The answer labels "
                        "each token true_positive (a key of ours, working or not) or false_positive."),
        "security": [],
        "parameters": signature_headers,
        "requestBody": {"required": True, **json_content({"type": "array", "items": match})},
        "responses": {
            "200": {"description": "Each token, labelled.", **json_content({"type": "array", "items": label})},
            **error_responses([*SIZE_ERRORS, "401", "429", "503"], {
                "400": "The signed body is not GitHub's JSON array of matches.",
                "401": "The body is not signed by one of GitHub's secret scanning public keys (or the key is unknown).",
                "429": "Too many refused reports from this address; retry after the Retry-After header's seconds.",
            }),
        },
    }}


def redirect_response() -> dict:
    """allowRedirect=true's 303: the download link in Location and in the body."""
    link = {"type": "string", "pattern": DOWNLOAD_PATH,
            "description": "The download link: a path of this site that needs no key header."}
    return {
        "description": "allowRedirect=true: the records are at the download link, for a short time.",
        "headers": {"Location": {"required": True, "schema": link}, **KEY_HEADERS},
        "content": {"application/json": {"schema": object_schema({"data": object_schema({"url": link})})}},
    }


def page_schema(schema_name: str) -> dict:
    """A JSON page of `schema_name` items with its relative links."""
    return {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema_name}"}},
            "links": {
                "type": "object",
                "properties": {
                    "self": {"type": "string", "pattern": "^/api/v1/",
                             "description": "This page: a path of this site, such as /api/v1/analytics/..."},
                    "next": {"type": ["string", "null"], "pattern": "^/api/v1/",
                             "description": "The next page, a path with page[cursor]; null on the last page."},
                },
                "required": ["self", "next"],
                "additionalProperties": False,
            },
        },
        "required": ["data", "links"],
        "additionalProperties": False,
    }


def csv_schema(service: Service) -> dict:
    columns = ", ".join(DATASETS[service].columns)
    return {"type": "string", "description": f"{service.label}: columns {columns}. {CSV_FORMULAS}"}


def analytics_path(service: Service, schema_name: str, download_seconds: int) -> dict:
    return {"get": {
        "summary": f"{service.label} records",
        "description": "A JSON page; with Accept: text/csv, every matching record as CSV with a header row.",
        "parameters": [*ANALYTICS_PARAMETERS, allow_redirect_parameter(download_seconds)],
        "responses": {
            "200": {"description": "The records.", "headers": KEY_HEADERS, "content": {
                "application/json": {"schema": page_schema(schema_name)},
                "text/csv": {"schema": csv_schema(service)},
            }},
            "303": redirect_response(),
            **error_responses(KEY_ERRORS),
        },
    }}


# What the lists that give download links hold.
LIST_SCHEMAS = ("Reconciliation", "ChecklistItem", "AuditTrailEntry", "ApiKey")
KEYS_CSV = {"type": "string", "description": f"The team's keys: columns {', '.join(CSV_COLUMNS)}. {CSV_FORMULAS}"}
KEY_ADMINISTRATION_403 = {"403": "The key lacks Key administration, may not be used from the client's address, or "
                                 "Open API is off for the team."}


def keys_path(download_seconds: int) -> dict:
    statuses = [status.value for status in KeyStatus]
    return {"get": {
        "summary": "The team's API keys (Key administration)",
        "description": "Every key the team ever made, by id, for access reviews: never a key itself nor its digest. "
                       "A JSON page; with Accept: text/csv, every matching key as CSV with a header row.",
        "parameters": [
            parameter("filter[status]", f"Keys in this status: {', '.join(statuses)}.",
                      {"type": "string", "enum": statuses}),
            parameter("filter[lastUsedBefore]", "Keys not used since before this day (YYYY-MM-DD) began in the "
                      "team's time zone, or never used.", {"type": "string", "format": "date"}),
            *PAGE_PARAMETERS, allow_redirect_parameter(download_seconds),
        ],
        "responses": {
            "200": {"description": "The keys.", "headers": KEY_HEADERS, "content": {
                "application/json": {"schema": page_schema("ApiKey")}, "text/csv": {"schema": KEYS_CSV}}},
            "303": redirect_response(),
            **error_responses(KEY_ERRORS, KEY_ADMINISTRATION_403),
        },
    }}


def key_usage_path() -> dict:
    day = object_schema({
        "date": {"type": "string", "format": "date", "description": "A day in the team's time zone."},
        "succeeded": {"type": "integer", "minimum": 0, "description": "Requests answered below 400."},
        "refused": {"type": "integer", "minimum": 0, "description": "Requests refused with 401, 403 or 429."},
        "other": {"type": "integer", "minimum": 0, "description": "Other errors (400 and the like)."},
    })
    return {"get": {
        "summary": "One of the team's keys' requests per day (Key administration)",
        "parameters": [
            {"name": "key_id", "in": "path", "required": True, "description": "The key's id, as GET /keys gives it.",
             "schema": {"type": "string", "pattern": KEY_ID_PATTERN}},
            parameter("filter[startDate]", f"The first day (YYYY-MM-DD, the team's time zone); default "
                      f"{USAGE_DAYS - 1} days before filter[endDate].", {"type": "string", "format": "date"}),
            parameter("filter[endDate]", "The last day, included; default today. Not before filter[startDate] "
                      "when both are given.",
                      {"type": "string", "format": "date"}),
        ],
        "responses": {
            "200": {"description": "Each day of the range with requests, oldest first.", "headers": KEY_HEADERS,
                    **json_content(object_schema({"data": {"type": "array", "items": day}}))},
            **error_responses([*KEY_ERRORS, "404"], {
                **KEY_ADMINISTRATION_403, "404": "The team has no key with this id."}),
        },
    }}


def roll_path() -> dict:
    rolled = object_schema({
        "apiKey": {"type": "string", "pattern": r"^fq_[0-9A-Za-z]{38}$",
                   "description": "The new key: shown in this answer only (and to a retry, below)."},
        "apiKeyId": KIND_SCHEMAS["id"],
        "expiresAt": {**KIND_SCHEMAS["datetime"], "type": ["string", "null"],
                      "description": "When the new key stops working: the old key's lifetime from today, within "
                                     "the team's policy. Null: never."},
        "previousKeyStopsAt": {**KIND_SCHEMAS["datetime"], "description": (
            "When the old key stops at the latest: 24 hours after the roll, or sooner, at the new key's first use.")},
    })
    return {"post": {
        "summary": "The key rolls itself (Scripts may roll this key)",
        "description": ("Makes a new key with the old one's name, services, description, entities, addresses and "
                        "limit. The old key keeps working until the new one is first used, 24 hours at most. "
                        f"Retrying with the same {IDEMPOTENCY_KEY} within {SEALED_MINUTES} minutes answers the "
                        "same new key again."),
        "parameters": [{"name": IDEMPOTENCY_KEY, "in": "header", "required": True, "description": (
            "New for each roll (a UUID); the same when retrying it."),
            "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_LENGTH}}],
        "responses": {
            "201": {"description": "The new key.", "headers": KEY_HEADERS,
                    **json_content(object_schema({"data": rolled}))},
            **error_responses([*KEY_ERRORS, "409"], {
                "400": f"No {IDEMPOTENCY_KEY} header, or a longer one than {IDEMPOTENCY_KEY_LENGTH} characters.",
                "403": "The key may not roll itself (an admin allows it on its page: Scripts may roll this key), may "
                       "not be used from the client's address, or Open API is off for the team.",
                "409": "The key was rolled already (by itself with another Idempotency-Key, or more than "
                       f"{SEALED_MINUTES} minutes ago, or by an admin); the detail names its replacement's hint.",
            }),
        },
    }}


def api_key_schema() -> dict:
    nullable_datetime = {**KIND_SCHEMAS["datetime"], "type": ["string", "null"]}
    return object_schema({
        "id": KIND_SCHEMAS["id"],
        "name": {"type": "string"},
        "hint": {"type": "string", "pattern": r"^fq_[0-9A-Za-z]{4}$",
                 "description": "fq_ and the key's next 4 characters: never more of it."},
        "services": {"type": "array", "items": {"type": "string", "enum": [service.value for service in Service]}},
        "entityIds": {"type": ["array", "null"], "items": KIND_SCHEMAS["id"],
                      "description": "The entities the key may read; null: every entity."},
        "description": {"type": ["string", "null"]},
        "createdBy": object_schema({"id": KIND_SCHEMAS["id"], "name": {"type": "string"},
                                    "email": {"type": "string"}}),
        "createdAt": KIND_SCHEMAS["datetime"],
        "expiresAt": {**nullable_datetime, "description": "When it stops working; null: never."},
        "lastUsedAt": {**nullable_datetime, "description": "Its last accepted request (written once a minute)."},
        "lastUsedIp": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": [status.value for status in KeyStatus]},
        "deactivatedAt": {**nullable_datetime, "description": "When a deactivated key stopped working."},
    })


def download_path(download_seconds: int) -> dict:
    return {"get": {
        "summary": "The answer behind an allowRedirect download link (no key needed)",
        "description": (
            f"Works for {download_seconds} seconds after the link is given, while the key it was given for still "
            "works (a key header, if sent, is not read). Streams the list's answer exactly as the request "
            "without allowRedirect would: the same JSON page with its links, or the whole CSV."
        ),
        "security": [],
        "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"},
                        "description": "The signed link, as data.url gave it."}],
        "responses": {
            "200": {"description": "The list's answer.", "headers": KEY_HEADERS, "content": {
                "application/json": {"schema": {"anyOf": [page_schema(name) for name in LIST_SCHEMAS]}},
                "text/csv": {"schema": {"anyOf": [*(csv_schema(service) for service in ANALYTICS_SERVICES),
                                                  KEYS_CSV]}},
            }},
            **error_responses([*KEY_ERRORS, "404"], {**ERRORS, **DOWNLOAD_ERRORS}),
        },
    }}


def audit_trail_path(download_seconds: int) -> dict:
    return {"get": {
        "summary": "The team's API requests",
        "description": "Every request made with the team's keys, refused ones included, oldest first (by id, so "
                       "that a reader can resume from links.next). Requests are logged in batches: a request shows "
                       "up within about a second. Kept 90 days.",
        "parameters": [*AUDIT_TRAIL_PARAMETERS, allow_redirect_parameter(download_seconds)],
        "responses": {
            "200": {"description": "The requests.", "headers": KEY_HEADERS,
                    "content": {"application/json": {"schema": page_schema("AuditTrailEntry")}}},
            "303": redirect_response(),
            **error_responses(KEY_ERRORS),
        },
    }}


def audit_trail_entry_schema() -> dict:
    services = [service.label for service in Service]
    return object_schema({
        "id": KIND_SCHEMAS["id"],
        "uri": {"type": "string", "pattern": "^/api/",
                "description": "Path and query as sent; anything that looks like a key reads REDACTED."},
        "method": {"type": "string"},
        "sourceIp": {"type": ["string", "null"], "description": "The client's IP address."},
        "meta": object_schema({
            "status": {"type": "string", "pattern": "^[1-5][0-9]{2}$", "description": "The answer's HTTP status."},
            "service": {"type": ["string", "null"], "enum": [*services, None],
                        "description": "The service of the route, if it needs one."},
            "queryParameters": {"type": "object", "description": "The uri's query: each name's value, a list of "
                                "them when the name repeats.",
                                "additionalProperties": {"type": ["string", "array"], "items": {"type": "string"}}},
        }),
        "createdAt": {**KIND_SCHEMAS["datetime"], "description": "When the request was made."},
        "apiKeyId": {**KIND_SCHEMAS["id"], "description": "The key it was made with."},
    })


def document(server_url: str, download_seconds: int) -> dict:
    """The OpenAPI 3.1 document."""
    error = object_schema({"status": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"}})
    me = object_schema({
        "apiKeyId": {"type": "string"}, "userId": {"type": "string", "description": "The user who created the key."},
        "name": {"type": "string"}, "teamId": {"type": "string"},
        "services": {"type": "array", "items": {"type": "string", "enum": [service.value for service in Service]}},
        "expiresAt": {**KIND_SCHEMAS["datetime"], "type": ["string", "null"], "description": (
            "When the key stops working: it works through the end of its expiration date in its team's time zone "
            "(a key expiring 2027-01-05 in America/Los_Angeles works until 2027-01-06T08:00:00Z). "
            "Null: the key never expires."
        )},
        "entityIds": {"type": ["array", "null"], "items": {"type": "string", "pattern": "^[1-9][0-9]*$"},
                      "description": (
            "The entities whose records the key reads (their ids); its pulls return only their records, and a "
            "filter[entityIds] naming another is a 403. Null: every entity of the team, those added later too."
        )},
        "rateLimitPerMinute": {"type": ["integer", "null"], "minimum": 1, "description": (
            "The key's own limit on requests a minute, which X-RateLimit-Limit and 429s follow. Null: the team "
            "default."
        )},
    })
    return {
        "openapi": "3.1.0",
        "info": {"title": "FloQast Open API", "version": "1",
                 "description": ("Reconciliation Analytics and Checklist Analytics for a team, read with an API key; "
                                 "and reports of leaked keys, which revoke them. Every answer to a request with a "
                                 "working key says when the key expires (X-API-Key-Expires-At) and, while a rolled "
                                 "key works beside its replacement, when it stops (Sunset, with a Link).")},
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": {
            "/me": {"get": {
                "summary": "The key making the request",
                "responses": {
                    "200": {"description": "The key.", "headers": KEY_HEADERS,
                            "content": {"application/json": {"schema": object_schema({"data": me})}}},
                    **error_responses(KEY_ERRORS),
                },
            }},
            "/analytics/reconciliations": analytics_path(Service.RECONCILIATIONS, "Reconciliation", download_seconds),
            "/analytics/checklists": analytics_path(Service.CHECKLISTS, "ChecklistItem", download_seconds),
            "/downloads/{token}": download_path(download_seconds),
            "/credentials/revoke": revoke_path(),
            "/secret-scanning/github": github_secret_scanning_path(),
            "/audit-trail": audit_trail_path(download_seconds),
            "/me/roll": roll_path(),
            "/keys": keys_path(download_seconds),
            "/keys/{key_id}/usage": key_usage_path(),
            "/openapi.json": {"get": {
                "summary": "This document (no key needed)",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1.",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                    **error_responses(SIZE_ERRORS),
                },
            }},
        },
        "components": {
            "headers": KEY_HEADER_DEFINITIONS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Reconciliation": record_schema(DATASETS[Service.RECONCILIATIONS].fields),
                "ChecklistItem": record_schema(DATASETS[Service.CHECKLISTS].fields),
                "AuditTrailEntry": audit_trail_entry_schema(),
                "ApiKey": api_key_schema(),
                "Errors": object_schema({"errors": {"type": "array", "items": error, "minItems": 1}}),
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document, readable without a key."""
    # A relative server URL (the site of the document itself): never one built from the client's Host header.
    return document(request.script_root + bp.url_prefix, current_app.config["DOWNLOAD_URL_SECONDS"])

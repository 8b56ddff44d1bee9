"""GET /api/v1/openapi.json: the OpenAPI 3.1 description of every /api/v1 route."""

from flask import request

from floqast.analytics.params import (
    DEFAULT_PAGE_SIZE,
    ENTITY_IDS_PATTERN,
    MAX_ENTITY_IDS,
    MAX_PAGE_SIZE,
    MONTH_PATTERN,
    YEAR_PATTERN,
)
from floqast.analytics.records import DATASETS
from floqast.api import bp
from floqast.api.audit_trail import ALLOW_REDIRECT_PATTERN, KEY_ID_PATTERN
from floqast.models import Service

KIND_SCHEMAS = {
    "id": {"type": "string", "pattern": r"^[1-9][0-9]*$", "description": "An id, as a string of digits."},
    "integer": {"type": "integer"},
    "string": {"type": "string"},
    "money": {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "description": "Exact decimal amount."},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "tags": {"type": "array", "items": {"type": "string"}},
}
ERRORS = {
    "400": "A parameter is not allowed or not valid; the detail names it. Or the URL carries an API key: the "
           "detail then says to replace the key when it is one of ours (it is now in logs; it is not revoked).",
    "401": "The key is missing, malformed, unknown, expired or deactivated.",
    "403": "The key lacks this service, or Open API is off for the team.",
    "413": "The request carries a body larger than the API reads (GETs need none); the detail gives the limit.",
    "414": "The URL is longer than the API reads; the detail gives the limit.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
    "431": "The request headers are larger than the API reads in all; the detail gives the limit.",
    "503": "The database cannot be reached right now; retry after the Retry-After header's seconds.",
}
# Every request's size is checked before anything else (check_request_size), the document's too.
SIZE_ERRORS = ["400", "413", "414", "431"]
KEY_ERRORS = [*SIZE_ERRORS, "401", "403", "429", "503"]

CSV_FORMULAS = (
    "Text cells (names, descriptions, tags, account names and numbers, people, currency, autoRecType) that "
    "begin with =, +, -, @, a tab, a carriage return or ' start with one more ', so that a spreadsheet "
    "shows them as text instead of running them as formulas; an import of the file takes it off again. "
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
    parameter("filter[entityIds]", f"Up to {MAX_ENTITY_IDS} comma-separated entity ids (entity.id), such as 12,15.",
              {"type": "string", "pattern": ENTITY_IDS_PATTERN}),
    *PAGE_PARAMETERS,
]
AUDIT_TRAIL_PARAMETERS = [
    parameter("filter[startDate]", "Requests made on or after this day (YYYY-MM-DD) in the team's time zone.",
              {"type": "string", "format": "date"}),
    parameter("filter[endDate]", "Requests made on or before this day in the team's time zone; not before "
              "filter[startDate].", {"type": "string", "format": "date"}),
    parameter("filter[userApiKey._id]", "Requests made with this key of the team (its apiKeyId, such as 7); "
              "an id that is not the team's gives none.", {"type": "string", "pattern": KEY_ID_PATTERN}),
    *PAGE_PARAMETERS,
    parameter("allowRedirect", "FloQast's parameter, true or false.",
              {"type": "string", "pattern": ALLOW_REDIRECT_PATTERN}),
]


def error_responses(statuses) -> dict:
    return {
        status: {"description": ERRORS[status],
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}}
        for status in sorted(statuses)
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


def analytics_path(service: Service, schema_name: str) -> dict:
    page = page_schema(schema_name)
    columns = ", ".join(DATASETS[service].columns)
    return {"get": {
        "summary": f"{service.label} records",
        "description": "A JSON page; with Accept: text/csv, every matching record as CSV with a header row.",
        "parameters": ANALYTICS_PARAMETERS,
        "responses": {
            "200": {"description": "The records.", "content": {
                "application/json": {"schema": page},
                "text/csv": {"schema": {"type": "string", "description": f"Columns: {columns}. {CSV_FORMULAS}"}},
            }},
            **error_responses(KEY_ERRORS),
        },
    }}


AUDIT_TRAIL_PATH = {"get": {
    "summary": "The team's API requests",
    "description": "Every request made with the team's keys, refused ones included, oldest first (by id, so that a "
                   "reader can resume from links.next). Requests are logged in batches: a request shows up within "
                   "about a second. Kept 90 days.",
    "parameters": AUDIT_TRAIL_PARAMETERS,
    "responses": {
        "200": {"description": "The requests.",
                "content": {"application/json": {"schema": page_schema("AuditTrailEntry")}}},
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


def document(server_url: str) -> dict:
    """The OpenAPI 3.1 document."""
    error = object_schema({"status": {"type": "string"}, "title": {"type": "string"}, "detail": {"type": "string"}})
    me = object_schema({
        "apiKeyId": {"type": "string"}, "userId": {"type": "string", "description": "The user who created the key."},
        "name": {"type": "string"}, "teamId": {"type": "string"},
        "services": {"type": "array", "items": {"type": "string", "enum": [service.value for service in Service]}},
        "expiresAt": {"type": ["string", "null"], "format": "date-time", "description": (
            "When the key stops working: it works through the end of its expiration date in its team's time zone "
            "(a key expiring 2027-01-05 in America/Los_Angeles works until 2027-01-06T08:00:00Z). "
            "Null: the key never expires."
        )},
    })
    return {
        "openapi": "3.1.0",
        "info": {"title": "FloQast Open API", "version": "1",
                 "description": "Reconciliation Analytics and Checklist Analytics for a team, read with an API key."},
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": {
            "/me": {"get": {
                "summary": "The key making the request",
                "responses": {
                    "200": {"description": "The key.",
                            "content": {"application/json": {"schema": object_schema({"data": me})}}},
                    **error_responses(KEY_ERRORS),
                },
            }},
            "/analytics/reconciliations": analytics_path(Service.RECONCILIATIONS, "Reconciliation"),
            "/analytics/checklists": analytics_path(Service.CHECKLISTS, "ChecklistItem"),
            "/audit-trail": AUDIT_TRAIL_PATH,
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
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Reconciliation": record_schema(DATASETS[Service.RECONCILIATIONS].fields),
                "ChecklistItem": record_schema(DATASETS[Service.CHECKLISTS].fields),
                "AuditTrailEntry": audit_trail_entry_schema(),
                "Errors": object_schema({"errors": {"type": "array", "items": error, "minItems": 1}}),
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI document, readable without a key."""
    # A relative server URL (the site of the document itself): never one built from the client's Host header.
    return document(request.script_root + bp.url_prefix)

"""The app's request class: whether a request is for the key-authenticated API or from htmx, its typed context,
and query strings that are not valid UTF-8 read rather than a 500; and which redirect targets stay on this site."""

import re
from urllib.parse import urlsplit

from flask import Request as FlaskRequest
from flask.sessions import SecureCookieSessionInterface

from floqast.web.context import ApiContext

API_PREFIX = "/api/"
_NON_ASCII = re.compile(rb"[\x80-\xff]")


class Request(FlaskRequest):
    def __init__(self, environ, *args, **kwargs):
        super().__init__(environ, *args, **kwargs)
        self.context = ApiContext()
        # Werkzeug decodes the raw query string as strict UTF-8 (for args, full_path, url), so a raw 0xff byte,
        # which curl sends and gunicorn passes on as it is, raised UnicodeDecodeError wherever it was read.
        # Percent-encode such bytes once: args then keeps them percent-encoded, as it does for "%ff".
        try:
            self.query_string.decode()
        except UnicodeDecodeError:
            self.query_string = _NON_ASCII.sub(lambda match: b"%%%02X" % match[0][0], self.query_string)

    @property
    def is_api(self) -> bool:
        """A request for /api/: authenticated by its key header, never by a cookie."""
        return self.path.startswith(API_PREFIX)

    @property
    def is_htmx(self) -> bool:
        """A request htmx sent (for part of a page, or a history restore)."""
        return self.headers.get("HX-Request") == "true"


def same_site_path(target: str | None) -> str | None:
    """`target` when it is a path of this site ("/settings/api-keys?status=all"), else None: never a way off it."""
    if not target:
        return None
    # Browsers read a backslash as "/" and drop tabs and newlines: "/\evil.example" is "//evil.example".
    if "\\" in target or any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


class BrowserSessionInterface(SecureCookieSessionInterface):
    """Session cookies are for the pages: an API request neither reads one nor is sent one."""

    def open_session(self, app, request):
        if request.is_api:
            return self.null_session_class()
        return super().open_session(app, request)

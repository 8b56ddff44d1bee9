"""The app's request class: whether a request is for the key-authenticated API, and query strings that are
not valid UTF-8 read rather than a 500."""

import re

from flask import Request as FlaskRequest
from flask.sessions import SecureCookieSessionInterface

API_PREFIX = "/api/"
_NON_ASCII = re.compile(rb"[\x80-\xff]")


class Request(FlaskRequest):
    def __init__(self, environ, *args, **kwargs):
        super().__init__(environ, *args, **kwargs)
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


class BrowserSessionInterface(SecureCookieSessionInterface):
    """Session cookies are for the pages: an API request neither reads one nor is sent one."""

    def open_session(self, app, request):
        if request.is_api:
            return self.null_session_class()
        return super().open_session(app, request)

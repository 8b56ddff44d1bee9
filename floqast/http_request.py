"""The app's request class: a query string that is not valid UTF-8 is read, not a 500."""

import re

from flask import Request as FlaskRequest

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

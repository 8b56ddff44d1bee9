"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import sys

from floqast import create_app
from floqast.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"error: {error}")

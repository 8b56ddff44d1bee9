"""The FloQast Open API keys service."""

import os
from pathlib import Path

from flask import Flask, request

from floqast.config import key_peppers, overrides_of, read_settings, require_secrets
from floqast.extensions import csrf, db, migrate
from floqast.web.converters import IdConverter
from floqast.web.request import BrowserSessionInterface, Request


def create_app(config: type | None = None) -> Flask:
    """Build the app: settings (the environment's now, `config`'s UPPERCASE attributes over them), extensions,
    blueprints, error pages and CLI commands."""
    root = Path(__file__).resolve().parent.parent
    settings = read_settings(os.environ, overrides_of(config))
    # The instance folder (dev secrets, default SQLite file): INSTANCE_PATH, else instance/ in the checkout.
    instance_path = Path(settings["INSTANCE_PATH"] or root / "instance").resolve()
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(root / "templates"),
        static_folder=str(root / "static"),
    )
    app.request_class = Request
    app.url_map.converters["id"] = IdConverter  # before any route uses <id:...>
    app.session_interface = BrowserSessionInterface()
    app.config.update(settings)
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        app.config["SQLALCHEMY_DATABASE_URI"] or f"sqlite:///{Path(app.instance_path) / 'floqast.sqlite'}"
    )
    require_secrets(app)
    app.config["KEY_PEPPERS"] = key_peppers(app.config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.debug and "SESSION_COOKIE_SECURE" not in os.environ:
        app.config["SESSION_COOKIE_SECURE"] = False  # flask run --debug serves plain http

    from floqast import pool, usage, webhooks
    from floqast.auth import login_manager
    from floqast.keys import cache
    from floqast.ratelimit import limits
    from floqast.web import security

    security.init_app(app)  # first, so that its headers go on last, on every response
    pool.configure(app)
    db.init_app(app)
    pool.init_app(app)
    migrate.init_app(app, db, directory=str(root / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limits.init_app(app)
    cache.init_app(app)  # after the limiter: its Redis holds the key change mark
    usage.init_app(app)
    webhooks.init_app(app)

    @app.before_request
    def check_csrf():
        # Browser sessions need CSRF checks; the API authenticates with a header key, not a cookie.
        if not request.is_api:
            csrf.protect()

    from floqast import api, auth, cli, health, home, key_requests, settings
    from floqast.web import errors

    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(key_requests.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    errors.init_app(app)
    cli.init_app(app)
    return app

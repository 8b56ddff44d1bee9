"""The database goes away mid-run and comes back: the API answers 503 JSON with Retry-After, the pages a clear
error page, and both recover without a restart.

The shared PostgreSQL server is never stopped: the app under test reaches it through a TCP forwarder on
loopback that this test runs, and "the database is down" is that forwarder dropping every connection and
refusing new ones; "restarted" is it accepting again on the same port.
"""

import os
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

from floqast.config import database_url
from floqast.keys.models import Service
from helpers import REDIS_URL, log_in, on_redis, terminate_other_connections

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith(("postgres://", "postgresql://")),
    reason="database faults are tested on PostgreSQL: set DATABASE_URL=postgresql://... (CI does)",
)


class Forwarder:
    """A TCP port forwarder on 127.0.0.1 to the database, which can drop everything and come back."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = None
        self.listener = None
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(16)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while self.listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.settimeout(None)
            with self.lock:
                self.connections |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source, target) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def stop(self) -> None:
        """The database is gone: refuse new connections and cut every open one."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
        with self.lock:
            connections, self.connections = self.connections, set()
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def forwarder():
    parts = urlsplit(DATABASE_URL)
    proxy = Forwarder((parts.hostname or "127.0.0.1", parts.port or 5432))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxied_app(make_app, forwarder):
    """A second app on the same database (its tables made by `app`), reached through the forwarder."""
    return app_through(make_app, forwarder)


def app_through(make_app, forwarder, **settings):
    """An app on the test database reached through the forwarder, with `settings`."""
    parts = urlsplit(DATABASE_URL)
    netloc = (f"{parts.username}@" if parts.username else "") + f"127.0.0.1:{forwarder.port}"
    if parts.password:
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{forwarder.port}"

    return make_app(
        schema=False,  # the test database's tables, made by `app`; and no connection before the test's own
        SQLALCHEMY_DATABASE_URI=database_url(urlunsplit(parts._replace(netloc=netloc))),
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 3}},
        **settings,
    )


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    [error] = response.get_json()["errors"]
    assert error["status"] == "503"
    assert error["title"] == "Service Unavailable"
    assert "reach the database" in error["detail"]


def assert_unavailable_page(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert "We can&#39;t reach the database right now" in body or "We can't reach the database right now" in body
    assert "Traceback" not in body


def test_database_down_then_back(app, admin, make_key, proxied_app, forwarder):
    _, plaintext = make_key(admin, services=list(Service))
    api = proxied_app.test_client()
    browser = proxied_app.test_client()
    log_in(browser, admin)
    pulls = {"x-api-key": plaintext}

    assert api.get("/api/v1/me", headers=pulls).status_code == 200
    assert browser.get("/settings/api-keys").status_code == 200

    forwarder.stop()  # down mid-run: pooled connections are cut, new ones refused
    for path in ("/api/v1/me", "/api/v1/analytics/reconciliations", "/api/v1/analytics/checklists"):
        assert_unavailable_json(api.get(path, headers=pulls))
    assert_unavailable_page(browser.get("/settings/api-keys"))
    htmx = browser.get("/settings/api-keys?status=all", headers={"HX-Request": "true"})
    assert htmx.status_code == 503
    assert htmx.headers["HX-Retarget"] == "#flash"
    assert htmx.get_data(as_text=True) == (  # the message alone, for the page's flash region
        '<p class="notice error" role="alert">We can&#39;t reach the database right now. '
        "Nothing you did caused this; try again in a moment.</p>"
    )

    forwarder.start()  # back, on the same port: the same app recovers without a restart
    assert api.get("/api/v1/me", headers=pulls).status_code == 200
    assert api.get("/api/v1/analytics/checklists", headers=pulls).status_code == 200
    assert browser.get("/settings/api-keys").status_code == 200

    forwarder.stop()  # and again: a restart, not only a first failure
    assert_unavailable_json(api.get("/api/v1/me", headers=pulls))
    forwarder.start()
    assert api.get("/api/v1/me", headers=pulls).status_code == 200


@on_redis
def test_in_the_production_shape_a_restart_gives_503s_and_no_500_then_recovers(app, admin, make_key, make_app,
                                                                                forwarder):
    """With Redis, workers keep the keys they checked: a pull that needs nothing more of the database is answered
    through the outage; every other gets its 503."""
    _, plaintext = make_key(admin, services=list(Service))
    api = app_through(make_app, forwarder, RATELIMIT_STORAGE_URI=REDIS_URL,
                      RATELIMIT_NAMESPACE=f"test-pg-faults-{os.getpid()}").test_client()
    pulls = {"x-api-key": plaintext}
    assert api.get("/api/v1/me", headers=pulls).status_code == 200

    forwarder.stop()
    assert api.get("/api/v1/me", headers=pulls).status_code == 200  # its key kept, its Last used written a moment ago
    for path in ("/api/v1/analytics/reconciliations", "/api/v1/analytics/checklists"):
        assert_unavailable_json(api.get(path, headers=pulls))
    forwarder.start()
    for path in ("/api/v1/me", "/api/v1/analytics/reconciliations", "/api/v1/analytics/checklists"):
        assert api.get(path, headers=pulls).status_code == 200


def test_nothing_listening_then_the_real_database(app, admin, make_key, proxied_app, forwarder):
    """An app that starts while the database is unreachable serves 503s, then works once it is there."""
    _, plaintext = make_key(admin)
    forwarder.stop()
    api = proxied_app.test_client()
    assert_unavailable_json(api.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}))
    browser = proxied_app.test_client()
    log_in(browser, admin)
    assert_unavailable_page(browser.get("/settings/api-keys"))
    forwarder.start()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    assert browser.get("/settings/api-keys").status_code == 200


# ---------------------------------------------------------------- the pool's ping; a connection lost since its last use


class Pings(list):
    """The pool's pings, and the time pool.clock says (`now`)."""

    now = 1000.0


@pytest.fixture
def pings(app, monkeypatch):
    """The pool's pings from now on, with pool.clock stopped until the test moves it."""
    from floqast import pool
    from floqast.extensions import db

    sent = Pings()
    ping = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda connection: sent.append(connection) or ping(connection))
    monkeypatch.setattr(pool, "clock", lambda: sent.now)
    return sent


def test_a_connection_used_moments_ago_is_not_pinged_one_idle_longer_is(app, admin, make_key, api_get, pings):
    _, plaintext = make_key(admin)
    assert api_get("/api/v1/me", plaintext).status_code == 200
    pings.clear()

    pings.now += app.config["DATABASE_PING_AFTER_IDLE_SECONDS"] / 2
    assert api_get("/api/v1/me", plaintext).status_code == 200
    assert pings == []  # checked in moments ago: the pull's only round trip is its SELECT

    pings.now += app.config["DATABASE_PING_AFTER_IDLE_SECONDS"] * 2
    assert api_get("/api/v1/me", plaintext).status_code == 200
    assert len(pings) == 1  # idle longer: pinged before use


def test_a_connection_lost_since_its_last_use_costs_a_pull_nothing(app, admin, make_key, api_get, pings):
    """The database restarted moments after the connection's last use: no ping finds it dead, so the key check's
    SELECT does; it is sent once more on a new connection."""
    _, plaintext = make_key(admin)
    assert api_get("/api/v1/me", plaintext).status_code == 200
    assert terminate_other_connections() >= 1

    pings.clear()
    assert api_get("/api/v1/me", plaintext).status_code == 200
    assert pings == []  # not pinged (within the window): the SELECT found the connection dead, and was retried
    assert api_get("/api/v1/me", plaintext).status_code == 200


def test_a_lost_connection_found_by_the_ping_is_replaced(app, admin, make_key, api_get, pings):
    _, plaintext = make_key(admin)
    assert api_get("/api/v1/me", plaintext).status_code == 200
    assert terminate_other_connections() >= 1

    pings.now += app.config["DATABASE_PING_AFTER_IDLE_SECONDS"] * 2
    assert api_get("/api/v1/me", plaintext).status_code == 200
    assert len(pings) >= 1  # idle: pinged, found dead, and replaced before the SELECT

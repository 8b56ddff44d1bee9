"""Under gunicorn with the README's gunicorn.conf.py, over-long URLs and headers reach the app's own 414 and 431."""

import http.client
import json
import os
from pathlib import Path

import pytest

from floqast import create_app
from floqast.config import TestConfig
from floqast.extensions import db
from floqast.ratelimits import MAX_HEADER_BYTES, MAX_URL_LENGTH
from floqast.security import CONTENT_SECURITY_POLICY
from helpers import ME, free_port, gunicorn_serving

ROOT = Path(__file__).resolve().parents[1]


def get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    """A GET sent as written (urllib would quote or refuse some of what these tests send); body read."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """`gunicorn -c gunicorn.conf.py wsgi:app` on a free loopback port and a SQLite file of its own."""
    database = tmp_path_factory.mktemp("gunicorn") / "app.sqlite"

    class FileConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{database}"

    with create_app(FileConfig).app_context():
        db.create_all()
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "gunicorn-test-secret-key",
        "API_KEY_PEPPER": "gunicorn-test-pepper",
        "DATABASE_URL": f"sqlite:///{database}",
        "WEB_CONCURRENCY": "1",
    }
    with gunicorn_serving(port, env):
        yield port


def assert_the_apps_error(response, status: int, mentions: str) -> None:
    assert response.status == status, response.body[:300]
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY
    [error] = json.loads(response.body)["errors"]
    assert error["status"] == str(status) and mentions in error["detail"]


def test_an_overlong_url_gets_the_apps_414(gunicorn):
    path = f"{ME}?padding={'p' * 5000}"
    assert len(path) > max(MAX_URL_LENGTH, 4094)  # past the app's cap, and past gunicorn's default request line
    assert_the_apps_error(get(gunicorn, path), 414, "URL is longer than")


def test_a_9_kib_header_gets_the_apps_431(gunicorn):
    headers = {"X-Padding": "p" * 9 * 1024}
    assert len(headers["X-Padding"]) > max(MAX_HEADER_BYTES, 8190)  # past the app's cap and gunicorn's default
    assert_the_apps_error(get(gunicorn, ME, headers), 431, "headers are larger than")


def test_a_page_gets_the_apps_431_with_its_security_headers(gunicorn):
    response = get(gunicorn, "/login", {"X-Padding": "p" * 9 * 1024})
    assert response.status == 431
    assert response.getheader("Content-Type").startswith("text/html")
    assert response.getheader("Content-Security-Policy") == CONTENT_SECURITY_POLICY

"""End-to-end fixtures: the app on a loopback port with its own SQLite file, Debian's Chromium, axe-core.

The tests skip, saying why, when Chromium or the playwright package is missing. Chromium comes from Debian
(`apt-get install chromium`); playwright and axe-core (the axe.min.js that axe-playwright-python ships) come
from requirements-dev.txt.
"""

import itertools
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib.resources import files
from pathlib import Path

import pytest

from floqast.accounts.models import Role, Team, User
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys.models import ANALYTICS_SERVICES, ApiKey
from floqast.keys.policy import KeyPolicy
from helpers import issue_key, serving, sqlite_file_app

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "e2e password for everyone"
_team_numbers = itertools.count(1)


# ---- the app ----

@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The app on a fresh SQLite file of its own, whatever DATABASE_URL the rest of the suite uses."""
    return sqlite_file_app(tmp_path_factory.mktemp("e2e") / "e2e.sqlite",
                           SECRET_KEY="e2e-secret-key-not-for-production",
                           API_KEY_PEPPER="e2e-pepper-not-for-production")


@pytest.fixture(scope="session")
def base_url(app):
    """The app served by werkzeug in a thread on a free loopback port."""
    with serving(app) as url:
        yield url


@dataclass
class Seeded:
    """One team of its own per test, so that counts and names never depend on another test."""

    app: object
    team_id: int
    team_name: str
    admin_email: str
    admin_name: str
    manager_email: str
    keys: dict = field(default_factory=dict)

    def today(self) -> date:
        with self.app.app_context():
            return db.session.get(Team, self.team_id).today()

    def key(self, name: str) -> ApiKey:
        """The team's newest key with this name, detached with its team loaded."""
        with self.app.app_context():
            key = db.session.scalars(
                db.select(ApiKey).where(ApiKey.team_id == self.team_id, ApiKey.name == name)
                .order_by(ApiKey.id.desc())
            ).first()
            if key is not None:
                key.team  # noqa: B018  (load it before the session closes)
                db.session.expunge(key)
            return key

    def set_key_policy(self, policy: KeyPolicy) -> None:
        """Give the team an API key policy, as an admin would on its page."""
        with self.app.app_context():
            db.session.get(Team, self.team_id).key_policy = policy
            db.session.commit()

    def add_key(self, name: str, *, services=ANALYTICS_SERVICES, expires_in: int | None = 90, created_days_ago=0,
                last_used: timedelta | None = None, deleted_days_ago: int | None = None,
                exposed_days_ago: int | None = None, revoked_because: str | None = None, **fields) -> str:
        """Give the team a key made by its admin; returns the plaintext. Deleted by the admin, or with
        `revoked_because`, revoked for that reason (reported as leaked). Other fields (description,
        last_used_ip, ...) are set as given."""
        with self.app.app_context():
            team = db.session.get(Team, self.team_id)
            admin = User.by_email(self.admin_email)
            now = utcnow()
            key, plaintext = issue_key(
                admin, name, services,
                expires_on=None if expires_in is None else team.today() + timedelta(days=expires_in),
                created_at=now - timedelta(days=created_days_ago),
                last_used_at=None if last_used is None else now - last_used,
                exposed_in_url_at=None if exposed_days_ago is None else now - timedelta(days=exposed_days_ago),
                **fields,
            )
            if deleted_days_ago is not None:
                key.deleted_at = now - timedelta(days=deleted_days_ago)
                key.deleted_by, key.deactivated_reason = (admin, None) if revoked_because is None else (
                    None, revoked_because)
            db.session.commit()
        self.keys[name] = plaintext
        return plaintext


@pytest.fixture
def seeded(app, request) -> Seeded:
    """A fresh team with Open API on, an Admin and a Manager."""
    number = next(_team_numbers)
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    with app.app_context():
        team = Team(name=f"E2E Team {number}", open_api_enabled=True, timezone="America/New_York")
        admin = User(team=team, role=Role.ADMIN, email=f"admin-{number}-{slug}@e2e.test", name="Ada Admin")
        manager = User(team=team, role=Role.MANAGER, email=f"manager-{number}@e2e.test", name="Max Manager")
        for user in (admin, manager):
            user.set_password(PASSWORD, app.config["BCRYPT_ROUNDS"])
        db.session.add_all([team, admin, manager])
        db.session.commit()
        return Seeded(app, team.id, team.name, admin.email, admin.name, manager.email)


@pytest.fixture
def lived_in(seeded):
    """A key in every status: two active (one expiring soon), one expired, two deactivated; some used."""
    seeded.add_key("Power BI connector", created_days_ago=40, last_used=timedelta(hours=3))
    seeded.add_key("Snowflake nightly", expires_in=3, created_days_ago=80, last_used=timedelta(days=2))
    seeded.add_key("Tableau pilot", expires_in=-10, created_days_ago=120, last_used=timedelta(days=30))
    seeded.add_key("Contractor laptop", created_days_ago=60, deleted_days_ago=8)
    seeded.add_key("Old export", expires_in=None, created_days_ago=300, deleted_days_ago=100)
    return seeded


# ---- the browser ----

@pytest.fixture(scope="session")
def playwright_api():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"end-to-end tests need Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="end-to-end tests need the playwright package (pip install -r requirements-dev.txt)",
    )
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_api):
    browser = playwright_api.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


def _new_context(browser, base_url, **options):
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = browser.new_context(base_url=base_url, locale="en-US", **options)
    context.set_default_timeout(10_000)
    return context


# Runs in every document before its own scripts. The browser fires securitypolicyviolation for whatever the
# policy refused, logged or not; each one goes straight to the test, so a navigation right after loses none.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(`${event.violatedDirective} refused ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || document.location.href}:${event.lineNumber}: ${event.sample}`);
});
"""


def screenshot_name(node) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_")


@pytest.fixture
def make_page(browser, base_url, request):
    """Open pages in new browser contexts; each page's last state is saved as the test's screenshot.

    Every page lists the Content-Security-Policy violations of each document it loads in page.csp_violations,
    and the browser's own dialogs (alert, confirm, prompt) in page.native_dialogs, dismissed: the test fails if
    any happened. Every confirmation is the app's own dialog.
    """
    pages = []

    def make(**context_options):
        context = _new_context(browser, base_url, **context_options)
        page = context.new_page()
        page.e2e_javascript = context_options.get("java_script_enabled", True)
        page.csp_violations = []
        page.native_dialogs = []
        page.on("dialog", lambda dialog: (page.native_dialogs.append(f"{dialog.type}: {dialog.message}"),
                                          dialog.dismiss()))
        page.expose_function("reportCspViolation", lambda violation: page.csp_violations.append(violation))
        page.add_init_script(REPORT_CSP_VIOLATIONS)
        pages.append(page)
        return page

    request.node.e2e_pages = pages
    for stale in SCREENSHOTS.glob(f"{screenshot_name(request.node)}-failed*.png"):
        stale.unlink()
    yield make
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(pages):
        suffix = "" if index == 0 else f"-{index + 1}"
        if not page.is_closed():
            page.screenshot(path=SCREENSHOTS / f"{screenshot_name(request.node)}{suffix}.png", full_page=True)
        page.context.close()
    assert [violation for page in pages for violation in page.csp_violations] == []
    assert [dialog for page in pages for dialog in page.native_dialogs] == []


@pytest.fixture
def page(make_page, base_url):
    """A page in a fresh context that may use the clipboard."""
    page = make_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    return page


@pytest.fixture
def shot(request):
    """Save a screenshot of a step: test-artifacts/screenshots/<test-name>-<step>.png."""

    def save(page, step: str, full_page=True):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{screenshot_name(request.node)}-{step}.png", full_page=full_page)

    return save


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test saves what its pages showed at the moment it failed."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(getattr(item, "e2e_pages", [])):
        if page.is_closed():
            continue
        path = SCREENSHOTS / f"{screenshot_name(item)}-failed{'' if index == 0 else f'-{index + 1}'}.png"
        try:
            page.screenshot(path=path, full_page=True)
        except Exception as error:  # the browser may be what failed; the report matters more
            report.sections.append(("e2e screenshot", f"could not save {path}: {error}"))
        else:
            report.sections.append(("e2e screenshot", str(path)))


# ---- axe-core ----

@pytest.fixture(scope="session")
def axe_source(browser) -> str:
    """axe-core as the axe-playwright-python package (requirements-dev.txt) ships it."""
    return (files("axe_playwright_python") / "axe.min.js").read_text()


@pytest.fixture
def axe(axe_source, browser, base_url, request):
    """Run axe-core on a page (or part of it) and fail on serious or critical violations.

    A page without JavaScript cannot run axe: its markup, scripts removed, is checked in a page that can.
    """
    helpers = []
    (ROOT / "test-artifacts" / "axe" / f"{screenshot_name(request.node)}.txt").unlink(missing_ok=True)

    def check(page, context: str | None = None) -> list:
        if not getattr(page, "e2e_javascript", True):
            html = re.sub(r"<script\b.*?</script>", "", page.content(), flags=re.S | re.I)
            if not helpers:
                helpers.append(_new_context(browser, base_url).new_page())
            page = helpers[0]
            page.goto("/login")
            page.set_content(html)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated over the DevTools protocol: a <script> tag with the source inline would be refused
            # by the pages' Content-Security-Policy (script-src 'self').
            page.evaluate(axe_source + "\n;undefined")
        results = page.evaluate(
            "async (context) => axe.run(context ? document.querySelector(context) : document,"
            " {resultTypes: ['violations']})",
            context,
        )
        violations = results["violations"]
        # Every finding, minor ones included, for people to read: test-artifacts/axe/<test-name>.txt.
        report = ROOT / "test-artifacts" / "axe" / f"{screenshot_name(request.node)}.txt"
        report.parent.mkdir(parents=True, exist_ok=True)
        with report.open("a") as out:
            out.write(f"{page.url} {context or ''}: {len(violations)} violation(s)\n")
            for v in violations:
                out.write(f"  {v['impact']}: {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]}\n")
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not bad, "axe found serious or critical violations:\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in bad
        )
        return violations

    yield check
    for helper in helpers:
        helper.context.close()


# ---- what every page owes the screen ----

PHONE_AND_LAPTOP = {"1280": {"width": 1280, "height": 900}, "375": {"width": 375, "height": 812}}


def assert_fits(page, dialog=None) -> None:
    """Nothing wider than the screen: the page, and the dialog inside it."""
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways at {width}px"
    if dialog is not None:
        box = dialog.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width


# ---- steps people take ----

def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def pull(base_url, key) -> tuple[int, dict]:
    """GET /api/v1/me with the key, as curl would from this machine (127.0.0.1, where the test server listens):
    the status and the JSON body."""
    request = urllib.request.Request(f"{base_url}/api/v1/me", headers={"x-api-key": key})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def fill_create_form(dialog, name="Looker", expiration="90 days", services=("Reconciliation Analytics",),
                     custom_date=None) -> None:
    """Fill in the Create New Key dialog like a person (without submitting it)."""
    dialog.get_by_label("New API Key Name").fill(name)
    dialog.get_by_label("Expiration", exact=True).select_option(label=expiration)
    if custom_date is not None:
        dialog.get_by_label("Expiration date").fill(custom_date)
    for service in services:
        dialog.get_by_label(service).check()


def confirm_in_dialog(page, opener: str, title: str, button: str):
    """Click the button named `opener`, check that the app's dialog `title` opens with focus in it, and confirm it
    with its `button`."""
    page.get_by_role("button", name=opener, exact=True).click()
    dialog = page.get_by_role("dialog", name=title)
    dialog.wait_for()
    assert dialog.evaluate("dialog => dialog.contains(document.activeElement)")
    dialog.get_by_role("button", name=button, exact=True).click()
    return dialog


@pytest.fixture(name="log_in")
def log_in_fixture():
    return log_in


@pytest.fixture
def admin_page(page, seeded):
    """A page signed in as the seeded team's Admin, on the API Keys tab."""
    log_in(page, seeded.admin_email)
    page.wait_for_url("**/settings/api-keys")
    return page

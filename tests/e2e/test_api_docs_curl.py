"""The API documentation page's curl commands, copied from the browser and run in a shell as printed."""

import csv
import io
import json
import shutil
import subprocess

import pytest

from floqast.analytics.generate import Profile, generate
from floqast.analytics.periods import last_closed_month
from floqast.extensions import db
from floqast.models import Team

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="these tests run curl, which is not installed")


@pytest.fixture
def last_month_books(seeded) -> tuple[int, int]:
    """Close data for the month the team closed last, which the page's examples ask for; (year, month)."""
    with seeded.app.app_context():
        team = db.session.get(Team, seeded.team_id)
        closed = last_closed_month(team.today())
        generate(team, Profile(entities=(("Docs Ltd", "USD"),), accounts=150, months=1, through=closed, seed=5,
                               people=("Avery", "Blake")))
    return closed


def run_in_shell(command: str, key: str, folder) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=folder, env={"PATH": "/usr/bin:/bin", "FLOQAST_API_KEY": key},
                          capture_output=True, text=True, timeout=30)


def test_the_documented_curl_commands_work_as_printed(admin_page, seeded, last_month_books, tmp_path):
    year, month = last_month_books
    key = seeded.add_key("Docs reader")
    admin_page.get_by_role("link", name="API documentation").first.click()
    admin_page.wait_for_url("**/settings/api-docs")

    commands = admin_page.locator("pre code").all_inner_texts()
    assert len(commands) == 6  # a walk over the pages, JSON and CSV for each service, then the audit trail
    trail_command = commands.pop()

    walk = run_in_shell(commands.pop(0), key, tmp_path)  # 150 reconciliations, 100 a page: follows links.next once
    assert walk.returncode == 0, walk.stderr
    walked = [json.loads(line) for line in walk.stdout.splitlines()]
    assert len({record["id"] for record in walked}) == len(walked) == 150
    assert {(record["period"]["year"], record["period"]["month"]) for record in walked} == {(year, month)}

    for command in commands:
        result = run_in_shell(command, key, tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        if "text/csv" not in command:
            records = json.loads(result.stdout)["data"]
            assert records and {(record["period"]["year"], record["period"]["month"]) for record in records} == {
                (year, month)}
    trail = run_in_shell(trail_command, key, tmp_path)
    assert trail.returncode == 0, trail.stderr
    entries = json.loads(trail.stdout)["data"]
    pulled = [entry for entry in entries if entry["uri"].startswith("/api/v1/analytics/")]
    assert len(pulled) == 6 and {entry["meta"]["status"] for entry in pulled} == {"200"}  # 2 walk pages, 4 pulls
    assert {entry["sourceIp"] for entry in pulled} == {"127.0.0.1"}
    files = sorted(path.name for path in tmp_path.iterdir())
    assert files == [f"checklists-{year}-{month:02d}.csv", f"reconciliations-{year}-{month:02d}.csv"]
    for path in tmp_path.iterdir():
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert rows and {(row["period.year"], row["period.month"]) for row in rows} == {(str(year), str(month))}

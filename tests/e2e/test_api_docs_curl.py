"""The API documentation page's curl commands, copied from the browser and run in a shell as printed."""

import csv
import io
import json
import shutil
import subprocess

import pytest

from floqast.accounts.models import Team
from floqast.analytics.generate import Profile, generate
from floqast.analytics.periods import last_closed_month
from floqast.extensions import db
from floqast.keys.models import Service

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
    # a walk over the pages, a JSON page through allowRedirect (curl -L), JSON and CSV for each service, the audit
    # trail, a key rolling itself, the key list and a key's usage, then reporting a leaked key
    assert len(commands) == 10 and "allowRedirect=true" in commands[1]
    report_leak, key_list, self_roll, trail_command = (commands.pop() for _ in range(4))

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
    # 2 walk pages, the allowRedirect 303 and its download, 4 pulls
    assert sorted(entry["meta"]["status"] for entry in pulled) == ["200"] * 7 + ["303"]
    assert {entry["sourceIp"] for entry in pulled} == {"127.0.0.1"}
    files = sorted(path.name for path in tmp_path.iterdir() if path.is_file())
    assert files == [f"checklists-{year}-{month:02d}.csv", f"reconciliations-{year}-{month:02d}.csv"]
    for path in tmp_path.glob("*.csv"):
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert rows and {(row["period.year"], row["period.month"]) for row in rows} == {(str(year), str(month))}

    scripted = seeded.add_key("Rolls itself", self_roll_allowed=True)
    rolled = run_in_shell(self_roll, scripted, tmp_path)
    assert rolled.returncode == 0, rolled.stderr
    new_key = json.loads(rolled.stdout)["data"]["apiKey"]
    assert run_in_shell(commands[0], new_key, tmp_path).returncode == 0
    reviewer = seeded.add_key("Access review", services=[Service.KEY_ADMINISTRATION])
    review_folder = tmp_path / "review"
    review_folder.mkdir()
    listed = run_in_shell(key_list.replace("KEY_ID", str(seeded.key("Docs reader").id)), reviewer, review_folder)
    assert listed.returncode == 0, listed.stderr
    active = list(csv.DictReader(io.StringIO((review_folder / "api-keys.csv").read_text())))
    assert {"Docs reader", "Rolls itself", "Access review"} <= {row["name"] for row in active}
    assert {row["status"] for row in active} == {"active"}
    assert sum(day["succeeded"] for day in json.loads(listed.stdout)["data"]) >= 7

    # Last, as it ends the key: as printed it reports a placeholder; with the key pasted in, the key is revoked.
    for command in (report_leak, report_leak.replace("fq_PASTE_THE_KEY_YOU_FOUND", key)):
        result = run_in_shell(command, key, tmp_path)
        assert result.returncode == 0 and json.loads(result.stdout) == {"data": {"received": 1}}, result.stderr
    refused = run_in_shell(commands[0], key, tmp_path)
    assert "reported as leaked" in refused.stdout

"""The analytics commands: deterministic generation, all-or-nothing import, exact decimals end to end."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from floqast.accounts.models import Team
from floqast.analytics.filters import Filters
from floqast.analytics.models import ChecklistItem, Entity, Folder, Reconciliation
from floqast.analytics.periods import last_closed_month, months_through, period_end
from floqast.analytics.records import DATASETS
from floqast.cli.demo import DEMO_BOOKS, seed_demo_analytics
from floqast.extensions import db
from floqast.keys.models import ANALYTICS_SERVICES, Service

GENERATE = ["analytics", "generate", "--entities", "2", "--accounts", "9", "--months", "2", "--through", "2025-02"]


def records_of(team_name: str, service: Service) -> list[dict]:
    """A team's records in CSV form without the ids and times the database assigns."""
    dataset, skip = DATASETS[service], {"id", "entity.id", "folder.id", "createdAt", "updatedAt"}
    team = db.session.scalar(select(Team).where(Team.name == team_name))
    rows = db.session.execute(dataset.query(team.id, Filters(), team.today()))
    return [{k: v for k, v in dataset.flat_record(row).items() if k not in skip} for row in rows]


def test_generate_is_deterministic_for_a_seed(runner, make_team):
    for name in ("One", "Two", "Other seed"):
        make_team(name)
    for name, seed in (("One", "5"), ("Two", "5"), ("Other seed", "6")):
        result = runner.invoke(args=[*GENERATE, "--team", name, "--seed", seed])
        assert result.exit_code == 0, result.output
        assert "Made 36 reconciliations and 40 checklist items" in result.output
    for service in ANALYTICS_SERVICES:
        assert records_of("One", service) == records_of("Two", service) != records_of("Other seed", service)


def test_generate_refuses_a_team_with_data_and_an_unknown_team(runner, team):
    assert runner.invoke(args=[*GENERATE, "--team", team.name]).exit_code == 0
    again = runner.invoke(args=[*GENERATE, "--team", team.name])
    assert again.exit_code == 1 and "already has close data" in again.output
    assert runner.invoke(args=[*GENERATE, "--team", "Nobody"]).exit_code == 1


def export_csv(client, key, service: Service) -> str:
    response = client.get(f"/api/v1/analytics/{service.value}", headers={"x-api-key": key, "Accept": "text/csv"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def acme_export(runner, client, team, admin, make_key, tmp_path):
    """Acme's generated books, exported as the API's CSV files."""
    assert runner.invoke(args=[*GENERATE, "--team", team.name]).exit_code == 0
    key = make_key(admin)[1]
    paths = {}
    for service in ANALYTICS_SERVICES:
        paths[service] = tmp_path / f"{service.value}.csv"
        paths[service].write_text(export_csv(client, key, service))
    return paths


@pytest.mark.parametrize("service", ANALYTICS_SERVICES)
def test_an_export_imports_into_another_team_unchanged(runner, make_team, acme_export, service):
    make_team("Globex")
    result = runner.invoke(args=["analytics", "import", service.value, "--team", "Globex", str(acme_export[service])])
    assert result.exit_code == 0, result.output
    assert records_of("Globex", service) == records_of("Acme Corp", service)


def test_text_neutralised_against_formulas_in_an_export_imports_as_it_was(runner, client, make_team, team, admin,
                                                                           make_key, tmp_path):
    assert runner.invoke(args=[*GENERATE, "--team", team.name]).exit_code == 0
    hostile = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "'=1", "'quoted", "plain"]
    items = db.session.scalars(select(ChecklistItem).order_by(ChecklistItem.id).limit(len(hostile))).all()
    for item, text in zip(items, hostile, strict=True):
        item.description, item.tags = text, [text, "month-end"]
    db.session.commit()
    exported = export_csv(client, make_key(admin)[1], Service.CHECKLISTS)
    assert "'=1+1" in exported and "''=1" in exported
    path = tmp_path / "checklists.csv"
    path.write_text(exported)
    make_team("Globex")
    result = runner.invoke(args=["analytics", "import", "checklists", "--team", "Globex", str(path)])
    assert result.exit_code == 0, result.output
    assert records_of("Globex", Service.CHECKLISTS) == records_of("Acme Corp", Service.CHECKLISTS)
    globex = select(ChecklistItem).join(Team, Team.id == ChecklistItem.team_id).where(Team.name == "Globex")
    imported = db.session.scalars(globex.order_by(ChecklistItem.id).limit(len(hostile))).all()
    assert [(item.description, item.tags) for item in imported] == [(text, [text, "month-end"]) for text in hostile]


def test_parts_neutralised_after_semicolons_and_line_breaks_import_as_they_were(runner, client, make_team, team,
                                                                                admin, make_key, tmp_path):
    assert runner.invoke(args=[*GENERATE, "--team", team.name]).exit_code == 0
    texts = [("Review;=1+1", ["month-end", "=1+1", "'quoted"]), ('a;"=2;;', ["@SUM(1)", '"=2']),
             ("line\n-3\n'", ["ok", "'=1", "+4"]), ("a;'b;'=c", ["-"])]
    items = db.session.scalars(select(ChecklistItem).order_by(ChecklistItem.id).limit(len(texts))).all()
    for item, (description, tags) in zip(items, texts, strict=True):
        item.description, item.tags = description, tags
    db.session.commit()
    exported = export_csv(client, make_key(admin)[1], Service.CHECKLISTS)
    assert "Review;'=1+1" in exported and "month-end;'=1+1;''quoted" in exported
    path = tmp_path / "checklists.csv"
    path.write_text(exported)
    make_team("Globex")
    result = runner.invoke(args=["analytics", "import", "checklists", "--team", "Globex", str(path)])
    assert result.exit_code == 0, result.output
    globex = select(ChecklistItem).join(Team, Team.id == ChecklistItem.team_id).where(Team.name == "Globex")
    imported = db.session.scalars(globex.order_by(ChecklistItem.id).limit(len(texts))).all()
    assert [(item.description, item.tags) for item in imported] == texts


def test_reimporting_updates_instead_of_duplicating(runner, team, acme_export):
    before = db.session.scalar(select(func.count()).select_from(Reconciliation))
    path = acme_export[Service.RECONCILIATIONS]
    result = runner.invoke(args=["analytics", "import", "reconciliations", "--team", team.name, str(path)])
    assert result.exit_code == 0 and f"0 new, {before} updated" in result.output
    assert db.session.scalar(select(func.count()).select_from(Reconciliation)) == before


def csv_text(header: list[str], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, header)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def test_decimals_stay_exact_from_import_to_json_csv_and_back(runner, client, team, admin, make_key, tmp_path):
    columns = DATASETS[Service.RECONCILIATIONS].columns
    amounts = ["-1234.50", "99999999999999.99", "0.01", "-0.10"]
    rows = [{
        "entity.name": "Exact Ltd", "folder.name": "Cash", "period.month": "4", "period.year": "2025",
        "accountNumber": f"10{index}", "accountName": "Money market", "currency": "USD",
        "glBalance": amount, "reconciledBalance": "0.10", "reconcilingItems": "0",
        "signatures.preparer.dueDate": "2025-05-05", "signatures.reviewer.dueDate": "2025-05-10",
    } for index, amount in enumerate(amounts)]
    source = tmp_path / "in.csv"
    source.write_text(csv_text(columns, rows))
    result = runner.invoke(args=["analytics", "import", "reconciliations", "--team", team.name, str(source)])
    assert result.exit_code == 0

    stored = db.session.scalars(select(Reconciliation.gl_balance).order_by(Reconciliation.id)).all()
    assert stored == [Decimal(amount) for amount in amounts]
    key = make_key(admin)[1]
    data = client.get("/api/v1/analytics/reconciliations", headers={"x-api-key": key}).get_json()["data"]
    assert [record["glBalance"] for record in data] == amounts
    assert [record["difference"] for record in data] == ["-1234.60", "99999999999999.89", "-0.09", "-0.20"]
    exported = export_csv(client, key, Service.RECONCILIATIONS)
    assert [row["glBalance"] for row in csv.DictReader(io.StringIO(exported))] == amounts

    again = tmp_path / "again.csv"
    again.write_text(exported)
    result = runner.invoke(args=["analytics", "import", "reconciliations", "--team", team.name, str(again)])
    assert result.exit_code == 0 and "0 new, 4 updated" in result.output
    assert db.session.scalars(select(Reconciliation.gl_balance).order_by(Reconciliation.id)).all() == stored


def test_one_bad_row_imports_nothing_and_every_bad_row_is_reported(runner, make_team, acme_export, tmp_path):
    globex = make_team("Globex")
    rows = list(csv.DictReader(io.StringIO(acme_export[Service.CHECKLISTS].read_text())))
    rows[2]["period.month"] = "13"
    rows[4]["signatures.preparer.dueDate"] = "next week"
    rows[5]["frequency"] = "Daily"
    rows[6]["signatures.reviewer.signedBy"] = ""
    rows[6]["signatures.reviewer.signedDate"] = "2025-03-01T10:00:00Z"
    rows[7]["description"] = ""
    rows[8] = dict(rows[1])
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text(DATASETS[Service.CHECKLISTS].columns, rows))

    result = runner.invoke(args=["analytics", "import", "checklists", "--team", "Globex", str(bad)])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "Row 4: period.month must be 1 to 12" in result.output
    assert "Row 6: signatures.preparer.dueDate: 'next week' is not a date" in result.output
    assert "Row 7: frequency must be one of Monthly, Quarterly, Annually" in result.output
    assert "Row 8: signatures.reviewer.signedBy and signedDate go together" in result.output
    assert "Row 9: description is required" in result.output
    assert "Row 10: the same record as row 3" in result.output
    assert "Nothing was imported: 6 problem(s)" in result.output
    assert db.session.scalar(select(func.count()).select_from(Entity).where(Entity.team_id == globex.id)) == 0
    items = select(func.count()).select_from(ChecklistItem).where(ChecklistItem.team_id == globex.id)
    assert db.session.scalar(items) == 0


def test_a_file_with_wrong_columns_is_refused(runner, team, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("id,entity.name,colour\n1,North,blue\n")
    result = runner.invoke(args=["analytics", "import", "reconciliations", "--team", team.name, str(path)])
    assert result.exit_code == 1
    assert "Header: missing columns folder.name" in result.output
    assert "Header: unknown columns colour" in result.output


def test_the_demo_books_fill_both_teams_once(make_team):
    for name in DEMO_BOOKS:
        make_team(name)
    seed_demo_analytics()
    counts = dict(db.session.execute(
        select(Team.name, func.count(Reconciliation.id)).join(Reconciliation, Reconciliation.team_id == Team.id)
        .group_by(Team.name)).all())
    assert counts == {"Acme Corp": 3 * 150 * 12, "Globex": 2 * 40 * 6}
    seed_demo_analytics()
    assert db.session.scalar(select(func.count()).select_from(Reconciliation)) == sum(counts.values())
    folders = set(db.session.scalars(select(Folder.name)))
    assert {"Cash", "Accounts Receivable", "Prepaids", "Fixed Assets", "Accrued Liabilities", "Equity"} <= folders


def test_generate_keeps_account_numbers_unique_past_200_accounts_a_folder(runner, team):
    result = runner.invoke(args=["analytics", "generate", "--team", team.name, "--entities", "1",
                                 "--accounts", "1300", "--months", "1", "--through", "2025-06"])

    assert result.exit_code == 0, result.output
    numbers = db.session.scalars(select(Reconciliation.account_number)).all()
    assert len(numbers) == len(set(numbers)) == 1300
    assert {"1000", "1199", "1000-1", "3000-1"} <= set(numbers)


def test_periods_run_across_the_turn_of_the_year():
    assert last_closed_month(date(2025, 1, 15)) == (2024, 12)
    assert last_closed_month(date(2025, 3, 1)) == (2025, 2)
    assert months_through((2025, 2), 4) == [(2024, 11), (2024, 12), (2025, 1), (2025, 2)]
    assert period_end(2024, 2) == date(2024, 2, 29) and period_end(2024, 12) == date(2024, 12, 31)

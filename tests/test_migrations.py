"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

A model change without a migration (or a migration that drifts from the models) fails here.
"""

from datetime import date

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import column, insert, inspect, select
from sqlalchemy import table as table_named

from floqast.accounts.models import Role, Team, User
from floqast.columns import utcnow
from floqast.extensions import db
from floqast.keys import tokens
from floqast.usage.models import ApiRequest
from floqast.usage.partitions import include_name, is_partition, month_of, next_month, partition_name
from helpers import CLIENT_IP, ME, RECONCILIATIONS, issue_key, key_by_plaintext

# The migration that redacts keys the request log kept inside a parameter.
REDACTS_KEYS_INSIDE_PARAMETERS = "fb9987f3bcb6"


def scripts(app) -> ScriptDirectory:
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def head_revision(app) -> str:
    return scripts(app).get_current_head()


def schema_differences() -> list:
    """What autogenerate would put in a new migration: empty when the database matches the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True,
                                                               "include_name": include_name})
        return compare_metadata(context, db.metadata)


def test_upgrade_builds_the_schema_of_the_models(app, empty_db):
    flask_migrate.upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    partitions = {name for name in tables if is_partition(name)}
    assert tables - set(db.metadata.tables) - partitions == {"alembic_version"}
    assert schema_differences() == []
    if db.engine.dialect.name == "postgresql":  # the request log's current and next month
        this_month = month_of(utcnow())
        assert partitions == {partition_name(this_month), partition_name(next_month(this_month))}
    else:
        assert partitions == set()


def test_upgrade_ends_at_the_single_head(app, empty_db):
    flask_migrate.upgrade()
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head_revision(app)
    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_downgrade_to_base_and_upgrade_again(app, empty_db):
    flask_migrate.upgrade()
    flask_migrate.downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    flask_migrate.upgrade()
    assert schema_differences() == []


def test_the_migrated_schema_holds_the_models_and_enforces_uniqueness(app, empty_db):
    flask_migrate.upgrade()
    team = Team(name="Acme Corp", timezone="America/Los_Angeles", open_api_enabled=True)
    user = User(team=team, email="admin@acme.test", name="Alex", role=Role.ADMIN, password_hash="x" * 60)
    key, plaintext = issue_key(user, name="BI", expires_on=date(2030, 1, 1), pepper=b"pepper", last_used_at=utcnow())
    db.session.add_all([team, user])
    db.session.commit()
    db.session.expire_all()

    found = key_by_plaintext(plaintext, b"pepper")
    assert found.id == key.id
    assert found.services == ["reconciliations", "checklists"]
    assert found.last_used_at.tzinfo is not None
    assert found.team.name == "Acme Corp"
    assert found.created_by.role is Role.ADMIN

    unique = {index["column_names"][0] for index in inspect(db.engine).get_unique_constraints("api_keys")}
    unique |= {index["column_names"][0] for index in inspect(db.engine).get_indexes("api_keys") if index["unique"]}
    assert "digest" in unique


def test_the_comparison_notices_a_model_change_without_a_migration(app, empty_db):
    """Guard for the guard: a column the migrations lack, or a changed type, shows up as a difference."""
    from sqlalchemy import Column, MetaData, String

    flask_migrate.upgrade()
    changed = MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["api_keys"].append_column(Column("note", String(200)))
    changed.tables["teams"].c.name.type = String(150)
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, changed)
    kinds = {difference[0] if isinstance(difference, tuple) else difference[0][0] for difference in differences}
    assert "add_column" in kinds
    assert "modify_type" in kinds


def test_upgrade_redacts_keys_the_request_log_kept_inside_parameters(app, empty_db):
    flask_migrate.upgrade(revision=scripts(app).get_revision(REDACTS_KEYS_INSIDE_PARAMETERS).down_revision)
    key = tokens.generate()
    percent_encoded = "".join(f"%{ord(char):02X}" for char in key)
    kept_and_redacted = {
        f"{RECONCILIATIONS}?filter[entityIds]=1,{key}&page[size]=5": f"{RECONCILIATIONS}?filter[entityIds]=REDACTED"
                                                                     "&page[size]=5",
        f"{RECONCILIATIONS}?authorization=Bearer%20{key}": f"{RECONCILIATIONS}?authorization=REDACTED",
        f"{RECONCILIATIONS}?filter[{key}]=1": f"{RECONCILIATIONS}?REDACTED=1",
        f"{ME}?q=%22{percent_encoded}%22": f"{ME}?q=REDACTED",
        f"/api/v1/downloads/link-{key}": "/api/v1/downloads/REDACTED",
        f"{ME}?page[cursor]=WyJhdWRpdC10cmFpbCJdfq_x&filter[x]=REDACTED": None,  # no key: left as it is
        f"{RECONCILIATIONS}?filter[month]=May&filter[year]=2025": None,
    }
    # Rows as the log wrote them at that revision: only its columns (later ones, such as refusal, are not there yet).
    logged_then = table_named("api_requests", *map(column, ("created_at", "team_id", "api_key_id", "method", "uri",
                                                      "source_ip", "status")))
    db.session.execute(insert(logged_then), [
        {"created_at": utcnow(), "team_id": 1, "api_key_id": 2, "method": "GET", "uri": uri, "source_ip": CLIENT_IP,
         "status": 200} for uri in kept_and_redacted])
    db.session.commit()
    flask_migrate.upgrade()
    logged = db.session.scalars(select(ApiRequest.uri).order_by(ApiRequest.id)).all()
    assert logged == [redacted or kept for kept, redacted in kept_and_redacted.items()]

"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL.

A model change without a migration (or a migration that drifts from the models) fails here.
"""

from datetime import date

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from floqast.extensions import db
from floqast.models import ApiKey, Role, Team, User, utcnow
from floqast.usage.request_log import include_name, is_partition, month_of, next_month, partition_name
from helpers import issue_key


def head_revision(app) -> str:
    config = app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


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

    found = ApiKey.by_plaintext(plaintext, b"pepper")
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

"""Index (team_id, id) on reconciliations and checklist_items, for a team's records in id order

The cursor's walk and the CSV export read a team's records in id order; without this index the first page
sorted all of the team's rows.

Revision ID: d4e8a1b93c2f
Revises: cb73c6fbedae
Create Date: 2026-11-27 11:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd4e8a1b93c2f'
down_revision = 'cb73c6fbedae'
branch_labels = None
depends_on = None

TABLES = ('reconciliations', 'checklist_items')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_team_id_id', ['team_id', 'id'], unique=False)


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_team_id_id')

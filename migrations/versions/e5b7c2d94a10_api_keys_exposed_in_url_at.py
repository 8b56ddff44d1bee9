"""api_keys.exposed_in_url_at: when a key of ours was first seen in a refused URL

Revision ID: e5b7c2d94a10
Revises: d4e8a1b93c2f
Create Date: 2026-12-02 13:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b7c2d94a10'
down_revision = 'd4e8a1b93c2f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exposed_in_url_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('exposed_in_url_at')

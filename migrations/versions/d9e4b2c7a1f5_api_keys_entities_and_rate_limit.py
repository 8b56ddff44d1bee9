"""api_keys.entity_ids and rate_limit_per_minute: keys limited to chosen entities, with a rate limit of their own

Revision ID: d9e4b2c7a1f5
Revises: c4e1b7d9a2f3
Create Date: 2026-12-06 03:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'd9e4b2c7a1f5'
down_revision = 'c4e1b7d9a2f3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('entity_ids', sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column('rate_limit_per_minute', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('rate_limit_per_minute')
        batch.drop_column('entity_ids')

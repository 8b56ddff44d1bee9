"""Index api_keys.replaced_by_id: the key list joins each key to the key it replaced

Revision ID: c4e1b7d9a2f3
Revises: a7d3e9c2b5f1
Create Date: 2026-12-06 02:30:00

"""
from alembic import op

revision = 'c4e1b7d9a2f3'
down_revision = 'a7d3e9c2b5f1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_api_keys_replaced_by_id', 'api_keys', ['replaced_by_id'])


def downgrade():
    op.drop_index('ix_api_keys_replaced_by_id', table_name='api_keys')

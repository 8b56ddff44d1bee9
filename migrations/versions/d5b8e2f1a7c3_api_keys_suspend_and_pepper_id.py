"""api_keys: suspended_at, suspended_by_id and suspended_reason (a key paused by an admin), and pepper_id (the
pepper its digest was made under; every key so far: pepper 1, API_KEY_PEPPER)

Revision ID: d5b8e2f1a7c3
Revises: d5a8e2f4c7b1
Create Date: 2026-12-06 03:45:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'd5b8e2f1a7c3'
down_revision = 'd5a8e2f4c7b1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pepper_id', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suspended_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('suspended_reason', sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_suspended_by_id_users'), 'users',
                                    ['suspended_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_suspended_by_id_users'), type_='foreignkey')
        batch_op.drop_column('suspended_reason')
        batch_op.drop_column('suspended_by_id')
        batch_op.drop_column('suspended_at')
        batch_op.drop_column('pepper_id')

"""api_keys.deactivated_reason: why a key was deactivated when no admin deleted it (reported as leaked)

Revision ID: f7c3a9e1d2b4
Revises: 96cf9c860f36
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f7c3a9e1d2b4'
down_revision = '96cf9c860f36'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_reason', sa.String(length=300), nullable=True))


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('deactivated_reason')

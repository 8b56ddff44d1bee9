"""teams.require_key_expiration and teams.max_key_lifetime_days: the team's API key policy

Revision ID: f3a9d1c6b2e8
Revises: e5b7c2d94a10
Create Date: 2026-12-02 17:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3a9d1c6b2e8'
down_revision = 'e5b7c2d94a10'
branch_labels = None
depends_on = None


def upgrade():
    # Existing teams get No limit; the default is only for them, as the model sets the value itself.
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('require_key_expiration', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('max_key_lifetime_days', sa.Integer(), nullable=True))
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.alter_column('require_key_expiration', server_default=None)


def downgrade():
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('max_key_lifetime_days')
        batch_op.drop_column('require_key_expiration')

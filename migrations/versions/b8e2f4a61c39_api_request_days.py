"""api_request_days: each key's requests per day, counted with each batch of the request log

Revision ID: b8e2f4a61c39
Revises: f3a9c1d27e60
Create Date: 2026-12-02 18:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8e2f4a61c39'
down_revision = 'f3a9c1d27e60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_request_days',
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('succeeded', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('team_id', 'api_key_id', 'day', name=op.f('pk_api_request_days')),
    )
    # Days already in the log are not counted: the chart starts with the batches written from now on.


def downgrade():
    op.drop_table('api_request_days')

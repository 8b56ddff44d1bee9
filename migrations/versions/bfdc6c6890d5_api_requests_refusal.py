"""api_requests.refusal: why a key's request was refused, for the Activity page to say it in words

Revision ID: bfdc6c6890d5
Revises: fb9987f3bcb6
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'bfdc6c6890d5'
down_revision = 'fb9987f3bcb6'
branch_labels = None
depends_on = None


def upgrade():
    # On PostgreSQL the partitioned table passes the column on to every month's partition.
    op.add_column('api_requests', sa.Column('refusal', sa.String(length=16), nullable=True))
    # Rows logged before have none: the Activity page says why only for a 429 among them.


def downgrade():
    op.drop_column('api_requests', 'refusal')

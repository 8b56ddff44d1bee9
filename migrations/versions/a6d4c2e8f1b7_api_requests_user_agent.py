"""api_requests.user_agent: the User-Agent each logged request sent, for a key page's Where it is used

Revision ID: a6d4c2e8f1b7
Revises: b8e2f4a61c39
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a6d4c2e8f1b7'
down_revision = 'b8e2f4a61c39'
branch_labels = None
depends_on = None


def upgrade():
    # On PostgreSQL the partitioned table passes the column on to every partition.
    op.add_column('api_requests', sa.Column('user_agent', sa.String(length=255), nullable=True))


def downgrade():
    op.drop_column('api_requests', 'user_agent')

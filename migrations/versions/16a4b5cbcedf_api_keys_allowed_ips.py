"""api_keys.allowed_ips: the networks a key may be pulled from; audit_events.detail long enough for their changes

Revision ID: 16a4b5cbcedf
Revises: f3a9d1c7b2e4
Create Date: 2026-12-02 17:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '16a4b5cbcedf'
down_revision = 'f3a9d1c7b2e4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('allowed_ips', sa.String(length=1000), nullable=True))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('detail', existing_type=sa.String(length=1100), type_=sa.String(length=2000),
                              existing_nullable=True)


def downgrade():
    op.execute("UPDATE audit_events SET detail = substr(detail, 1, 1100) WHERE length(detail) > 1100")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('detail', existing_type=sa.String(length=2000), type_=sa.String(length=1100),
                              existing_nullable=True)
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('allowed_ips')

"""A page per key: api_keys.description and last_used_user_agent, room for before and after in
audit_events.detail, and an index for one key's audit events

Revision ID: c7d2a9e41f03
Revises: f3a9d1c6b2e8
Create Date: 2026-12-02 17:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d2a9e41f03'
down_revision = 'f3a9d1c6b2e8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('last_used_user_agent', sa.String(length=255), nullable=True))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('detail', existing_type=sa.String(length=200), type_=sa.String(length=1100),
                              existing_nullable=True)
        batch_op.create_index('ix_audit_events_api_key_id_created_at', ['api_key_id', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_api_key_id_created_at')
        batch_op.alter_column('detail', existing_type=sa.String(length=1100), type_=sa.String(length=200),
                              existing_nullable=True, postgresql_using='left(detail, 200)')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('last_used_user_agent')
        batch_op.drop_column('description')

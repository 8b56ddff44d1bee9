"""Keys that roll themselves: api_keys.self_roll_allowed ("Scripts may roll this key") and key_self_rolls

Revision ID: d5a8e2f4c7b1
Revises: 5e7a2c1d9b40
Create Date: 2026-12-06 03:40:00

"""
from alembic import op
import sqlalchemy as sa

revision = 'd5a8e2f4c7b1'
down_revision = '5e7a2c1d9b40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('self_roll_allowed', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        'key_self_rolls',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('replacement_id', sa.Integer(), nullable=False),
        sa.Column('idempotency_digest', sa.String(length=64), nullable=False),
        sa.Column('sealed_key', sa.String(length=255), nullable=True),
        sa.Column('sealed_until', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id']),
        sa.ForeignKeyConstraint(['replacement_id'], ['api_keys.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('api_key_id'),
    )
    op.create_index('ix_key_self_rolls_replacement_id', 'key_self_rolls', ['replacement_id'])
    op.create_index('ix_key_self_rolls_sealed_until', 'key_self_rolls', ['sealed_until'])


def downgrade():
    op.drop_index('ix_key_self_rolls_sealed_until', table_name='key_self_rolls')
    op.drop_index('ix_key_self_rolls_replacement_id', table_name='key_self_rolls')
    op.drop_table('key_self_rolls')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('self_roll_allowed')

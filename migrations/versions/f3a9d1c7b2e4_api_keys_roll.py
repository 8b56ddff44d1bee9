"""api_keys.replaced_by_id and roll_ends_at: a rolled key's replacement and the end of its overlap

Revision ID: f3a9d1c7b2e4
Revises: c7d2a9e41f03
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3a9d1c7b2e4'
down_revision = 'c7d2a9e41f03'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaced_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('roll_ends_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_keys_replaced_by_id_api_keys'), 'api_keys',
                                    ['replaced_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_keys_replaced_by_id_api_keys'), type_='foreignkey')
        batch_op.drop_column('roll_ends_at')
        batch_op.drop_column('replaced_by_id')

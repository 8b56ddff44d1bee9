"""Reasons kept whole (a leak's URL of any length), and why a notice was not sent

api_keys.deactivated_reason, key_notices.reason and audit_events.detail lose their length: a GitHub report's URL
is stored whole (a bounded column made a long one fail the whole report on PostgreSQL). key_notices gets
failed_at and failure: when and why a notice could not be built or sent.

Revision ID: a7d3e9c2b5f1
Revises: bfdc6c6890d5
Create Date: 2026-12-04 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7d3e9c2b5f1'
down_revision = 'bfdc6c6890d5'
branch_labels = None
depends_on = None

# (table, column, its length before)
WHOLE = [('api_keys', 'deactivated_reason', 300), ('key_notices', 'reason', 200), ('audit_events', 'detail', 2000)]


def upgrade():
    # On PostgreSQL, VARCHAR(n) to VARCHAR rewrites no row; SQLite copies each table.
    for table, column, length in WHOLE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(length=length), type_=sa.String(),
                                  existing_nullable=True)
    with op.batch_alter_table('key_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failure', sa.String(length=1000), nullable=True))


def downgrade():
    with op.batch_alter_table('key_notices', schema=None) as batch_op:
        batch_op.drop_column('failure')
        batch_op.drop_column('failed_at')
    for table, column, length in WHOLE:
        # What no longer fits is cut to the old length, as the code of then did.
        op.execute(f"UPDATE {table} SET {column} = substr({column}, 1, {length}) WHERE length({column}) > {length}")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.String(), type_=sa.String(length=length),
                                  existing_nullable=True)

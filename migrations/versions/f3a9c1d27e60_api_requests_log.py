"""api_requests: the API request log, partitioned by month on PostgreSQL

Revision ID: f3a9c1d27e60
Revises: f7c3a9e1d2b4
Create Date: 2026-12-02 17:45:00.000000

"""
from datetime import date, datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3a9c1d27e60'
down_revision = 'f7c3a9e1d2b4'
branch_labels = None
depends_on = None


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def make_partition(connection, month: date) -> None:
    """The log's partition for `month` (UTC), as the app names and bounds them."""
    start, end = (datetime.combine(day, datetime.min.time(), timezone.utc) for day in (month, next_month(month)))
    connection.execute(sa.text(
        f"CREATE TABLE IF NOT EXISTS api_requests_{month:%Y_%m} PARTITION OF api_requests "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    ))


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    # PostgreSQL: the partition key belongs in the primary key; SQLite: id alone numbers new rows.
    primary_key = ('id', 'created_at') if postgresql else ('id',)
    op.create_table(
        'api_requests',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('uri', sa.Text(), nullable=False),
        sa.Column('source_ip', sa.String(length=45), nullable=True),
        sa.Column('status', sa.SmallInteger(), nullable=False),
        sa.Column('service', sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint(*primary_key, name=op.f('pk_api_requests')),
        postgresql_partition_by='RANGE (created_at)',
    )
    op.create_index('ix_api_requests_team_id_id', 'api_requests', ['team_id', 'id'], unique=False)
    op.create_index('ix_api_requests_api_key_id_id', 'api_requests', ['api_key_id', 'id'], unique=False)
    if postgresql:
        this_month = datetime.now(timezone.utc).date().replace(day=1)
        for month in (this_month, next_month(this_month)):
            make_partition(op.get_bind(), month)


def downgrade():
    op.drop_index('ix_api_requests_api_key_id_id', table_name='api_requests')
    op.drop_index('ix_api_requests_team_id_id', table_name='api_requests')
    op.drop_table('api_requests')

"""api_request_hours, api_request_addresses: a key's requests by hour and by address; log indexes for scale

Revision ID: d91f4b2a7c63
Revises: d5a8e2f7c913
Create Date: 2026-12-06 03:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'd91f4b2a7c63'
down_revision = 'd5a8e2f7c913'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_request_hours',
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('hour', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('succeeded', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('first_id', sa.BigInteger(), nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('team_id', 'hour', 'api_key_id', name=op.f('pk_api_request_hours')),
    )
    # The hours already in the log are counted from it, so that a key's last 24 hours and the lists' date ranges
    # see them (hours since the Unix epoch, UTC).
    if op.get_bind().dialect.name == 'postgresql':
        hour = "floor(extract(epoch FROM created_at) / 3600)::integer"
    else:
        hour = "CAST(strftime('%s', created_at) AS INTEGER) / 3600"
    op.execute(
        "INSERT INTO api_request_hours (team_id, hour, api_key_id, succeeded, refused, failed, first_id, last_id) "
        f"SELECT team_id, {hour}, api_key_id, "
        "sum(CASE WHEN status < 400 THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status IN (401, 403, 429) THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status >= 400 AND status NOT IN (401, 403, 429) THEN 1 ELSE 0 END), min(id), max(id) "
        f"FROM api_requests GROUP BY team_id, {hour}, api_key_id"
    )
    op.create_table(
        'api_request_addresses',
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('api_key_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('source_ip', sa.String(length=45), nullable=False),
        sa.Column('requests', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.Column('last_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('team_id', 'api_key_id', 'day', 'source_ip', name=op.f('pk_api_request_addresses')),
    )
    day = "(created_at AT TIME ZONE 'UTC')::date" if op.get_bind().dialect.name == 'postgresql' else "date(created_at)"
    op.execute(
        "INSERT INTO api_request_addresses (team_id, api_key_id, day, source_ip, requests, refused, last_id) "
        f"SELECT team_id, api_key_id, {day}, coalesce(source_ip, ''), count(*), "
        "sum(CASE WHEN status IN (401, 403, 429) THEN 1 ELSE 0 END), max(id) "
        f"FROM api_requests GROUP BY team_id, api_key_id, {day}, coalesce(source_ip, '')"
    )
    op.create_index('ix_api_requests_team_id_api_key_id_id', 'api_requests', ['team_id', 'api_key_id', 'id'])
    op.drop_index('ix_api_requests_api_key_id_id', table_name='api_requests')
    # Rows logged before keep None: the trail builds their entries as it did.
    op.add_column('api_requests', sa.Column('trail_entry', sa.Text(), nullable=True))
    op.create_index('ix_api_requests_created_at', 'api_requests', ['created_at'], postgresql_using='brin')


def downgrade():
    op.drop_column('api_requests', 'trail_entry')
    op.drop_index('ix_api_requests_created_at', table_name='api_requests')
    op.create_index('ix_api_requests_api_key_id_id', 'api_requests', ['api_key_id', 'id'])
    op.drop_index('ix_api_requests_team_id_api_key_id_id', table_name='api_requests')
    op.drop_table('api_request_addresses')
    op.drop_table('api_request_hours')

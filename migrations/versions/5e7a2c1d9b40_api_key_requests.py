"""Key requests: a Manager or User asks for a key, an Admin approves or denies it, the requester reveals it; notices
about a request (to its requester) in the key notices' outbox

Revision ID: 5e7a2c1d9b40
Revises: d91f4b2a7c63
Create Date: 2026-12-06 03:40:00

"""
from alembic import op
import sqlalchemy as sa

revision = '5e7a2c1d9b40'
down_revision = 'd91f4b2a7c63'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_key_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('services', sa.JSON(), nullable=False),
    sa.Column('entity_ids', sa.JSON(), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('justification', sa.String(length=1000), nullable=False),
    sa.Column('decision', sa.Enum('approved', 'denied', name='decision', native_enum=False, length=32), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('denial_reason', sa.String(length=500), nullable=True),
    sa.Column('granted_services', sa.JSON(), nullable=True),
    sa.Column('granted_entity_ids', sa.JSON(), nullable=True),
    sa.Column('granted_expires_on', sa.Date(), nullable=True),
    sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_api_key_requests_api_key_id_api_keys')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_api_key_requests_decided_by_id_users')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_api_key_requests_requested_by_id_users')),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_api_key_requests_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key_requests')),
    sa.UniqueConstraint('api_key_id', name=op.f('uq_api_key_requests_api_key_id'))
    )
    with op.batch_alter_table('api_key_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_requests_requested_by_id'), ['requested_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_key_requests_team_id'), ['team_id'], unique=False)

    with op.batch_alter_table('key_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_request_id', sa.Integer(), nullable=True))
        batch_op.alter_column('api_key_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_key_notices_api_key_request_id'), ['api_key_request_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_key_notices_api_key_request_id_api_key_requests'), 'api_key_requests', ['api_key_request_id'], ['id'])



def downgrade():
    # Notices about requests have no key, which key_notices.api_key_id requires again.
    op.execute("DELETE FROM key_notices WHERE api_key_id IS NULL")
    with op.batch_alter_table('key_notices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_key_notices_api_key_request_id_api_key_requests'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_key_notices_api_key_request_id'))
        batch_op.alter_column('api_key_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('api_key_request_id')

    with op.batch_alter_table('api_key_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_requests_team_id'))
        batch_op.drop_index(batch_op.f('ix_api_key_requests_requested_by_id'))

    op.drop_table('api_key_requests')

"""Call recording: accounts.record_calls (opt-in) and the call_recordings table

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('record_calls', sa.Boolean(), nullable=False, server_default=sa.text('false')))
    op.create_table(
        'call_recordings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sid', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('call_sid', sa.String(length=64), nullable=False),
        sa.Column('destination', sa.String(length=20), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('duration', sa.Integer(), nullable=True),
        sa.Column('channels', sa.Integer(), nullable=True),
        sa.Column('url', sa.String(length=255), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_call_recordings_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['request_id'], ['callback_requests.id'],
                                name=op.f('fk_call_recordings_request_id_callback_requests'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_call_recordings')),
        sa.UniqueConstraint('sid', name=op.f('uq_call_recordings_sid')),
    )
    with op.batch_alter_table('call_recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_recordings_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_recordings_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_recordings_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('call_recordings')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('record_calls')

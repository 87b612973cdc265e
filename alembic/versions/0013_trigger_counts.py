"""Trigger counts: each requester's triggers in its current window, one row a requester; requests are no
longer counted by caller, so their index by caller and time goes; and their index by account becomes one by
account and state

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trigger_counts',
        sa.Column('requester', sa.String(32), primary_key=True),
        sa.Column('window_start', sa.DateTime(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
    )
    # Every trigger paid for it; the limit it served now counts in trigger_counts.
    op.drop_index('ix_callback_requests_caller_id_created_at', table_name='callback_requests')
    # An account's calls in progress are counted by state: by account alone, every request it ever made is read.
    op.drop_index('ix_callback_requests_account_id', table_name='callback_requests')
    op.create_index('ix_callback_requests_account_id_state', 'callback_requests', ['account_id', 'state'])


def downgrade() -> None:
    op.drop_index('ix_callback_requests_account_id_state', table_name='callback_requests')
    op.create_index('ix_callback_requests_account_id', 'callback_requests', ['account_id'])
    op.create_index('ix_callback_requests_caller_id_created_at', 'callback_requests', ['caller_id', 'created_at'])
    op.drop_table('trigger_counts')

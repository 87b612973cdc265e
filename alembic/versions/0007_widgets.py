"""widgets, widget_visits, widget_pow_spent: the click-to-call website widget

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'widgets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_key', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('destination', sa.String(length=20), nullable=False),
        sa.Column('allowed_origins', sa.Text(), server_default='', nullable=False),
        sa.Column('ip_hourly_limit', sa.Integer(), server_default='5', nullable=False),
        sa.Column('number_daily_limit', sa.Integer(), server_default='3', nullable=False),
        sa.Column('verification', sa.String(length=8), server_default='code', nullable=False),
        sa.Column('pow_bits', sa.Integer(), server_default='16', nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("verification in ('code', 'pow', 'both')", name=op.f('ck_widgets_verification')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_widgets_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_widgets')),
        sa.UniqueConstraint('public_key', name=op.f('uq_widgets_public_key')),
    )
    op.create_index(op.f('ix_widgets_account_id'), 'widgets', ['account_id'], unique=False)
    op.create_table(
        'widget_visits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('widget_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('client_ip', sa.String(length=64), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=True),
        sa.Column('code_tries', sa.Integer(), server_default='0', nullable=False),
        sa.Column('code_expires_at', sa.DateTime(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['widget_id'], ['widgets.id'], name=op.f('fk_widget_visits_widget_id_widgets'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['request_id'], ['callback_requests.id'],
                                name=op.f('fk_widget_visits_request_id_callback_requests'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_widget_visits')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_widget_visits_token_hash')),
    )
    op.create_index('ix_widget_visits_widget_id_client_ip_created_at', 'widget_visits',
                    ['widget_id', 'client_ip', 'created_at'], unique=False)
    op.create_index('ix_widget_visits_number_created_at', 'widget_visits', ['number', 'created_at'], unique=False)
    op.create_table(
        'widget_pow_spent',
        sa.Column('nonce', sa.String(length=32), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('nonce', name=op.f('pk_widget_pow_spent')),
    )
    op.create_index(op.f('ix_widget_pow_spent_expires_at'), 'widget_pow_spent', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_widget_pow_spent_expires_at'), table_name='widget_pow_spent')
    op.drop_table('widget_pow_spent')
    op.drop_index('ix_widget_visits_number_created_at', table_name='widget_visits')
    op.drop_index('ix_widget_visits_widget_id_client_ip_created_at', table_name='widget_visits')
    op.drop_table('widget_visits')
    op.drop_index(op.f('ix_widgets_account_id'), table_name='widgets')
    op.drop_table('widgets')

"""The operator webhook's outbox, API token scopes and idempotency keys, alarms, resellers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'operator_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=36), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_events')),
        sa.UniqueConstraint('event_id', name=op.f('uq_operator_events_event_id')),
    )
    op.create_index('ix_operator_events_delivered_at_next_attempt_at', 'operator_events',
                    ['delivered_at', 'next_attempt_at'])
    # Tokens made before scopes keep what they could do ("account"); an operator's token has no account.
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scopes', sa.String(length=64), server_default='account', nullable=False))
        batch_op.alter_column('account_id', existing_type=sa.Integer(), nullable=True)
    op.create_table(
        'api_idempotency',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=50), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('response', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_api_idempotency_token_id_api_tokens'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_idempotency')),
        sa.UniqueConstraint('token_id', 'key', name='uq_api_idempotency_token_id_key'),
    )
    op.create_table(
        'alarms',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('subject', sa.String(length=80), nullable=False),
        sa.Column('value', sa.String(length=32), nullable=False),
        sa.Column('threshold', sa.String(length=32), nullable=False),
        sa.Column('raised_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('cleared_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alarms')),
    )
    op.create_index('ix_alarms_cleared_at', 'alarms', ['cleared_at'])
    op.create_table(
        'resellers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('login', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('tariff', sa.String(length=32), server_default='default', nullable=False),
        sa.Column('sell_tariff', sa.String(length=32), nullable=True),
        sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
        sa.Column('credit_limit', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('used', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('reserved', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_resellers')),
        sa.UniqueConstraint('login', name=op.f('uq_resellers_login')),
        sa.UniqueConstraint('sell_tariff', name=op.f('uq_resellers_sell_tariff')),
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reseller_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_accounts_reseller_id'), ['reseller_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_accounts_reseller_id_resellers'), 'resellers', ['reseller_id'],
                                    ['id'], ondelete='RESTRICT')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reseller_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_login_sessions_reseller_id'), ['reseller_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_login_sessions_reseller_id_resellers'), 'resellers',
                                    ['reseller_id'], ['id'], ondelete='CASCADE')
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reseller_cost', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('reseller_margin', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('operator_margin', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.drop_column('operator_margin')
        batch_op.drop_column('reseller_margin')
        batch_op.drop_column('reseller_cost')
    with op.batch_alter_table('login_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_login_sessions_reseller_id_resellers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_login_sessions_reseller_id'))
        batch_op.drop_column('reseller_id')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_accounts_reseller_id_resellers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_accounts_reseller_id'))
        batch_op.drop_column('reseller_id')
    op.drop_table('resellers')
    op.drop_index('ix_alarms_cleared_at', table_name='alarms')
    op.drop_table('alarms')
    op.drop_table('api_idempotency')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('account_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('scopes')
    op.drop_index('ix_operator_events_delivered_at_next_attempt_at', table_name='operator_events')
    op.drop_table('operator_events')

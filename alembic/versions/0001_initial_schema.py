"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('pin_hash', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False),
    sa.Column('country', sa.String(length=2), server_default='US', nullable=False),
    sa.Column('language', sa.String(length=8), server_default='en', nullable=False),
    sa.Column('default_number', sa.String(length=20), nullable=True),
    sa.Column('tariff', sa.String(length=32), server_default='default', nullable=False),
    sa.Column('callback_tariff', sa.String(length=32), server_default='default', nullable=False),
    sa.Column('reserved', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('max_concurrent', sa.Integer(), server_default='3', nullable=False),
    sa.Column('max_call_seconds', sa.Integer(), nullable=True),
    sa.Column('max_call_cost', sa.BigInteger(), nullable=True),
    sa.Column('retry_attempts', sa.Integer(), server_default='1', nullable=False),
    sa.Column('retry_delay_seconds', sa.Integer(), server_default='60', nullable=False),
    sa.Column('confirm_mode', sa.String(length=8), server_default='press1', nullable=False),
    sa.Column('caller_id_mode', sa.String(length=10), server_default='service', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("confirm_mode in ('none', 'press1', 'amd')", name=op.f('ck_accounts_confirm_mode')),
    sa.CheckConstraint("status in ('active', 'blocked')", name=op.f('ck_accounts_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('login', name=op.f('uq_accounts_login')),
    sa.UniqueConstraint('pin_hash', name=op.f('uq_accounts_pin_hash'))
    )
    op.create_table('instance_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_instance_settings'))
    )
    op.create_table('operators',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operators')),
    sa.UniqueConstraint('login', name=op.f('uq_operators_login'))
    )
    op.create_table('opt_outs',
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('number', name=op.f('pk_opt_outs'))
    )
    op.create_table('prompt_recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prompt', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('audio', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_recordings')),
    sa.UniqueConstraint('prompt', 'language', name='uq_prompt_recordings_prompt_language')
    )
    op.create_table('provider_pacing',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('next_slot_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_provider_pacing'))
    )
    op.create_table('rates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tariff', sa.String(length=32), server_default='default', nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('price_per_minute', sa.BigInteger(), nullable=False),
    sa.Column('first_increment', sa.Integer(), server_default='60', nullable=False),
    sa.Column('next_increment', sa.Integer(), server_default='60', nullable=False),
    sa.Column('connection_fee', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rates')),
    sa.UniqueConstraint('tariff', 'prefix', name='uq_rates_tariff_prefix')
    )
    op.create_table('sms_gateways',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_gateways')),
    sa.UniqueConstraint('name', name=op.f('uq_sms_gateways_name'))
    )
    op.create_table('ani_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('sends', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_ani_verifications_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ani_verifications')),
    sa.UniqueConstraint('account_id', 'number', name='uq_ani_verifications_account_id_number')
    )
    with op.batch_alter_table('ani_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ani_verifications_account_id'), ['account_id'], unique=False)

    op.create_table('anis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('verified', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_anis_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anis')),
    sa.UniqueConstraint('number', name=op.f('uq_anis_number'))
    )
    with op.batch_alter_table('anis', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_anis_account_id'), ['account_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), server_default='', nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_api_tokens_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_account_id'), ['account_id'], unique=False)

    op.create_table('auth_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('requester', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_auth_failures_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_failures'))
    )
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.create_index('ix_auth_failures_account_id_at', ['account_id', 'at'], unique=False)
        batch_op.create_index('ix_auth_failures_requester_at', ['requester', 'at'], unique=False)

    op.create_table('balance_adjustments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('note', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_balance_adjustments_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_balance_adjustments'))
    )
    with op.batch_alter_table('balance_adjustments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_balance_adjustments_account_id'), ['account_id'], unique=False)

    op.create_table('callback_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger_kind', sa.String(length=8), nullable=False),
    sa.Column('trigger_id', sa.String(length=64), nullable=False),
    sa.Column('service_number', sa.String(length=20), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=True),
    sa.Column('caller_id', sa.String(length=32), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('needs_pin', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('leg_a_number', sa.String(length=20), nullable=True),
    sa.Column('leg_a_from', sa.String(length=20), nullable=True),
    sa.Column('leg_b_number', sa.String(length=20), nullable=True),
    sa.Column('confirm_mode', sa.String(length=8), nullable=True),
    sa.Column('notify_number', sa.String(length=20), nullable=True),
    sa.Column('notified_at', sa.DateTime(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('last_b_reason', sa.String(length=32), nullable=True),
    sa.Column('base_url', sa.String(length=255), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('leg_a_sid', sa.String(length=64), nullable=True),
    sa.Column('pin_failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('silent_prompts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('bad_destinations', sa.Integer(), server_default='0', nullable=False),
    sa.Column('calls_connected', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reserved', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_callback_requests_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_requests')),
    sa.UniqueConstraint('leg_a_sid', name=op.f('uq_callback_requests_leg_a_sid')),
    sa.UniqueConstraint('trigger_kind', 'trigger_id', name='uq_callback_requests_trigger')
    )
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callback_requests_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_callback_requests_caller_id_created_at', ['caller_id', 'created_at'], unique=False)
        batch_op.create_index('ix_callback_requests_state_due_at', ['state', 'due_at'], unique=False)

    op.create_table('destination_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind in ('allow_country', 'allow_prefix', 'deny_prefix', 'allow_type')", name=op.f('ck_destination_rules_kind')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_destination_rules_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_destination_rules'))
    )
    with op.batch_alter_table('destination_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_destination_rules_account_id'), ['account_id'], unique=False)

    op.create_table('service_numbers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('caller_id_mode', sa.String(length=10), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("mode in ('pin', 'ani', 'ani-then-pin', 'ani-and-pin', 'did')", name=op.f('ck_service_numbers_mode')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_service_numbers_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_numbers')),
    sa.UniqueConstraint('number', name=op.f('uq_service_numbers_number'))
    )
    with op.batch_alter_table('service_numbers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_numbers_account_id'), ['account_id'], unique=False)

    op.create_table('call_legs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('leg', sa.String(length=1), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=False),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('from_number', sa.String(length=32), nullable=True),
    sa.Column('to_number', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_sequence', sa.Integer(), server_default='-1', nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('billed_seconds', sa.Integer(), nullable=True),
    sa.Column('rate_prefix', sa.String(length=16), nullable=True),
    sa.Column('price_per_minute', sa.BigInteger(), nullable=True),
    sa.Column('cost', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['callback_requests.id'], name=op.f('fk_call_legs_request_id_callback_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_legs')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_call_legs_provider_sid'))
    )
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_legs_request_id'), ['request_id'], unique=False)
        batch_op.create_index('ix_call_legs_to_number_started_at', ['to_number', 'started_at'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['callback_requests.id'], name=op.f('fk_events_request_id_callback_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_request_id'), ['request_id'], unique=False)

    op.create_table('sms_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('message_id', sa.String(length=80), nullable=True),
    sa.Column('from_number', sa.String(length=32), nullable=True),
    sa.Column('to_number', sa.String(length=32), nullable=True),
    sa.Column('body', sa.String(length=1600), server_default='', nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['callback_requests.id'], name=op.f('fk_sms_messages_request_id_callback_requests'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_messages')),
    sa.UniqueConstraint('source', 'message_id', name='uq_sms_messages_source_message_id')
    )
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_messages_request_id'), ['request_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_messages_request_id'))

    op.drop_table('sms_messages')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_request_id'))

    op.drop_table('events')
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.drop_index('ix_call_legs_to_number_started_at')
        batch_op.drop_index(batch_op.f('ix_call_legs_request_id'))

    op.drop_table('call_legs')
    with op.batch_alter_table('service_numbers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_numbers_account_id'))

    op.drop_table('service_numbers')
    with op.batch_alter_table('destination_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_destination_rules_account_id'))

    op.drop_table('destination_rules')
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_callback_requests_state_due_at')
        batch_op.drop_index('ix_callback_requests_caller_id_created_at')
        batch_op.drop_index(batch_op.f('ix_callback_requests_account_id'))

    op.drop_table('callback_requests')
    with op.batch_alter_table('balance_adjustments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_balance_adjustments_account_id'))

    op.drop_table('balance_adjustments')
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_failures_requester_at')
        batch_op.drop_index('ix_auth_failures_account_id_at')

    op.drop_table('auth_failures')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_account_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('anis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_anis_account_id'))

    op.drop_table('anis')
    with op.batch_alter_table('ani_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ani_verifications_account_id'))

    op.drop_table('ani_verifications')
    op.drop_table('sms_gateways')
    op.drop_table('rates')
    op.drop_table('provider_pacing')
    op.drop_table('prompt_recordings')
    op.drop_table('opt_outs')
    op.drop_table('operators')
    op.drop_table('instance_settings')
    op.drop_table('accounts')

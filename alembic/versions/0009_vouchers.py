"""vouchers, PIN cards and low-balance notices

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'voucher_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('prefix', sa.String(length=8), server_default='', nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('disabled_at', sa.DateTime(), nullable=True),
        sa.Column('created_by', sa.String(length=80), server_default='cli', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_voucher_batches')),
    )
    op.create_table(
        'vouchers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('redeemed_at', sa.DateTime(), nullable=True),
        sa.Column('account_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_vouchers_account_id_accounts'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['batch_id'], ['voucher_batches.id'],
                                name=op.f('fk_vouchers_batch_id_voucher_batches'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
        sa.UniqueConstraint('code_hash', name=op.f('uq_vouchers_code_hash')),
    )
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.create_index('ix_vouchers_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_vouchers_batch_id', ['batch_id'], unique=False)
    op.create_table(
        'card_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('balance', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('valid_days', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_card_batches')),
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low_balance_threshold', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('low_balance_noticed', sa.Boolean(), nullable=False,
                                      server_default=sa.text('false')))
        batch_op.add_column(sa.Column('card_batch_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('card_expires_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_accounts_card_batch_id', ['card_batch_id'], unique=False)
        batch_op.create_foreign_key(op.f('fk_accounts_card_batch_id_card_batches'), 'card_batches',
                                    ['card_batch_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_accounts_card_batch_id_card_batches'), type_='foreignkey')
        batch_op.drop_index('ix_accounts_card_batch_id')
        batch_op.drop_column('card_expires_at')
        batch_op.drop_column('card_batch_id')
        batch_op.drop_column('low_balance_noticed')
        batch_op.drop_column('low_balance_threshold')
    op.drop_table('card_batches')
    with op.batch_alter_table('vouchers', schema=None) as batch_op:
        batch_op.drop_index('ix_vouchers_batch_id')
        batch_op.drop_index('ix_vouchers_account_id')
    op.drop_table('vouchers')
    op.drop_table('voucher_batches')

"""Scheduled callbacks, the account's time zone, the phonebook (speed dials), DID-direct numbers

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD_MODES = "mode in ('pin', 'ani', 'ani-then-pin', 'ani-and-pin', 'did')"
NEW_MODES = "mode in ('pin', 'ani', 'ani-then-pin', 'ani-and-pin', 'did', 'did-direct')"


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), server_default='UTC', nullable=False))
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scheduled_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('service_numbers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('destination', sa.String(length=20), nullable=True))
        batch_op.drop_constraint(op.f('ck_service_numbers_mode'), type_='check')
        batch_op.create_check_constraint(op.f('ck_service_numbers_mode'), NEW_MODES)
    op.create_table(
        'phonebook_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('code', sa.String(length=2), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_phonebook_entries_account_id_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_phonebook_entries')),
        sa.UniqueConstraint('account_id', 'code', name='uq_phonebook_entries_account_id_code'),
    )
    with op.batch_alter_table('phonebook_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phonebook_entries_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('phonebook_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phonebook_entries_account_id'))
    op.drop_table('phonebook_entries')
    # A did-direct number cannot survive the older schema's modes.
    op.execute("DELETE FROM service_numbers WHERE mode = 'did-direct'")
    with op.batch_alter_table('service_numbers', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_service_numbers_mode'), type_='check')
        batch_op.create_check_constraint(op.f('ck_service_numbers_mode'), OLD_MODES)
        batch_op.drop_column('destination')
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.drop_column('scheduled_at')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('time_zone')

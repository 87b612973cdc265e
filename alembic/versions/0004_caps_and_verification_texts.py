"""caps and verification texts: the rows that the destination and verification caps count

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'verification_texts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_verification_texts_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_texts')),
    )
    with op.batch_alter_table('verification_texts', schema=None) as batch_op:
        batch_op.create_index('ix_verification_texts_account_id_sent_at', ['account_id', 'sent_at'], unique=False)
        batch_op.create_index('ix_verification_texts_number_sent_at', ['number', 'sent_at'], unique=False)
    op.create_table(
        'destination_dials',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=20), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['request_id'], ['callback_requests.id'],
                                name=op.f('fk_destination_dials_request_id_callback_requests'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_destination_dials')),
    )
    with op.batch_alter_table('destination_dials', schema=None) as batch_op:
        batch_op.create_index('ix_destination_dials_number_at', ['number', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('destination_dials', schema=None) as batch_op:
        batch_op.drop_index('ix_destination_dials_number_at')
    op.drop_table('destination_dials')
    with op.batch_alter_table('verification_texts', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_texts_number_sent_at')
        batch_op.drop_index('ix_verification_texts_account_id_sent_at')
    op.drop_table('verification_texts')

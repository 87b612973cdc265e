"""provider price

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider_price', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('provider_price_unit', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('price_check_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('price_checks', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('status_checked_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_call_legs_ended_at', ['ended_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_legs_price_check_at'), ['price_check_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_legs_price_check_at'))
        batch_op.drop_index('ix_call_legs_ended_at')
        batch_op.drop_column('status_checked_at')
        batch_op.drop_column('price_checks')
        batch_op.drop_column('price_check_at')
        batch_op.drop_column('provider_price_unit')
        batch_op.drop_column('provider_price')

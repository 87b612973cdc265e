"""Several providers: the routing table, providers marked down, and the provider of each request and leg

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'provider_routes',
        sa.Column('prefix', sa.String(16), nullable=False),
        sa.Column('provider', sa.String(16), nullable=False),
        sa.Column('cost_per_minute', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('prefix', 'provider'),
    )
    op.create_table(
        'provider_states',
        sa.Column('provider', sa.String(16), primary_key=True),
        sa.Column('down', sa.Boolean(), nullable=False, server_default=sa.text('false')),
        sa.Column('note', sa.String(255)),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
    )
    # Rows already there were placed by the one provider configured then: NULL reads as the first of PROVIDERS.
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider', sa.String(16)))
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider', sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.drop_column('provider')
    with op.batch_alter_table('callback_requests', schema=None) as batch_op:
        batch_op.drop_column('provider')
    op.drop_table('provider_states')
    op.drop_table('provider_routes')

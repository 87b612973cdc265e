"""destination rules: allow_range, a high-risk prefix the operator lets through

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-04
"""

from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_OLD = "kind in ('allow_country', 'allow_prefix', 'deny_prefix', 'allow_type')"
_NEW = "kind in ('allow_country', 'allow_prefix', 'deny_prefix', 'allow_type', 'allow_range')"


def upgrade() -> None:
    with op.batch_alter_table('destination_rules', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_destination_rules_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_destination_rules_kind'), _NEW)


def downgrade() -> None:
    op.execute("DELETE FROM destination_rules WHERE kind = 'allow_range'")
    with op.batch_alter_table('destination_rules', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_destination_rules_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_destination_rules_kind'), _OLD)

"""Queries for destination rules (app/fraud/policy.py decides with them)."""

from __future__ import annotations

import sqlalchemy as sa

from app.data.db import Database, utcnow
from app.data.tables import destination_rules


def _owner(account_id: int | None):
    return destination_rules.c.account_id.is_(None) if account_id is None \
        else destination_rules.c.account_id == account_id


async def for_account(db: Database, *, account_id: int | None):
    """The operator-wide rules and those of the account (of no account when None)."""
    return await db.fetch_all(destination_rules.select().where(
        sa.or_(destination_rules.c.account_id.is_(None), destination_rules.c.account_id == account_id)))


async def add(db: Database, *, kind: str, value: str, account_id: int | None) -> bool:
    """Add a rule; False when it is there already."""
    existing = await db.fetch_val(sa.select(destination_rules.c.id).where(
        destination_rules.c.kind == kind, destination_rules.c.value == value, _owner(account_id)))
    if existing:
        return False
    await db.execute(destination_rules.insert().values(kind=kind, value=value, account_id=account_id,
                                                        created_at=utcnow()))
    return True


async def remove(db: Database, *, kind: str, value: str, account_id: int | None) -> bool:
    """Remove a rule; False when there was none."""
    removed = await db.fetch_all(destination_rules.delete().where(
        destination_rules.c.kind == kind, destination_rules.c.value == value, _owner(account_id),
    ).returning(destination_rules.c.id))
    return bool(removed)


async def list_all(db: Database):
    return await db.fetch_all(destination_rules.select().order_by(destination_rules.c.account_id,
                                                                  destination_rules.c.kind, destination_rules.c.value))

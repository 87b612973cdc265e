"""Queries for low-balance notices: which accounts have fallen below their threshold, claimed once.

`accounts.low_balance_noticed` is the notice's outbox flag: set by the one
conditional UPDATE that claims the notice, cleared by a top-up above the
threshold (app/data/accounts.py `top_up`). So however many charges cross the
threshold at once, and however many instances look, one notice is sent per crossing.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.data.db import Database
from app.data.tables import accounts


async def claim_crossed(db: Database, *, limit: int = 20):
    """Accounts below their threshold whose notice is not sent yet, each claimed (flag set) by this call."""
    below = sa.and_(accounts.c.low_balance_threshold.is_not(None), accounts.c.low_balance_noticed == sa.false(),
                    accounts.c.balance < accounts.c.low_balance_threshold)
    ids = [row[0] for row in await db.fetch_all(sa.select(accounts.c.id).where(below).limit(limit))]
    if not ids:
        return []
    return await db.fetch_all(accounts.update().where(accounts.c.id.in_(ids), below)
                              .values(low_balance_noticed=True).returning(*accounts.c))


async def set_threshold(db: Database, *, account_id: int, threshold: int | None) -> None:
    """A new threshold; the notice re-arms, and is sent at once if the balance is already below it."""
    await db.execute(accounts.update().where(accounts.c.id == account_id)
                     .values(low_balance_threshold=threshold, low_balance_noticed=False))

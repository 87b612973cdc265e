"""Queries for the provider's calls-per-second slots: one row per limit, holding the time of its
next free slot (app/calls/pacing.py plans the slots)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.data.db import Database
from app.data.tables import provider_pacing


async def ensure(db: Database, *, name: str) -> None:
    """The limit's row, created (next slot: 0) unless it exists."""
    dialect = postgresql if db.is_postgres else sqlite
    await db.execute(dialect.insert(provider_pacing).values(name=name, next_slot_us=0)
                     .on_conflict_do_nothing(index_elements=["name"]))


async def next_slot(db: Database, *, name: str) -> int | None:
    """The limit's next free slot (µs since the epoch); None when it has no row."""
    return await db.fetch_val(sa.select(provider_pacing.c.next_slot_us).where(provider_pacing.c.name == name))


async def swap_next_slot(db: Database, *, name: str, seen: int, new: int) -> bool:
    """Move the next free slot from `seen` to `new`, unless another dispatcher moved it first."""
    column = provider_pacing.c.next_slot_us
    swapped = await db.fetch_val(
        provider_pacing.update()
        .where(provider_pacing.c.name == name, column == seen)
        .values(next_slot_us=new)
        .returning(column)
    )
    return swapped is not None

"""The provider's calls-per-second limit, kept in the database so that it holds
for every worker of every instance together (a token bucket in each process
would let N processes dial N times the limit).

A slot is taken with one conditional update: only when the next free slot is
due (within a few milliseconds) does it move one interval on; otherwise no
slot now, and the caller tries again shortly.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from databases import Database
from sqlalchemy.dialects import postgresql, sqlite

from app.tables import provider_pacing

NAME = "calls"
TOLERANCE_US = 5_000


def now_us() -> int:
    return time.time_ns() // 1000


async def ensure(db: Database) -> None:
    dialect = postgresql if db.url.dialect.startswith("postgres") else sqlite
    await db.execute(dialect.insert(provider_pacing).values(name=NAME, next_slot_us=0)
                     .on_conflict_do_nothing(index_elements=["name"]))


async def take_slot(db: Database, *, cps: float) -> bool:
    """Take the next slot if it is due now; False if the limit says wait."""
    step = max(1, int(1_000_000 / cps))
    now = now_us()
    nxt = provider_pacing.c.next_slot_us
    got = await db.fetch_val(
        provider_pacing.update()
        .where(provider_pacing.c.name == NAME, nxt <= now + TOLERANCE_US)
        # Slots do not accumulate while idle: after a pause the next one is now.
        .values(next_slot_us=sa.case((nxt > now, nxt + step), else_=now + step))
        .returning(nxt)
    )
    return got is not None


async def seconds_to_next(db: Database) -> float:
    nxt = await db.fetch_val(sa.select(provider_pacing.c.next_slot_us).where(provider_pacing.c.name == NAME))
    return max(0.0, ((nxt or 0) - now_us()) / 1_000_000)

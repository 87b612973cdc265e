"""Counts over every instance's callbacks, for the metrics scrape (app/web/metrics.py)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.core import states
from app.data.db import Database
from app.data.tables import callback_requests


async def requests_by_state(db: Database) -> list[tuple[str, str | None, int]]:
    """(state, reason, how many) of every callback request."""
    rows = await db.fetch_all(
        sa.select(callback_requests.c.state, callback_requests.c.reason, sa.func.count())
        .group_by(callback_requests.c.state, callback_requests.c.reason)
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def due_queued(db: Database, *, now: dt.datetime) -> int:
    """Queued requests due by `now`: the depth of the queue."""
    return await db.fetch_val(sa.select(sa.func.count()).where(
        callback_requests.c.state == states.QUEUED, callback_requests.c.due_at <= now))

"""Queries for outcome notices: the request row is its own outbox (app/calls/notices.py sends)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.core import states
from app.data.db import Database
from app.data.tables import callback_requests as requests_t


async def claim_unsent(db: Database, *, now: dt.datetime, limit: int):
    """Mark up to `limit` ended requests with a number to notify as notified at `now`, and return them.

    One statement, conditional on `notified_at` still being empty: two instances never claim one notice.
    """
    return await db.fetch_all(
        requests_t.update()
        .where(requests_t.c.id.in_(
            sa.select(requests_t.c.id)
            .where(requests_t.c.notify_number.is_not(None), requests_t.c.notified_at.is_(None),
                   requests_t.c.state.in_(states.TERMINAL))
            .limit(limit)
            .scalar_subquery()
        ), requests_t.c.notified_at.is_(None))
        .values(notified_at=now)
        .returning(*requests_t.c)
    )

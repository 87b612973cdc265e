"""Queries for the operator webhook's outbox (app/calls/operator_events.py writes and sends)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.data.db import Database, storable
from app.data.tables import operator_events


async def add(db: Database, *, event_id: str, type: str, body: str, now: dt.datetime) -> None:
    """Queue one event; inside the caller's transaction when there is one, so it commits with the change."""
    await db.execute(operator_events.insert().values(
        event_id=event_id, type=type, body=body, created_at=now, next_attempt_at=now))


async def claim_due(db: Database, *, now: dt.datetime, lease_until: dt.datetime, limit: int):
    """Up to `limit` undelivered events due by `now`, each leased until `lease_until`.

    One conditional UPDATE per row: a second sender (another instance) that read the same row loses
    the race and skips it. A sender that dies with a lease out leaves the row to be retried when the
    lease runs out, so nothing is lost (it may be delivered twice; receivers dedupe on the id).
    """
    due = await db.fetch_all(
        sa.select(operator_events.c.id, operator_events.c.next_attempt_at)
        .where(operator_events.c.delivered_at.is_(None), operator_events.c.next_attempt_at <= now)
        .order_by(operator_events.c.id).limit(limit))
    claimed = []
    for row in due:
        got = await db.fetch_one(
            operator_events.update()
            .where(operator_events.c.id == row["id"], operator_events.c.delivered_at.is_(None),
                   operator_events.c.next_attempt_at == row["next_attempt_at"])
            .values(next_attempt_at=lease_until)
            .returning(*operator_events.c))
        if got is not None:
            claimed.append(got)
    return claimed


async def delivered(db: Database, *, id: int, now: dt.datetime) -> None:
    await db.execute(operator_events.update().where(operator_events.c.id == id)
                     .values(delivered_at=now, attempts=operator_events.c.attempts + 1, last_error=None))


async def failed(db: Database, *, id: int, retry_at: dt.datetime, error: str) -> None:
    await db.execute(operator_events.update().where(operator_events.c.id == id)
                     .values(next_attempt_at=retry_at, attempts=operator_events.c.attempts + 1,
                             last_error=storable(error, 255)))


async def next_due(db: Database) -> dt.datetime | None:
    """When the earliest undelivered event is due (its lease or its retry), None if all are delivered."""
    return await db.fetch_val(sa.select(sa.func.min(operator_events.c.next_attempt_at))
                              .where(operator_events.c.delivered_at.is_(None)))


async def recent(db: Database, *, limit: int = 50):
    return await db.fetch_all(operator_events.select().order_by(operator_events.c.id.desc()).limit(limit))

"""Queries for alarms: the legs they measure, and the alarm rows (app/calls/alarms.py decides)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.data.db import Database, storable
from app.data.tables import alarms, call_legs, callback_requests

# At most this many legs are read per check: a window busier than that is measured on its newest legs.
MAX_LEGS = 50_000


async def ended_legs(db: Database, *, since: dt.datetime):
    """Legs ended since `since`, newest first: to_number, answered (bool), duration_seconds, provider."""
    return await db.fetch_all(
        sa.select(call_legs.c.to_number, call_legs.c.answered_at.is_not(None).label("answered"),
                  call_legs.c.duration_seconds, call_legs.c.provider)
        .where(call_legs.c.ended_at >= since)
        .order_by(call_legs.c.ended_at.desc(), call_legs.c.id.desc()).limit(MAX_LEGS))


async def latest_answered(db: Database, *, limit: int, provider: str | None = None,
                          default: bool = True) -> list[bool]:
    """Whether each of the `limit` most recently ended legs (of `provider`, and of none when it is the
    `default` one: legs written before there were several) was answered, newest first."""
    placed_by = [] if provider is None else [
        sa.or_(call_legs.c.provider == provider, call_legs.c.provider.is_(None)) if default
        else call_legs.c.provider == provider]
    rows = await db.fetch_all(
        sa.select(call_legs.c.answered_at.is_not(None).label("answered"))
        .where(call_legs.c.ended_at.is_not(None), *placed_by)
        .order_by(call_legs.c.ended_at.desc(), call_legs.c.id.desc()).limit(limit))
    return [bool(row["answered"]) for row in rows]


async def spend_by_account(db: Database, *, since: dt.datetime, until: dt.datetime) -> dict[int, int]:
    """What each account's legs that ended in [since, until) cost, in its minor units."""
    rows = await db.fetch_all(
        sa.select(callback_requests.c.account_id, sa.func.sum(call_legs.c.cost).label("spent"))
        .select_from(call_legs.join(callback_requests, callback_requests.c.id == call_legs.c.request_id))
        .where(call_legs.c.ended_at >= since, call_legs.c.ended_at < until, call_legs.c.cost > 0,
               callback_requests.c.account_id.is_not(None))
        .group_by(callback_requests.c.account_id))
    return {row["account_id"]: int(row["spent"] or 0) for row in rows}


async def open_alarms(db: Database):
    return await db.fetch_all(alarms.select().where(alarms.c.cleared_at.is_(None)).order_by(alarms.c.id))


async def recently_cleared(db: Database, *, limit: int = 20):
    return await db.fetch_all(alarms.select().where(alarms.c.cleared_at.is_not(None))
                              .order_by(alarms.c.cleared_at.desc(), alarms.c.id.desc()).limit(limit))


async def raise_alarm(db: Database, *, kind: str, subject: str, value: str, threshold: str, now: dt.datetime) -> int:
    return await db.execute(alarms.insert().values(kind=kind, subject=storable(subject, 80), value=value,
                                                   threshold=threshold, raised_at=now, updated_at=now))


async def update_value(db: Database, *, id: int, value: str, now: dt.datetime) -> None:
    await db.execute(alarms.update().where(alarms.c.id == id).values(value=value, updated_at=now))


async def clear_alarm(db: Database, *, id: int, value: str, now: dt.datetime) -> bool:
    cleared = await db.fetch_all(alarms.update().where(alarms.c.id == id, alarms.c.cleared_at.is_(None))
                                 .values(cleared_at=now, updated_at=now, value=value).returning(alarms.c.id))
    return bool(cleared)

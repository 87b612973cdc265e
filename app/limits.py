"""Rate limits against abuse: triggers per requester, calls per destination, calls per account.

Counted from the rows the platform writes anyway (requests and legs), over
sliding windows: a requester who went over the limit is refused until enough
of their earlier triggers have aged out of the window (the cool-down).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app import states
from app.db import Database, utcnow
from app.settings import Settings
from app.tables import call_legs, callback_requests

IN_PROGRESS = (states.QUEUED, states.CALLING_A, states.A_ANSWERED, states.CALLING_B, states.CONNECTED)


async def _count(db: Database, query) -> int:
    return await db.fetch_val(query)


async def requester_over_limit(db: Database, settings: Settings, *, requester: str) -> bool:
    since = utcnow() - dt.timedelta(seconds=settings.trigger_window_seconds)
    count = await _count(db, sa.select(sa.func.count()).where(
        callback_requests.c.caller_id == requester, callback_requests.c.created_at > since))
    return count >= settings.trigger_limit


async def destination_over_limit(db: Database, settings: Settings, *, number: str) -> bool:
    since = utcnow() - dt.timedelta(days=1)
    count = await _count(db, sa.select(sa.func.count()).where(
        call_legs.c.to_number == number, call_legs.c.leg == "b", call_legs.c.started_at > since))
    return count >= settings.destination_daily_limit


async def account_over_concurrency(db: Database, *, account, excluding: int | None = None) -> bool:
    query = sa.select(sa.func.count()).where(
        callback_requests.c.account_id == account["id"], callback_requests.c.state.in_(IN_PROGRESS))
    if excluding is not None:
        query = query.where(callback_requests.c.id != excluding)
    return await _count(db, query) >= account["max_concurrent"]

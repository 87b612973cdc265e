"""Rate limits against abuse: triggers per requester, calls per destination, calls per account.

Counted from rows over sliding windows: a requester who went over the limit is
refused until enough of their earlier triggers have aged out of the window (the
cool-down). A count is only a cap if nothing can be inserted between it and the
insert it allows: callers count and insert inside `capped(...)`, which holds a
lock per subject (account, requester, destination) until the insert commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa

from app.core import states
from app.data.db import Database, utcnow
from app.core.settings import Settings
from app.data.tables import callback_requests, destination_dials

IN_PROGRESS = (states.QUEUED, states.CALLING_A, states.A_ANSWERED, states.CALLING_B, states.CONNECTED)


async def _count(db: Database, query) -> int:
    return await db.fetch_val(query)


@asynccontextmanager
async def capped(db: Database, *subjects: str) -> AsyncIterator[None]:
    """A transaction holding each subject's lock ("account:7", "requester:+1415..."):
    counts read inside it and the rows written inside it are one atomic step."""
    async with db.transaction():
        await db.lock(*(f"cap:{subject}" for subject in subjects if subject))
        yield


def account_subject(account) -> str:
    return f"account:{account['id']}"


def requester_subject(requester: str) -> str:
    return f"requester:{requester}"


def destination_subject(number: str) -> str:
    return f"destination:{number}"


async def requester_over_limit(db: Database, settings: Settings, *, requester: str) -> bool:
    since = utcnow() - dt.timedelta(seconds=settings.trigger_window_seconds)
    count = await _count(db, sa.select(sa.func.count()).where(
        callback_requests.c.caller_id == requester, callback_requests.c.created_at > since))
    return count >= settings.trigger_limit


async def destination_over_limit(db: Database, settings: Settings, *, number: str) -> bool:
    """Whether `number` had its day's share of second-party dials (see `record_dial`)."""
    since = utcnow() - dt.timedelta(days=1)
    count = await _count(db, sa.select(sa.func.count()).where(
        destination_dials.c.number == number, destination_dials.c.at > since))
    return count >= settings.destination_daily_limit


async def record_dial(db: Database, *, number: str, request_id: int | None) -> None:
    """Count one dial of `number` as leg B, when it is allowed, not when the provider
    reports the leg: parallel sessions dialling one number must see each other."""
    now = utcnow()
    # Only the last day is ever counted; older rows of this number go as new ones come.
    await db.execute(destination_dials.delete().where(destination_dials.c.number == number,
                                                      destination_dials.c.at <= now - dt.timedelta(days=1)))
    await db.execute(destination_dials.insert().values(number=number, request_id=request_id, at=now))


async def account_over_concurrency(db: Database, *, account, excluding: int | None = None) -> bool:
    query = sa.select(sa.func.count()).where(
        callback_requests.c.account_id == account["id"], callback_requests.c.state.in_(IN_PROGRESS))
    if excluding is not None:
        query = query.where(callback_requests.c.id != excluding)
    return await _count(db, query) >= account["max_concurrent"]

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

from app.core import states
from app.data import caps
from app.data.db import Database, utcnow
from app.core.settings import Settings

# Scheduled callbacks waiting for their time, per account: each was checked when asked for, so
# a flood of them would be a flood of calls later.
MAX_SCHEDULED = 20

IN_PROGRESS = (states.QUEUED, states.CALLING_A, states.A_ANSWERED, states.CALLING_B, states.CONNECTED)


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
    count = await caps.requests_from(db, requester=requester, since=since)
    return count >= settings.trigger_limit


async def destination_over_limit(db: Database, settings: Settings, *, number: str) -> bool:
    """Whether `number` had its day's share of second-party dials (see `record_dial`)."""
    since = utcnow() - dt.timedelta(days=1)
    count = await caps.dials_to(db, number=number, since=since)
    return count >= settings.destination_daily_limit


async def record_dial(db: Database, *, number: str, request_id: int | None) -> None:
    """Count one dial of `number` as leg B, when it is allowed, not when the provider
    reports the leg: parallel sessions dialling one number must see each other."""
    now = utcnow()
    # Only the last day is ever counted; older rows of this number go as new ones come.
    await caps.add_dial(db, number=number, request_id=request_id, at=now, forget_before=now - dt.timedelta(days=1))


async def account_over_concurrency(db: Database, *, account, excluding: int | None = None) -> bool:
    """Whether the account has its cap of calls in progress; a scheduled callback counts from its time on."""
    count = await caps.requests_in_states(db, account_id=account["id"], states=IN_PROGRESS, excluding=excluding,
                                          scheduled_after=utcnow())
    return count >= account["max_concurrent"]


async def account_over_scheduled(db: Database, *, account) -> bool:
    return await caps.scheduled_waiting(db, account_id=account["id"], now=utcnow()) >= MAX_SCHEDULED

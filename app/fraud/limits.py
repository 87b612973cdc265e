"""Rate limits against abuse: triggers per requester, calls per destination, calls per account.

Triggers per requester are counted by one upsert of the requester's row in
`trigger_counts`: at most TRIGGER_LIMIT in a window of TRIGGER_WINDOW_SECONDS that
opens with the requester's first trigger after the last window closed. Every
trigger counts, refused ones included (a caller ringing in a loop stays refused
until the window closes: the cool-down). The row's lock makes that one statement
exact under parallel triggers, so the trigger's own write needs no transaction.

The other caps are counted from rows over sliding windows. A count is only a cap
if nothing can be inserted between it and the insert it allows: callers count and
insert inside `capped(...)`, which holds a lock per subject (account, destination)
until the insert commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app.core import states
from app.fraud import lockouts
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


@dataclass(frozen=True)
class Counted:
    """One trigger counted against its requester's limit, and the lockout of the caller whose PIN
    may follow, read by the same statement (app/fraud/lockouts.py: `failures` of `source`)."""

    over_limit: bool
    source: str
    failures: int


async def count_trigger(db: Database, settings: Settings, *, requester: str, source: str) -> Counted:
    now = utcnow()
    count, failures = await caps.count_trigger(
        db, requester=requester, now=now, window=dt.timedelta(seconds=settings.trigger_window_seconds),
        failed_by=lockouts.source_key(source), failed_since=now - lockouts.WINDOW)
    return Counted(over_limit=count > settings.trigger_limit, source=source, failures=failures)


@dataclass(frozen=True)
class DestinationDials:
    """A number's second-party dials of the last day, against its daily cap."""

    over_limit: bool
    stale: bool  # it has older rows, to forget when the next dial is recorded


async def destination_dials(db: Database, settings: Settings, *, number: str) -> DestinationDials:
    """Whether `number` had its day's share of second-party dials (see `record_dial`)."""
    recent, older = await caps.dials_and_older(db, number=number, since=utcnow() - dt.timedelta(days=1))
    return DestinationDials(over_limit=recent >= settings.destination_daily_limit, stale=older > 0)


async def destination_over_limit(db: Database, settings: Settings, *, number: str) -> bool:
    return (await destination_dials(db, settings, number=number)).over_limit


async def record_dial(db: Database, *, number: str, request_id: int | None, stale: bool = True) -> None:
    """Count one dial of `number` as leg B, when it is allowed, not when the provider
    reports the leg: parallel sessions dialling one number must see each other.
    `stale`: the number has dials older than a day (`destination_dials` said so)."""
    now = utcnow()
    # Only the last day is ever counted; older rows of this number go as new ones come.
    await caps.add_dial(db, number=number, request_id=request_id, at=now,
                        forget_before=now - dt.timedelta(days=1) if stale else None)


async def account_over_concurrency(db: Database, *, account, excluding: int | None = None) -> bool:
    """Whether the account has its cap of calls in progress; a scheduled callback counts from its time on."""
    count = await caps.requests_in_states(db, account_id=account["id"], states=IN_PROGRESS, excluding=excluding,
                                          scheduled_after=utcnow())
    return count >= account["max_concurrent"]


async def account_over_scheduled(db: Database, *, account) -> bool:
    return await caps.scheduled_waiting(db, account_id=account["id"], now=utcnow()) >= MAX_SCHEDULED

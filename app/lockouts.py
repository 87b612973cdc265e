"""Lockouts after failed authorizations (wrong PIN, wrong password).

Counted per account (when the failure names one) and per requester (the caller
ID or sender, which is all a PIN guesser reveals), over a sliding window. A
lockout ends by itself when the window has passed, or when the operator clears it.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.db import Database, utcnow
from app.tables import auth_failures

WINDOW = dt.timedelta(hours=1)
MAX_FAILURES = 10


async def record_failure(db: Database, *, account_id: int | None, requester: str, channel: str) -> None:
    await db.execute(
        auth_failures.insert().values(account_id=account_id, requester=(requester or "unknown")[:64],
                                      channel=channel, at=utcnow())
    )


async def _count(db: Database, condition) -> int:
    since = utcnow() - WINDOW
    return await db.fetch_val(sa.select(sa.func.count()).where(condition, auth_failures.c.at > since))


async def account_locked(db: Database, *, account_id: int) -> bool:
    return await _count(db, auth_failures.c.account_id == account_id) >= MAX_FAILURES


async def requester_locked(db: Database, *, requester: str) -> bool:
    return await _count(db, auth_failures.c.requester == (requester or "unknown")[:64]) >= MAX_FAILURES


async def clear(db: Database, *, account_id: int | None = None, requester: str | None = None) -> int:
    query = auth_failures.delete()
    if account_id is not None:
        query = query.where(auth_failures.c.account_id == account_id)
    if requester is not None:
        query = query.where(auth_failures.c.requester == requester)
    return len(await db.fetch_all(query.returning(auth_failures.c.id)))


async def recent(db: Database):
    """Failed authorizations of the window, by requester and account: what an operator checks."""
    since = utcnow() - WINDOW
    return await db.fetch_all(
        sa.select(auth_failures.c.requester, auth_failures.c.account_id, sa.func.count().label("failures"))
        .where(auth_failures.c.at > since)
        .group_by(auth_failures.c.requester, auth_failures.c.account_id)
        .order_by(sa.func.count().desc())
    )

"""Counts the rate limits (app/fraud/limits.py) compare with their caps, and the dials they count."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.core import states
from app.data.db import Database
from app.data.tables import callback_requests, destination_dials


async def requests_from(db: Database, *, requester: str, since: dt.datetime) -> int:
    """Callback requests triggered by `requester` after `since`."""
    return await db.fetch_val(sa.select(sa.func.count()).where(
        callback_requests.c.caller_id == requester, callback_requests.c.created_at > since))


async def dials_to(db: Database, *, number: str, since: dt.datetime) -> int:
    """Second-party dials of `number` after `since`."""
    return await db.fetch_val(sa.select(sa.func.count()).where(
        destination_dials.c.number == number, destination_dials.c.at > since))


async def add_dial(db: Database, *, number: str, request_id: int | None, at: dt.datetime,
                   forget_before: dt.datetime) -> None:
    """Count a dial of `number`, deleting its dials at or before `forget_before` (never counted again)."""
    await db.execute(destination_dials.delete().where(destination_dials.c.number == number,
                                                      destination_dials.c.at <= forget_before))
    await db.execute(destination_dials.insert().values(number=number, request_id=request_id, at=at))


async def requests_in_states(db: Database, *, account_id: int, states, excluding: int | None = None,
                             scheduled_after: dt.datetime | None = None) -> int:
    """The account's requests in `states`, but for the request `excluding` and, with `scheduled_after`,
    those scheduled for a later time (still waiting for it)."""
    query = sa.select(sa.func.count()).where(
        callback_requests.c.account_id == account_id, callback_requests.c.state.in_(states))
    if excluding is not None:
        query = query.where(callback_requests.c.id != excluding)
    if scheduled_after is not None:
        query = query.where(sa.or_(callback_requests.c.scheduled_at.is_(None),
                                   callback_requests.c.scheduled_at <= scheduled_after))
    return await db.fetch_val(query)


async def scheduled_waiting(db: Database, *, account_id: int, now: dt.datetime) -> int:
    """The account's scheduled callbacks still queued for a later time."""
    return await db.fetch_val(sa.select(sa.func.count()).where(
        callback_requests.c.account_id == account_id, callback_requests.c.state == states.QUEUED,
        callback_requests.c.scheduled_at > now))

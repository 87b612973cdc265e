"""Queries for lost-callback repair (app/calls/lost_callbacks.py): legs whose end was never recorded,
and requests left live although their leg A's end was."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.core import states
from app.data.db import Database
from app.data.tables import call_legs, callback_requests

# Requests that may still have a call up: placed, or a session in progress.
_UNFINISHED = states.LIVE | {states.CALLING_A}


async def placed_legs_a_without_row(db: Database, *, quiet_before: dt.datetime, limit: int):
    """Requests whose leg A sid was recorded but not its leg row, quiet since `quiet_before`."""
    recorded = sa.select(call_legs.c.id).where(call_legs.c.provider_sid == callback_requests.c.leg_a_sid)
    return await db.fetch_all(
        sa.select(callback_requests.c.id, callback_requests.c.leg_a_sid, callback_requests.c.provider, callback_requests.c.leg_a_from,
                  callback_requests.c.leg_a_number)
        .where(callback_requests.c.state.in_(_UNFINISHED),
               callback_requests.c.leg_a_sid.is_not(None), callback_requests.c.updated_at < quiet_before,
               ~sa.exists(recorded))
        .limit(limit)
    )


async def quiet_requests_with_open_legs(db: Database, *, quiet_before: dt.datetime, checked_before: dt.datetime,
                                        limit: int) -> list[int]:
    """Requests with an open leg, no change since `quiet_before`, and not asked about since `checked_before`."""
    rows = await db.fetch_all(
        sa.select(call_legs.c.request_id, sa.func.min(callback_requests.c.updated_at).label("quiet_since"))
        .select_from(call_legs.join(callback_requests, callback_requests.c.id == call_legs.c.request_id))
        .where(call_legs.c.ended_at.is_(None), callback_requests.c.updated_at < quiet_before,
               sa.or_(call_legs.c.status_checked_at.is_(None), call_legs.c.status_checked_at < checked_before))
        .group_by(call_legs.c.request_id)
        .order_by("quiet_since")
        .limit(limit)
    )
    return [row["request_id"] for row in rows]


async def open_legs(db: Database, *, request_ids: list[int]):
    """The open legs of these requests; per request, second parties before leg A."""
    if not request_ids:
        return []
    return await db.fetch_all(
        call_legs.select().where(call_legs.c.request_id.in_(request_ids), call_legs.c.ended_at.is_(None))
        .order_by(call_legs.c.request_id, call_legs.c.leg.desc(), call_legs.c.id)
    )


async def claim_check(db: Database, leg, now: dt.datetime) -> bool:
    """Mark `leg` as looked at now, unless another instance just did."""
    seen = leg["status_checked_at"]
    unchanged = call_legs.c.status_checked_at.is_(None) if seen is None else call_legs.c.status_checked_at == seen
    claimed = await db.fetch_val(
        call_legs.update().where(call_legs.c.id == leg["id"], unchanged)
        .values(status_checked_at=now).returning(call_legs.c.id)
    )
    return claimed is not None


async def live_after_leg_a_ended(db: Database, *, quiet_before: dt.datetime, checked_before: dt.datetime,
                                 limit: int):
    """Leg A rows (with `live_request_id`, `request_state`) whose end is recorded while their request is live."""
    return await db.fetch_all(
        sa.select(call_legs, callback_requests.c.id.label("live_request_id"),
                  callback_requests.c.state.label("request_state"))
        .select_from(callback_requests.join(call_legs, call_legs.c.provider_sid == callback_requests.c.leg_a_sid))
        .where(callback_requests.c.state.in_(_UNFINISHED), call_legs.c.ended_at.is_not(None),
               callback_requests.c.updated_at < quiet_before,
               sa.or_(call_legs.c.status_checked_at.is_(None), call_legs.c.status_checked_at < checked_before))
        .limit(limit)
    )

"""Queries for the carrier's price of each leg (app/billing/provider_prices.py asks the carrier)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.data.db import Database
from app.data.tables import accounts, call_legs, callback_requests


async def store(db: Database, *, sid: str, micros: int, unit: str) -> bool:
    """Record an ended leg's price, unless it has one; True if this call stored it."""
    stored = await db.fetch_val(
        call_legs.update()
        .where(call_legs.c.provider_sid == sid, call_legs.c.provider_price.is_(None),
               call_legs.c.ended_at.is_not(None))
        .values(provider_price=micros, provider_price_unit=unit, price_check_at=None)
        .returning(call_legs.c.id)
    )
    return stored is not None


async def claim_check(db: Database, *, leg_id: int, seen_checks: int, checks: int,
                      next_at: dt.datetime | None) -> bool:
    """Count a price check of the leg and schedule the next (None: no more), if no one else did since
    it had `seen_checks`; True if this call took it."""
    claimed = await db.fetch_val(
        call_legs.update()
        .where(call_legs.c.id == leg_id, call_legs.c.price_checks == seen_checks,
               call_legs.c.price_check_at.is_not(None))
        .values(price_checks=checks, price_check_at=next_at)
        .returning(call_legs.c.id)
    )
    return claimed is not None


async def due_checks(db: Database, *, now: dt.datetime, limit: int):
    """Legs whose price check is due by `now`, the longest due first."""
    return await db.fetch_all(
        sa.select(call_legs.c.id, call_legs.c.request_id, call_legs.c.provider_sid, call_legs.c.provider, call_legs.c.price_checks)
        .where(call_legs.c.price_check_at <= now)
        .order_by(call_legs.c.price_check_at)
        .limit(limit)
    )


async def revenue(db: Database, *, sid: str):
    """What the operator was paid for a leg (cost, reseller_cost) and the account's currency, or None."""
    return await db.fetch_one(
        sa.select(call_legs.c.cost, call_legs.c.reseller_cost, accounts.c.currency)
        .select_from(call_legs.join(callback_requests, callback_requests.c.id == call_legs.c.request_id)
                     .join(accounts, accounts.c.id == callback_requests.c.account_id))
        .where(call_legs.c.provider_sid == sid))


async def set_operator_margin(db: Database, *, sid: str, margin: int) -> None:
    await db.execute(call_legs.update().where(call_legs.c.provider_sid == sid).values(operator_margin=margin))

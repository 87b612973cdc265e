"""Queries for prepaid holds: what a request holds (`callback_requests.reserved`) and what an account
holds in all (`accounts.reserved`). app/billing/reservations.py decides with them.

The updates are conditional, so that concurrent callbacks compete in the database:
each returns whether it took effect.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.core import states
from app.data.db import Database, Prepared
from app.data.tables import accounts, call_legs, callback_requests, resellers


_REQUEST = sa.bindparam("request_id", type_=sa.Integer)
_ACCOUNT = sa.bindparam("account_id", type_=sa.Integer)
_SEEN = sa.bindparam("seen", type_=sa.BigInteger)
_AMOUNT = sa.bindparam("amount", type_=sa.BigInteger)
# The moves of a hold, the IVR's every PIN entry and destination: prepared once (app/data/db.py).
_SWAP_REQUEST = Prepared(callback_requests.update()
                         .where(callback_requests.c.id == _REQUEST, callback_requests.c.reserved == _SEEN)
                         .values(reserved=_AMOUNT).returning(callback_requests.c.id))
# The account's row tells its reseller as it moves: no read of its own, and the reseller of the row now locked.
_MOVE_ACCOUNT = Prepared(accounts.update()
                         .where(accounts.c.id == _ACCOUNT, accounts.c.balance - (accounts.c.reserved - _SEEN) >= _AMOUNT)
                         .values(reserved=accounts.c.reserved - _SEEN + _AMOUNT)
                         .returning(accounts.c.id, accounts.c.reseller_id))
_MOVE_RESELLER = Prepared(
    resellers.update()
    .where(resellers.c.id == sa.bindparam("reseller_id", type_=sa.Integer),
           resellers.c.credit_limit - resellers.c.used - (resellers.c.reserved - _SEEN) >= _AMOUNT)
    .values(reserved=resellers.c.reserved - _SEEN + _AMOUNT).returning(resellers.c.id))
_HELD = Prepared(sa.select(callback_requests.c.reserved).where(callback_requests.c.id == _REQUEST))
_COST = sa.bindparam("cost", type_=sa.BigInteger)
_FREED = sa.bindparam("freed", type_=sa.BigInteger)
_CHARGE_ACCOUNT = Prepared(accounts.update().where(accounts.c.id == _ACCOUNT)
                           .values(balance=accounts.c.balance - _COST, reserved=accounts.c.reserved - _FREED)
                           .returning(accounts.c.reseller_id))
_CHARGE_RESELLER = Prepared(resellers.update().where(resellers.c.id == sa.bindparam("reseller_id", type_=sa.Integer))
                            .values(used=resellers.c.used + sa.bindparam("reseller_cost", type_=sa.BigInteger),
                                    reserved=resellers.c.reserved - _FREED))
_SPENDABLE = Prepared(sa.select((accounts.c.balance - accounts.c.reserved).label("own"),
                                (resellers.c.credit_limit - resellers.c.used - resellers.c.reserved).label("room"))
                      .select_from(accounts.outerjoin(resellers, resellers.c.id == accounts.c.reseller_id))
                      .where(accounts.c.id == _ACCOUNT))


async def held(db: Database, *, request_id: int) -> int:
    """What the request holds."""
    return await db.fetch_val(_HELD, {"request_id": request_id})


async def swap_request_hold(db: Database, *, request_id: int, seen: int, new: int) -> bool:
    """Make the request hold `new`, if it still holds `seen`."""
    moved = await db.fetch_val(_SWAP_REQUEST, {"request_id": request_id, "seen": seen, "amount": new})
    return moved is not None


async def move_holds(db: Database, *, account_id: int, seen: int, amount: int) -> bool:
    """Replace `seen` by `amount` in the account's holds if its balance covers them, then in its reseller's
    if its credit does (an operator's own account has none); False if either falls short (the caller rolls
    back).

    The account row is updated first and the reseller's second, in every transaction that touches both, so
    concurrent calls queue on the rows in one order and never deadlock; the reseller is the one the account's
    row names once it is locked.
    """
    row = await db.fetch_one(_MOVE_ACCOUNT, {"account_id": account_id, "seen": seen, "amount": amount})
    if row is None:
        return False
    if row["reseller_id"] is None:
        return True
    got = await db.fetch_val(_MOVE_RESELLER, {"reseller_id": row["reseller_id"], "seen": seen, "amount": amount})
    return got is not None


async def charge(db: Database, *, account_id: int, cost: int, freed: int, reseller_cost: int = 0) -> None:
    """Take `cost` from the balance and `freed` from the account's holds; its reseller's credit is charged
    `reseller_cost` and freed of the same hold."""
    reseller_id = await db.fetch_val(_CHARGE_ACCOUNT, {"account_id": account_id, "cost": cost, "freed": freed})
    if reseller_id is not None and (reseller_cost or freed):
        await db.execute(_CHARGE_RESELLER, {"reseller_id": reseller_id, "reseller_cost": reseller_cost,
                                            "freed": freed})


def _reseller_room():
    """What the account's reseller may still spend (NULL for an operator's own account)."""
    return (resellers.c.credit_limit - resellers.c.used - resellers.c.reserved).label("room")


def _with_reseller():
    return accounts.outerjoin(resellers, resellers.c.id == accounts.c.reseller_id)


async def spendable(db: Database, *, account_id: int) -> int:
    """The balance less its holds, and never more than the account's reseller has left of its credit."""
    row = await db.fetch_one(_SPENDABLE, {"account_id": account_id})
    if row is None:
        return None
    return row["own"] if row["room"] is None else min(row["own"], row["room"])


async def budget(db: Database, *, request_id: int, account_id: int) -> int:
    """The account's spendable balance and the request's own hold (held of the reseller's credit too)."""
    own_hold = sa.select(callback_requests.c.reserved).where(callback_requests.c.id == request_id).scalar_subquery()
    row = await db.fetch_one(
        sa.select((accounts.c.balance - accounts.c.reserved + own_hold).label("own"),
                  (_reseller_room() + own_hold).label("room"))
        .select_from(_with_reseller()).where(accounts.c.id == account_id)
    )
    if row is None:
        return None
    return row["own"] if row["room"] is None else min(row["own"], row["room"])


async def finished_holding(db: Database, *, limit: int):
    """(id, account_id) of ended requests that still hold money and have no leg still to bill."""
    open_legs = sa.select(call_legs.c.id).where(call_legs.c.request_id == callback_requests.c.id,
                                                call_legs.c.ended_at.is_(None))
    return await db.fetch_all(
        sa.select(callback_requests.c.id, callback_requests.c.account_id)
        .where(callback_requests.c.state.in_(states.TERMINAL), callback_requests.c.reserved > 0,
               callback_requests.c.account_id.is_not(None), ~sa.exists(open_legs))
        .limit(limit)
    )

"""Holding and spending a prepaid balance.

Before leg B is dialled, what the call may cost at most is *reserved*: added
to `accounts.reserved` with a conditional update that only succeeds while
`balance - reserved` covers it. Concurrent callbacks of one account compete
in the database, not in the app, so fifty of them cannot hold more than the
balance. Each request remembers what it holds (`callback_requests.reserved`);
a leg's cost is then taken from the balance and from the hold together, and
what is left of the hold is released when the session ends.

An account sold by a reseller holds the same amount of the reseller's credit
(`resellers.reserved`, conditional on `credit_limit - used` covering it) in the
same transaction, and each leg charges the reseller what it costs at the
operator's tariff for the reseller: its accounts together cannot spend past
its credit limit, however many call at once.

Updates of a request's hold are optimistic (`WHERE reserved = :seen`) and
retried: the status callbacks of legs A and B may settle at the same moment.
"""

from __future__ import annotations

from app.data import holds
from app.data.db import Database

ATTEMPTS = 5


class _Lost(Exception):
    """Someone changed the request's hold between our read and our write."""


async def _held(db: Database, request_id: int) -> int:
    return await holds.held(db, request_id=request_id)


async def _swap_hold(db: Database, request_id: int, seen: int, new: int) -> None:
    if not await holds.swap_request_hold(db, request_id=request_id, seen=seen, new=new):
        raise _Lost


async def reserve(db: Database, *, request_id: int, account_id: int, amount: int, held: int | None = None) -> bool:
    """Make this request hold exactly `amount`; False if the spendable balance does not cover it.

    `held` is what the request held when the caller read it: if it still does, that
    saves a read, and if not, the swap misses and the hold is read again.
    """
    for attempt in range(ATTEMPTS):
        seen = held if attempt == 0 and held is not None else await _held(db, request_id)
        try:
            async with db.transaction():
                await _swap_hold(db, request_id, seen, amount)
                # The account's hold, and its reseller's credit held alike, in the same transaction;
                # either falling short rolls the request's side back too.
                if not await holds.move_holds(db, account_id=account_id, seen=seen, amount=amount):
                    raise _Lost
            return True
        except _Lost:
            if await _held(db, request_id) == seen:
                return False  # the hold was ours to change: the balance is what fell short
    return False


async def reserve_within(db: Database, *, request_id: int, account_id: int, seen: int, amount: int) -> bool:
    """`reserve` inside the caller's transaction, once and without a savepoint of its own: the request's
    hold from `seen` to `amount`, then the account's (and its reseller's) alike. False if the request no
    longer holds `seen` or the balance (or credit) falls short: the caller then rolls back, as one side
    may have moved. The request's row first, then the account's, as every transaction takes them."""
    if not await holds.swap_request_hold(db, request_id=request_id, seen=seen, new=amount):
        return False
    return await move_within(db, account_id=account_id, seen=seen, amount=amount)


async def move_within(db: Database, *, account_id: int, seen: int, amount: int) -> bool:
    """The account's side of a request's hold going from `seen` to `amount` (its reseller's too), inside
    the caller's transaction, which has written the request's side itself, conditional on `seen`. False if
    the balance or the credit falls short: the caller then rolls back (the account's side may have moved)."""
    return await holds.move_holds(db, account_id=account_id, seen=seen, amount=amount)


async def spend(db: Database, *, request_id: int | None, account_id: int, cost: int, release_all: bool = False,
                reseller_cost: int = 0, held: int | None = None, within: bool = False) -> None:
    """Charge `cost` to the balance, out of this request's hold; optionally release the rest of it.
    The account's reseller, if any, is charged `reseller_cost` (the buying price) out of the same hold.

    `held`: what the request held when the caller read it; if it still does, that saves a read (a hold
    changed meanwhile makes the swap miss, and the hold is read again). `within`: the caller's transaction
    holds the whole charge, so it takes no savepoint of its own: the swap is its first write, and one that
    misses has written nothing to roll back before trying again.
    """
    for attempt in range(ATTEMPTS):
        # A guess of nothing held is not trusted: with nothing to free there would be no swap to check it.
        guessed = attempt == 0 and bool(held)
        seen = held if guessed else (await _held(db, request_id) if request_id is not None else 0)
        freed = seen if release_all else min(cost, seen)
        if not (cost or freed or reseller_cost):
            return  # nothing to charge and nothing held
        try:
            if within:
                await _charge(db, request_id, seen, freed, account_id, cost, reseller_cost)
            else:
                async with db.transaction():
                    await _charge(db, request_id, seen, freed, account_id, cost, reseller_cost)
            return
        except _Lost:
            continue
    raise RuntimeError(f"could not settle request {request_id}: its hold kept changing")


async def _charge(db: Database, request_id: int | None, seen: int, freed: int, account_id: int, cost: int,
                  reseller_cost: int) -> None:
    if request_id is not None and freed:
        await _swap_hold(db, request_id, seen, seen - freed)
    await holds.charge(db, account_id=account_id, cost=cost, freed=freed, reseller_cost=reseller_cost)


async def release(db: Database, *, request_id: int, account_id: int) -> None:
    await spend(db, request_id=request_id, account_id=account_id, cost=0, release_all=True)


async def spendable(db: Database, *, account_id: int) -> int:
    return await holds.spendable(db, account_id=account_id)


async def budget(db: Database, *, request_id: int, account_id: int) -> int:
    """What this request could spend at most: the account's spendable balance and its own hold."""
    return await holds.budget(db, request_id=request_id, account_id=account_id)


async def release_finished(db: Database, *, limit: int = 50) -> int:
    """Release the holds of requests that ended without a leg still to bill (expired, refused, failed to dial)."""
    rows = await holds.finished_holding(db, limit=limit)
    for row in rows:
        await release(db, request_id=row["id"], account_id=row["account_id"])
    return len(rows)

"""Reservations on the real backends: conditional updates, never read-then-write."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from app.data import accounts as accounts_q, callbacks
from app.billing import reservations
from app.core import states
from app.data.db import make_database
from app.data.tables import accounts, callback_requests


@pytest.fixture
async def db(settings):
    database = make_database(settings)
    await database.connect()
    yield database
    await database.disconnect()


async def new_account(db, balance: int) -> int:
    return await accounts_q.create_account(db, secret_key="k", login=f"u{balance}", password="password-1",
                                           pin=None, balance=balance)


async def new_request(db, account_id: int, n: int) -> int:
    request_id, _ = await callbacks.create_request(db, trigger_kind="api", trigger_id=f"t{n}", account_id=account_id,
                                                   state=states.QUEUED, leg_a_number="+14155550100")
    return request_id


async def row(db, table, id_):
    return await db.fetch_one(table.select().where(table.c.id == id_))


async def test_reserve_spend_release(db):
    account = await new_account(db, 1000)
    request = await new_request(db, account, 1)
    assert await reservations.reserve(db, request_id=request, account_id=account, amount=600)
    assert await reservations.spendable(db, account_id=account) == 400
    assert not await reservations.reserve(db, request_id=await new_request(db, account, 2), account_id=account,
                                          amount=500)
    # Re-reserving replaces this request's hold rather than adding to it.
    assert await reservations.reserve(db, request_id=request, account_id=account, amount=900)
    assert (await row(db, accounts, account))["reserved"] == 900
    await reservations.spend(db, request_id=request, account_id=account, cost=250)
    assert ((await row(db, accounts, account))["balance"], (await row(db, accounts, account))["reserved"]) == (750, 650)
    assert (await row(db, callback_requests, request))["reserved"] == 650
    await reservations.release(db, request_id=request, account_id=account)
    assert ((await row(db, accounts, account))["balance"], (await row(db, accounts, account))["reserved"]) == (750, 0)
    assert (await row(db, callback_requests, request))["reserved"] == 0


async def test_finished_requests_give_their_holds_back(db):
    account = await new_account(db, 1000)
    request = await new_request(db, account, 1)
    await reservations.reserve(db, request_id=request, account_id=account, amount=300)
    await db.execute(callback_requests.update().where(callback_requests.c.id == request)
                     .values(state=states.FAILED, reason=states.EXPIRED))
    assert await reservations.release_finished(db) == 1
    assert await reservations.spendable(db, account_id=account) == 1000


async def test_fifty_concurrent_reservations_never_exceed_the_balance(settings, db):
    if settings.is_sqlite:
        pytest.skip("concurrent writers are a PostgreSQL matter; SQLite serialises them")
    account = await new_account(db, 1000)
    requests = [await new_request(db, account, n) for n in range(50)]
    results = await asyncio.gather(*(reservations.reserve(db, request_id=r, account_id=account, amount=70)
                                     for r in requests))
    assert sum(results) == 1000 // 70
    state = await row(db, accounts, account)
    assert state["reserved"] == 70 * sum(results) <= state["balance"] == 1000
    held = await db.fetch_val(sa.select(sa.func.sum(callback_requests.c.reserved)))
    assert held == state["reserved"]
    await asyncio.gather(*(reservations.spend(db, request_id=r, account_id=account, cost=70, release_all=True)
                           for r, ok in zip(requests, results) if ok))
    state = await row(db, accounts, account)
    assert (state["balance"], state["reserved"]) == (1000 - 70 * sum(results), 0)
    assert state["balance"] >= 0

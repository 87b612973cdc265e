"""Queries for resellers: their rows, sign-in, their accounts, and what they owe (app/billing/reservations.py
holds and charges their credit through app/data/holds.py)."""

from __future__ import annotations

import sqlalchemy as sa

from app.core import security
from app.data.db import Database, utcnow
from app.data.tables import accounts, call_legs, callback_requests, rates, resellers


class ResellerError(ValueError):
    """A refusal the caller can show as is."""


async def create_reseller(db: Database, *, login: str, password: str, tariff: str, currency: str,
                          credit_limit: int, sell_tariff: str | None = None) -> int:
    if await get_reseller_by_login(db, login=login):
        raise ResellerError(f"reseller {login!r} already exists")
    if sell_tariff is not None:
        await _check_sell_tariff(db, sell_tariff, tariff)
    password_hash = await security.hash_password_async(password)
    return await db.execute(resellers.insert().values(login=login, password_hash=password_hash, tariff=tariff,
                                                      sell_tariff=sell_tariff, currency=currency,
                                                      credit_limit=credit_limit, created_at=utcnow()))


async def _check_sell_tariff(db: Database, sell_tariff: str, buy_tariff: str) -> None:
    """A selling tariff is the reseller's alone: not its buying tariff, another reseller's, nor one in use."""
    if sell_tariff == buy_tariff or await db.fetch_val(
            sa.select(resellers.c.id).where(sa.or_(resellers.c.sell_tariff == sell_tariff,
                                                   resellers.c.tariff == sell_tariff))):
        raise ResellerError(f"tariff {sell_tariff!r} is already another's: a reseller sells at a tariff of its own")
    if await db.fetch_val(sa.select(rates.c.id).where(rates.c.tariff == sell_tariff).limit(1)) or await db.fetch_val(
            sa.select(accounts.c.id).where(sa.or_(accounts.c.tariff == sell_tariff,
                                                  accounts.c.callback_tariff == sell_tariff)).limit(1)):
        raise ResellerError(f"tariff {sell_tariff!r} is in use: give the reseller a new one, which it fills itself")


async def sell_rates(db: Database, *, reseller) -> list[dict]:
    """The reseller's selling rates, each with the buying rate of its longest prefix (None if it has none)."""
    own = await db.fetch_all(rates.select().where(rates.c.tariff == reseller["sell_tariff"]).order_by(rates.c.prefix))
    return [dict(row, buying=await buying_price(db, tariff=reseller["tariff"], prefix=row["prefix"])) for row in own]


async def buying_price(db: Database, *, tariff: str, prefix: str) -> int | None:
    """The price per minute (micro-units) of the longest prefix of `prefix` in the buying tariff."""
    heads = [prefix[:n] for n in range(1, len(prefix) + 1)]
    return await db.fetch_val(sa.select(rates.c.price_per_minute)
                              .where(rates.c.tariff == tariff, rates.c.prefix.in_(heads))
                              .order_by(sa.func.length(rates.c.prefix).desc()).limit(1))


async def get_reseller(db: Database, *, reseller_id: int):
    return await db.fetch_one(resellers.select().where(resellers.c.id == reseller_id))


async def get_reseller_by_login(db: Database, *, login: str):
    return await db.fetch_one(resellers.select().where(resellers.c.login == login))


async def update_reseller(db: Database, *, reseller_id: int, **values) -> None:
    await db.execute(resellers.update().where(resellers.c.id == reseller_id).values(**values))


async def authenticate(db: Database, *, login: str, password: str):
    """The reseller row when the password is right; None otherwise, in the same time either way."""
    reseller = await get_reseller_by_login(db, login=login[:64])
    if not await security.verify_password_async(reseller["password_hash"] if reseller else None, password):
        return None
    return reseller


async def attach(db: Database, *, reseller_id: int | None, account_id: int, tariff: str | None = None) -> None:
    """Make the account the reseller's (None: the operator's own again); `tariff` prices both its legs."""
    values = {"reseller_id": reseller_id}
    if tariff is not None:
        values.update(tariff=tariff, callback_tariff=tariff)
    await db.execute(accounts.update().where(accounts.c.id == account_id).values(**values))


async def list_accounts(db: Database, *, reseller_id: int):
    return await db.fetch_all(accounts.select().where(accounts.c.reseller_id == reseller_id).order_by(accounts.c.login))


async def own_account(db: Database, *, reseller_id: int, account_id: int):
    """The account if it is this reseller's, else None: every reseller page looks accounts up here."""
    return await db.fetch_one(accounts.select().where(accounts.c.id == account_id,
                                                      accounts.c.reseller_id == reseller_id))


async def account_cdrs(db: Database, *, reseller_id: int, account_id: int, limit: int = 100):
    """The account's ended legs with their margins, newest first (none if it is not the reseller's)."""
    return await db.fetch_all(
        sa.select(call_legs.c.id, call_legs.c.leg, call_legs.c.to_number, call_legs.c.status, call_legs.c.ended_at,
                  call_legs.c.billed_seconds, call_legs.c.cost, call_legs.c.reseller_cost, call_legs.c.reseller_margin)
        .select_from(call_legs.join(callback_requests, callback_requests.c.id == call_legs.c.request_id)
                     .join(accounts, accounts.c.id == callback_requests.c.account_id))
        .where(accounts.c.id == account_id, accounts.c.reseller_id == reseller_id, call_legs.c.ended_at.is_not(None))
        .order_by(call_legs.c.ended_at.desc(), call_legs.c.id.desc()).limit(limit))


async def overview(db: Database):
    """Every reseller with its credit and how many accounts it sells to, by login."""
    count = (sa.select(sa.func.count()).select_from(accounts).where(accounts.c.reseller_id == resellers.c.id)
             .scalar_subquery())
    return await db.fetch_all(
        sa.select(resellers.c.id, resellers.c.login, resellers.c.tariff, resellers.c.currency, resellers.c.credit_limit,
                  resellers.c.used, resellers.c.reserved, count.label("accounts"))
        .order_by(resellers.c.login))

"""Queries for caller-ID verification: pending codes (ani_verifications), the texts sent
(verification_texts), and what app/fraud/verifications.py reads and writes of anis and balances."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.data.db import Database, utcnow
from app.data.tables import accounts, ani_verifications, anis, balance_adjustments, verification_texts


async def pending(db: Database, *, account_id: int, now: dt.datetime, max_attempts: int):
    """The account's codes still valid at `now` with tries left, oldest first."""
    return await db.fetch_all(
        ani_verifications.select()
        .where(ani_verifications.c.account_id == account_id, ani_verifications.c.expires_at > now,
               ani_verifications.c.attempts < max_attempts)
        .order_by(ani_verifications.c.id)
    )


async def pending_for_number(db: Database, *, number: str, now: dt.datetime, max_attempts: int):
    """Every account's codes for `number` still valid at `now` with tries left, oldest first."""
    return await db.fetch_all(ani_verifications.select().where(
        ani_verifications.c.number == number, ani_verifications.c.expires_at > now,
        ani_verifications.c.attempts < max_attempts).order_by(ani_verifications.c.id))


async def find(db: Database, *, account_id: int, number: str):
    """The account's code row for `number` (expired or not), or None."""
    return await db.fetch_one(ani_verifications.select().where(
        ani_verifications.c.account_id == account_id, ani_verifications.c.number == number))


async def delete_expired(db: Database, *, now: dt.datetime) -> None:
    await db.execute(ani_verifications.delete().where(ani_verifications.c.expires_at <= now))


async def add(db: Database, *, account_id: int, number: str, now: dt.datetime, **values) -> None:
    """A first code for `number`: one send so far."""
    await db.execute(ani_verifications.insert().values(account_id=account_id, number=number, created_at=now,
                                                       sends=1, **values))


async def resend(db: Database, *, verification_id: int, **values) -> None:
    """A new code in place of the row's, one send more."""
    await db.execute(ani_verifications.update().where(ani_verifications.c.id == verification_id)
                     .values(sends=ani_verifications.c.sends + 1, **values))


async def count_try(db: Database, *, verification_id: int, max_attempts: int) -> int | None:
    """Count one try at the code, unless it has none left; the tries so far, or None."""
    return await db.fetch_val(
        ani_verifications.update()
        .where(ani_verifications.c.id == verification_id, ani_verifications.c.attempts < max_attempts)
        .values(attempts=ani_verifications.c.attempts + 1)
        .returning(ani_verifications.c.attempts)
    )


async def delete(db: Database, *, verification_id: int) -> None:
    await db.execute(ani_verifications.delete().where(ani_verifications.c.id == verification_id))


async def delete_for(db: Database, *, account_id: int, number: str) -> None:
    await db.execute(ani_verifications.delete().where(ani_verifications.c.account_id == account_id,
                                                      ani_verifications.c.number == number))


# Texts sent: kept when the code goes, counted against the daily caps.

async def texts_since(db: Database, *, since: dt.datetime, account_id: int | None = None,
                      number: str | None = None) -> int:
    """Codes texted after `since` by the account, or to the number."""
    query = sa.select(sa.func.count()).select_from(verification_texts).where(verification_texts.c.sent_at > since)
    if account_id is not None:
        query = query.where(verification_texts.c.account_id == account_id)
    if number is not None:
        query = query.where(verification_texts.c.number == number)
    return await db.fetch_val(query)


async def add_text(db: Database, *, account_id: int, number: str, channel: str, sent_at: dt.datetime) -> int:
    return await db.execute(verification_texts.insert().values(account_id=account_id, number=number,
                                                               channel=channel, sent_at=sent_at))


async def delete_text(db: Database, *, text_id: int) -> None:
    await db.execute(verification_texts.delete().where(verification_texts.c.id == text_id))


# Paying for a text.

async def charge(db: Database, *, account_id: int, price: int, note: str) -> int | None:
    """Take `price` from the balance if the spendable balance is at least max(price, 1), with an
    adjustment row saying why (for a price above 0); the new balance, or None when refused."""
    balance = await db.fetch_val(
        accounts.update()
        .where(accounts.c.id == account_id, accounts.c.balance - accounts.c.reserved >= max(price, 1))
        .values(balance=accounts.c.balance - price)
        .returning(accounts.c.balance)
    )
    if balance is not None and price:
        await db.execute(balance_adjustments.insert().values(account_id=account_id, amount=-price,
                                                             balance_after=balance, actor="verification",
                                                             note=note[:255], created_at=utcnow()))
    return balance


# Caller IDs (anis) as verification sees them.

async def ani_owner(db: Database, *, number: str):
    """(account_id, verified) of the caller ID `number`, or None."""
    return await db.fetch_one(sa.select(anis.c.account_id, anis.c.verified).where(anis.c.number == number))


async def drop_others_unverified(db: Database, *, number: str, account_id: int) -> None:
    """Delete other accounts' unverified claims of `number`."""
    await db.execute(anis.delete().where(anis.c.number == number, anis.c.verified == sa.false(),
                                         anis.c.account_id != account_id))


async def mark_verified(db: Database, *, number: str, account_id: int) -> int | None:
    """Mark the account's caller ID `number` verified; its id, or None when the account has no such ANI."""
    return await db.fetch_val(anis.update().where(anis.c.number == number, anis.c.account_id == account_id)
                              .values(verified=True).returning(anis.c.id))

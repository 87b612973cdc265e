"""Queries for voucher batches and their codes, and the one statement that redeems a code.

Codes are stored only as keyed digests (app/core/voucher_codes.py): a typed code
is found by an indexed exact lookup of its digest.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.core import voucher_codes
from app.data import accounts as account_queries
from app.data.db import Database, utcnow
from app.data.tables import accounts, voucher_batches, vouchers

MAX_BATCH = 100_000
_CHUNK = 500


async def create_batch(db: Database, *, secret_key: str, count: int, value: int, currency: str, prefix: str = "",
                       expires_at: dt.datetime | None = None, created_by: str = "cli") -> tuple[int, list[str]]:
    """A new batch of `count` distinct codes: (batch id, the codes), the codes to be shown once and never again."""
    codes: set[str] = set()
    for _ in range(100):
        if len(codes) == count:
            break
        fresh = {voucher_codes.new_code(prefix) for _ in range(count - len(codes))} - codes
        # A code already in an earlier batch (possible with a long prefix) is drawn again, before anything is written.
        listed = list(fresh)
        for start in range(0, len(listed), _CHUNK):
            digests = {voucher_codes.digest(secret_key, code): code for code in listed[start:start + _CHUNK]}
            taken = await db.fetch_all(sa.select(vouchers.c.code_hash).where(vouchers.c.code_hash.in_(list(digests))))
            fresh -= {digests[row[0]] for row in taken}
        codes |= fresh
    if len(codes) < count:
        raise ValueError("no free codes left under that prefix")
    drawn = sorted(codes)
    async with db.transaction():
        batch_id = await db.execute(voucher_batches.insert().values(
            count=count, value=value, currency=currency, prefix=prefix, expires_at=expires_at,
            created_by=created_by[:80], created_at=utcnow()))
        for start in range(0, len(drawn), _CHUNK):
            await db.execute_many(vouchers.insert(), [
                {"batch_id": batch_id, "code_hash": voucher_codes.digest(secret_key, code)}
                for code in drawn[start:start + _CHUNK]])
    return batch_id, drawn


async def redeem(db: Database, *, secret_key: str, code: str, account_id: int, currency: str,
                 channel: str) -> tuple[int, int] | None:
    """Credit the account with the code's value: (value, new balance), or None for any code that cannot be.

    One conditional UPDATE takes the code (unredeemed, its batch enabled, unexpired and
    of the account's currency), in the same transaction as the credit and its history row:
    of two redemptions at once, the second finds it taken and credits nothing.
    """
    now = utcnow()
    usable = sa.select(voucher_batches.c.id).where(
        voucher_batches.c.disabled_at.is_(None), voucher_batches.c.currency == currency,
        sa.or_(voucher_batches.c.expires_at.is_(None), voucher_batches.c.expires_at > now))
    async with db.transaction():
        batch_id = await db.fetch_val(
            vouchers.update()
            .where(vouchers.c.code_hash == voucher_codes.digest(secret_key, code), vouchers.c.redeemed_at.is_(None),
                   vouchers.c.batch_id.in_(usable))
            .values(redeemed_at=now, account_id=account_id, channel=channel)
            .returning(vouchers.c.batch_id))
        if batch_id is None:
            return None
        value = await db.fetch_val(sa.select(voucher_batches.c.value).where(voucher_batches.c.id == batch_id))
        balance = await account_queries.top_up(db, account_id=account_id, amount=value, actor="voucher",
                                               note=f"voucher of batch #{batch_id} ({channel})")
    return value, balance


async def list_batches(db: Database, *, limit: int = 200):
    redeemed = (sa.select(sa.func.count()).where(vouchers.c.batch_id == voucher_batches.c.id,
                                                vouchers.c.redeemed_at.is_not(None))
                .scalar_subquery().label("redeemed"))
    return await db.fetch_all(sa.select(voucher_batches, redeemed).order_by(voucher_batches.c.id.desc()).limit(limit))


async def get_batch(db: Database, *, batch_id: int):
    return await db.fetch_one(voucher_batches.select().where(voucher_batches.c.id == batch_id))


async def disable_batch(db: Database, *, batch_id: int) -> bool:
    """Disable an enabled batch: its unredeemed codes are refused from now on. False if none was."""
    done = await db.fetch_val(voucher_batches.update()
                              .where(voucher_batches.c.id == batch_id, voucher_batches.c.disabled_at.is_(None))
                              .values(disabled_at=utcnow()).returning(voucher_batches.c.id))
    return done is not None


async def find_code(db: Database, *, secret_key: str, code: str):
    """The voucher a typed code is, with its batch and who redeemed it, or None (the operator's lookup)."""
    query = (
        sa.select(vouchers.c.id, vouchers.c.batch_id, vouchers.c.redeemed_at, vouchers.c.channel,
                  accounts.c.login.label("redeemed_by"), voucher_batches.c.value, voucher_batches.c.currency,
                  voucher_batches.c.expires_at, voucher_batches.c.disabled_at)
        .select_from(vouchers.join(voucher_batches, voucher_batches.c.id == vouchers.c.batch_id)
                     .outerjoin(accounts, accounts.c.id == vouchers.c.account_id))
        .where(vouchers.c.code_hash == voucher_codes.digest(secret_key, code))
    )
    return await db.fetch_one(query)

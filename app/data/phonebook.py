"""Queries for subscribers' phonebooks: named numbers, some with a speed-dial code.

Every query takes the account id and filters by it: one account never reads or
changes another's entries (an id of someone else's entry reads as not found).
"""

from __future__ import annotations

import sqlalchemy as sa

from app.core import states
from app.data.db import Database, utcnow
from app.data.tables import callback_requests, phonebook_entries as entries

MAX_ID = 2**31 - 1


class CodeTaken(ValueError):
    """The account has an entry with that speed-dial code already."""


async def list_entries(db: Database, *, account_id: int):
    """By name, then id: the order people look for them in."""
    return await db.fetch_all(entries.select().where(entries.c.account_id == account_id)
                              .order_by(entries.c.name, entries.c.id))


async def count_entries(db: Database, *, account_id: int) -> int:
    return await db.fetch_val(sa.select(sa.func.count()).where(entries.c.account_id == account_id))


async def get_entry(db: Database, *, account_id: int, entry_id: int):
    if not 0 < entry_id <= MAX_ID:
        return None
    return await db.fetch_one(entries.select().where(entries.c.id == entry_id, entries.c.account_id == account_id))


async def by_code(db: Database, *, account_id: int, code: str):
    return await db.fetch_one(entries.select().where(entries.c.account_id == account_id, entries.c.code == code))


async def _code_taken(db: Database, *, account_id: int, code: str | None, other_than: int | None) -> bool:
    if code is None:
        return False
    query = sa.select(entries.c.id).where(entries.c.account_id == account_id, entries.c.code == code)
    if other_than is not None:
        query = query.where(entries.c.id != other_than)
    return await db.fetch_val(query.limit(1)) is not None


async def add_entry(db: Database, *, account_id: int, name: str, number: str, code: str | None,
                    most: int) -> int | None:
    """Add an entry (values checked by app/calls/phonebook.py); None if the account has `most` already.

    Counted and inserted under the account's lock, so parallel adds cannot pass the cap together;
    CodeTaken if the code is another entry's (the unique constraint backs this up)."""
    async with db.transaction():
        await db.lock(f"phonebook:{account_id}")
        if await count_entries(db, account_id=account_id) >= most:
            return None
        if await _code_taken(db, account_id=account_id, code=code, other_than=None):
            raise CodeTaken(code)
        now = utcnow()
        return await db.fetch_val(entries.insert().values(
            account_id=account_id, name=name, number=number, code=code, created_at=now, updated_at=now,
        ).returning(entries.c.id))


async def update_entry(db: Database, *, account_id: int, entry_id: int, name: str, number: str,
                       code: str | None) -> bool:
    """Replace an entry's values; False if the account has no such entry. CodeTaken as for `add_entry`."""
    async with db.transaction():
        await db.lock(f"phonebook:{account_id}")
        if await _code_taken(db, account_id=account_id, code=code, other_than=entry_id):
            raise CodeTaken(code)
        changed = await db.fetch_val(entries.update()
                                     .where(entries.c.id == entry_id, entries.c.account_id == account_id)
                                     .values(name=name, number=number, code=code, updated_at=utcnow())
                                     .returning(entries.c.id))
    return changed is not None


async def delete_entry(db: Database, *, account_id: int, entry_id: int) -> bool:
    if not 0 < entry_id <= MAX_ID:
        return False
    gone = await db.fetch_val(entries.delete().where(entries.c.id == entry_id, entries.c.account_id == account_id)
                              .returning(entries.c.id))
    return gone is not None


async def last_destination(db: Database, *, account_id: int) -> str | None:
    """The second party of the account's latest callback that got as far as asking for one:
    the number to redial. Callbacks still waiting in the queue (a scheduled one) do not count."""
    requests = callback_requests
    return await db.fetch_val(
        sa.select(requests.c.leg_b_number)
        .where(requests.c.account_id == account_id, requests.c.leg_b_number.is_not(None),
               requests.c.state != states.QUEUED)
        .order_by(requests.c.id.desc()).limit(1))
